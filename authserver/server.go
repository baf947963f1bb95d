package authserver

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpfort/mcpfort/authserver/cimd"
	"github.com/mcpfort/mcpfort/authserver/keys"
	"github.com/mcpfort/mcpfort/internal/seal"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/oauth/dpop"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/web"
)

// Server is the authorization server. It is an http.Handler and is safe
// for concurrent use. Several Servers may share one Store.
type Server struct {
	opts   Options
	issuer string
	base   string // issuer path without trailing slash, "" for a host-only issuer
	origin string // scheme://host[:port] of the issuer
	secure bool   // issuer is https: __Host- cookies with Secure
	store  storage.Store
	keys   *keys.Manager
	cimd   *cimd.Fetcher
	pages  *web.Pages
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
	// kek holds the keys derived from the key-encryption keyring;
	// SetKeyEncryptionKeys replaces it while the server runs.
	kek      atomic.Pointer[derivedKeys]
	metadata []byte

	resources       []*resource
	defaultResource *resource
	static          map[string]*client

	loginIP, loginUser RateLimiter
	regLimiter         ipLimit
	memLimiters        []*memLimiter // the in-memory ones, swept by Sweep
	hashSlots          chan struct{} // a token per password check running
	// verifyPassword is VerifyPassword; tests wrap it to count checks.
	verifyPassword func(hash, password string) (bool, error)

	upstream *federation
	trusted  *trustedIssuers
	idps     *trustedIssuers // ID-JAG issuers (IdentityProviders)

	endpoints endpoints

	dpopReplay dpop.ReplayCache

	sweepMu sync.Mutex
}

type endpoints struct {
	authorize, token, jwks, register, revoke, introspect string
	userinfo                                             string
	login, consent, logout, consents, consentsRevoke     string
	federationStart, federationCallback, static          string
}

// New validates opts, loads or creates the signing keys and returns the
// Server. It does not start background work: call Run (or Sweep
// periodically) to expire records and rotate keys.
func New(ctx context.Context, opts Options) (*Server, error) {
	var problems []error
	u, err := validateIssuer(opts.Issuer)
	if err != nil {
		problems = append(problems, err)
	}
	if opts.Store == nil {
		problems = append(problems, errors.New("option Store is required"))
	}
	if len(opts.KeyEncryptionKey) != keys.KEKSize {
		problems = append(problems, fmt.Errorf("KeyEncryptionKey must be %d bytes", keys.KEKSize))
	}
	if opts.AccessTokenLifetime == 0 {
		opts.AccessTokenLifetime = 10 * time.Minute
	}
	if opts.RefreshTokenLifetime == 0 {
		opts.RefreshTokenLifetime = 30 * 24 * time.Hour
	}
	if opts.CodeLifetime == 0 {
		opts.CodeLifetime = time.Minute
	}
	if opts.SessionLifetime == 0 {
		opts.SessionLifetime = 12 * time.Hour
	}
	if opts.RequestLifetime == 0 {
		opts.RequestLifetime = 15 * time.Minute
	}
	if opts.LoginRateLimit == 0 {
		opts.LoginRateLimit = 10
	}
	if opts.LoginAccountRateLimit == 0 {
		opts.LoginAccountRateLimit = 10
	}
	if opts.MaxConcurrentPasswordHashes == 0 {
		opts.MaxConcurrentPasswordHashes = max(2*runtime.GOMAXPROCS(0), 4)
	}
	if opts.Registration.RateLimit == 0 {
		opts.Registration.RateLimit = 20
	}
	if opts.Registration.UnusedTTL == 0 {
		opts.Registration.UnusedTTL = 24 * time.Hour
	}
	if opts.Registration.IdleTTL == 0 {
		opts.Registration.IdleTTL = 90 * 24 * time.Hour
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = 10 * time.Minute
	}
	if opts.ServiceName == "" {
		opts.ServiceName = "mcpfort"
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"AccessTokenLifetime", opts.AccessTokenLifetime}, {"RefreshTokenLifetime", opts.RefreshTokenLifetime},
		{"CodeLifetime", opts.CodeLifetime}, {"SessionLifetime", opts.SessionLifetime}, {"RequestLifetime", opts.RequestLifetime}} {
		if d.v < 0 {
			problems = append(problems, fmt.Errorf("%s must not be negative", d.name))
		}
	}
	if opts.LoginRateLimit < 0 || opts.LoginAccountRateLimit < 0 || opts.Registration.RateLimit < 0 || opts.MaxConcurrentPasswordHashes < 0 {
		problems = append(problems, errors.New("rate limits and MaxConcurrentPasswordHashes must not be negative"))
	}
	if opts.CodeLifetime > 10*time.Minute {
		problems = append(problems, errors.New("CodeLifetime must be at most 10 minutes (OAuth 2.1 section 4.1.2)"))
	}
	s := &Server{opts: opts, store: opts.Store, log: opts.Logger, now: opts.Now}
	if u != nil {
		s.issuer = opts.Issuer
		s.base = strings.TrimSuffix(u.EscapedPath(), "/")
		s.origin = u.Scheme + "://" + u.Host
		s.secure = u.Scheme == "https"
	}
	if err := s.initResources(); err != nil {
		problems = append(problems, err)
	}
	if err := s.initStaticClients(); err != nil {
		problems = append(problems, err)
	}
	if opts.DisableLocalLogin && opts.Upstream == nil {
		problems = append(problems, errors.New("DisableLocalLogin requires Upstream: nobody could sign in"))
	}
	if opts.Upstream != nil && (opts.Upstream.Issuer == "" || opts.Upstream.ClientID == "") {
		problems = append(problems, errors.New("Upstream requires Issuer and ClientID"))
	}
	for i, ti := range opts.TokenExchange.TrustedIssuers {
		if ti.Issuer == "" || ti.JWKSURI == "" || ti.Audience == "" {
			problems = append(problems, fmt.Errorf("TokenExchange.TrustedIssuers[%d]: Issuer, JWKSURI and Audience are required", i))
		}
		if ti.Issuer == opts.Issuer {
			problems = append(problems, fmt.Errorf("TokenExchange.TrustedIssuers[%d]: this server's own issuer is always trusted", i))
		}
	}
	for i, p := range opts.IdentityProviders {
		if p.Issuer == "" || p.JWKSURI == "" {
			problems = append(problems, fmt.Errorf("IdentityProviders[%d]: Issuer and JWKSURI are required", i))
		}
		if p.Issuer == opts.Issuer {
			// draft-ietf-oauth-identity-assertion-authz-grant: an IdP
			// must not issue access tokens for its own ID-JAGs.
			problems = append(problems, fmt.Errorf("IdentityProviders[%d]: this server cannot trust its own assertions", i))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("authserver: invalid options: %w", errors.Join(problems...))
	}

	if s.dpopReplay = opts.DPoP.Replay; s.dpopReplay == nil {
		s.dpopReplay = &dpop.MemoryReplayCache{Now: s.now}
	}
	dk, err := deriveKeyring(opts.KeyEncryptionKey, opts.PreviousKeyEncryptionKeys)
	if err != nil {
		return nil, err
	}
	s.kek.Store(dk)
	// Retired signing keys must outlive every token they signed.
	retain := 24 * time.Hour
	for _, r := range s.resources {
		retain = max(retain, r.lifetime+5*time.Minute)
	}
	retain = max(retain, opts.AccessTokenLifetime+5*time.Minute)
	s.keys, err = keys.New(ctx, keys.Options{
		Store: opts.Store, KeyEncryptionKey: opts.KeyEncryptionKey, PreviousKeyEncryptionKeys: opts.PreviousKeyEncryptionKeys,
		Algorithm:      opts.SigningAlgorithm,
		RotationPeriod: opts.KeyRotationPeriod, RetainAfter: retain, Now: opts.Now, Logger: opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	if !opts.CIMD.Disable {
		s.cimd, err = cimd.New(cimd.Options{
			Cache: opts.Store, Timeout: opts.CIMD.FetchTimeout, MinTTL: opts.CIMD.MinCacheTTL, MaxTTL: opts.CIMD.MaxCacheTTL,
			AllowDomains: opts.CIMD.AllowDomains, DenyDomains: opts.CIMD.DenyDomains, RootCAs: opts.CIMD.RootCAs,
			InsecureAllowLoopback: opts.CIMD.InsecureAllowLoopback, Now: opts.Now, Logger: opts.Logger,
			Validate: func(m *oauth.ClientMetadata) error { return validateMetadata(m, kindCIMD) },
		})
		if err != nil {
			return nil, fmt.Errorf("authserver: %w", err)
		}
	} else {
		// Static clients may still use jwks_uri; give them the safe fetcher.
		s.cimd, _ = cimd.New(cimd.Options{RootCAs: opts.CIMD.RootCAs, InsecureAllowLoopback: opts.CIMD.InsecureAllowLoopback, Now: opts.Now})
	}
	if s.pages, err = web.New(); err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	s.initLimits()
	if opts.Upstream != nil {
		s.upstream = newFederation(s, opts.Upstream)
	}
	s.trusted = newTrustedIssuers(opts.TokenExchange.TrustedIssuers, opts.HTTPClient, opts.Now)
	idps := make([]TrustedIssuer, 0, len(opts.IdentityProviders))
	for _, p := range opts.IdentityProviders {
		idps = append(idps, TrustedIssuer{Issuer: p.Issuer, JWKSURI: p.JWKSURI})
	}
	s.idps = newTrustedIssuers(idps, opts.HTTPClient, opts.Now)
	s.routes()
	if s.metadata, err = json.Marshal(s.serverMetadata()); err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	if opts.CIMD.InsecureAllowLoopback {
		s.log.Warn("CIMD.InsecureAllowLoopback is set: metadata documents may be fetched from loopback; tests only")
	}
	return s, nil
}

// validateIssuer applies RFC 8414 section 2: "a URL that uses the https
// scheme and has no query or fragment components".
func validateIssuer(issuer string) (*url.URL, error) {
	if issuer == "" {
		return nil, errors.New("Issuer is required")
	}
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(issuer, "#") {
		return nil, fmt.Errorf("Issuer %q must be an absolute URL without userinfo, query or fragment", issuer)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("Issuer %q must use https (http is allowed only on loopback)", issuer)
		}
	default:
		return nil, fmt.Errorf("Issuer %q must use https", issuer)
	}
	if strings.HasSuffix(u.Path, "/") {
		return nil, fmt.Errorf("Issuer %q must not end with a slash", issuer)
	}
	for _, c := range u.Path {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/-._~", c)) {
			return nil, fmt.Errorf("Issuer path %q may contain only letters, digits and -._~/", u.Path)
		}
	}
	return u, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// derivedKeys are the keys derived from the key-encryption keyring (HKDF,
// RFC 5869: one secret to manage, independent keys per use): AEADs for
// sealed cookies and requests (internal/seal) and HMAC keys for CSRF
// tokens, the current key's first, then those of the previous keys, which
// are accepted but never used to seal or mint.
type derivedKeys struct {
	seal *seal.Keys
	csrf [][]byte
}

// deriveKeyring derives the keys of the current key-encryption key and of
// the previous ones.
func deriveKeyring(current []byte, previous [][]byte) (*derivedKeys, error) {
	dk := &derivedKeys{}
	for i, k := range append([][]byte{current}, previous...) {
		if len(k) != keys.KEKSize {
			if i == 0 {
				return nil, fmt.Errorf("authserver: KeyEncryptionKey must be %d bytes", keys.KEKSize)
			}
			return nil, fmt.Errorf("authserver: PreviousKeyEncryptionKeys[%d] must be %d bytes", i-1, keys.KEKSize)
		}
		c, err := hkdf.Key(sha256.New, k, nil, "mcpfort authserver csrf v1", 32)
		if err != nil {
			return nil, fmt.Errorf("authserver: %w", err)
		}
		dk.csrf = append(dk.csrf, c)
	}
	var err error
	if dk.seal, err = seal.New(seal.Options{Info: "mcpfort authserver seal v1"}, append([][]byte{current}, previous...)...); err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	return dk, nil
}

// SetKeyEncryptionKeys replaces the key-encryption keyring while the
// server runs, for a key rotated in its secret manager (the keyring rule):
// from now on cookies, sealed requests, CSRF tokens and new signing keys
// are sealed with current, and whatever current or any of previous sealed
// still opens. Pass the replaced key among previous until nothing it
// sealed is still in use (signing keys at rest: until they are retired).
// On error nothing changes.
func (s *Server) SetKeyEncryptionKeys(current []byte, previous [][]byte) error {
	dk, err := deriveKeyring(current, previous)
	if err != nil {
		return err
	}
	if err := s.keys.SetKeyEncryptionKeys(current, previous); err != nil {
		return fmt.Errorf("authserver: %w", err)
	}
	s.kek.Store(dk)
	return nil
}

func (s *Server) routes() {
	b := s.base
	s.endpoints = endpoints{
		authorize: b + "/authorize", token: b + "/token", jwks: b + "/jwks.json", register: b + "/register",
		revoke: b + "/revoke", introspect: b + "/introspect", login: b + "/login", consent: b + "/consent",
		logout: b + "/logout", consents: b + "/consents", consentsRevoke: b + "/consents/revoke",
		federationStart: b + "/federation/start", federationCallback: b + "/federation/callback", static: b + "/static",
		userinfo: b + "/userinfo",
	}
	e := s.endpoints
	mux := http.NewServeMux()
	// RFC 8414 section 3.1: the well-known segment is inserted between the
	// host and the issuer's path. OpenID Connect Discovery 1.0 section 4
	// appends it to the issuer instead; MCP clients try both, and the
	// 2025-11-25 revision also tries the inserted OpenID form.
	mux.Handle("GET /.well-known/oauth-authorization-server"+b, cors(http.HandlerFunc(s.handleMetadata)))
	mux.Handle("GET /.well-known/openid-configuration"+b, cors(http.HandlerFunc(s.handleMetadata)))
	if b != "" {
		mux.Handle("GET "+b+"/.well-known/openid-configuration", cors(http.HandlerFunc(s.handleMetadata)))
	}
	mux.Handle("GET "+e.jwks, cors(http.HandlerFunc(s.handleJWKS)))
	mux.HandleFunc("GET "+e.authorize, s.handleAuthorize)
	mux.HandleFunc("POST "+e.authorize, s.handleAuthorize)
	mux.HandleFunc("POST "+e.login, s.handleLogin)
	if len(s.opts.SignInReturns) > 0 {
		mux.HandleFunc("GET "+e.login, s.handleSignIn)
	}
	mux.HandleFunc("POST "+e.consent, s.handleConsent)
	mux.HandleFunc("POST "+e.logout, s.handleLogout)
	mux.HandleFunc("GET "+e.consents, s.handleConsents)
	mux.HandleFunc("POST "+e.consentsRevoke, s.handleConsentsRevoke)
	mux.HandleFunc("POST "+e.federationStart, s.handleFederationStart)
	mux.HandleFunc("GET "+e.federationCallback, s.handleFederationCallback)
	mux.Handle("POST "+e.token, cors(http.HandlerFunc(s.handleToken)))
	mux.Handle("POST "+e.revoke, cors(http.HandlerFunc(s.handleRevoke)))
	mux.HandleFunc("POST "+e.introspect, s.handleIntrospect)
	mux.Handle("GET "+e.userinfo, cors(http.HandlerFunc(s.handleUserinfo)))
	mux.Handle("POST "+e.userinfo, cors(http.HandlerFunc(s.handleUserinfo)))
	if !s.opts.Registration.Disable {
		mux.Handle("POST "+e.register, cors(http.HandlerFunc(s.handleRegister)))
		mux.Handle("GET "+e.register+"/{id}", cors(http.HandlerFunc(s.handleRegistrationRead)))
		mux.Handle("PUT "+e.register+"/{id}", cors(http.HandlerFunc(s.handleRegistrationUpdate)))
		mux.Handle("DELETE "+e.register+"/{id}", cors(http.HandlerFunc(s.handleRegistrationDelete)))
	}
	for _, p := range []string{e.token, e.revoke, e.register, e.register + "/{id}", e.jwks, e.userinfo,
		"/.well-known/oauth-authorization-server" + b, "/.well-known/openid-configuration" + b} {
		mux.Handle("OPTIONS "+p, cors(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })))
	}
	staticFS := http.FileServerFS(web.Static())
	mux.Handle("GET "+e.static+"/", http.StripPrefix(e.static, staticHeaders(staticFS)))
	s.mux = mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// Issuer returns the issuer identifier.
func (s *Server) Issuer() string { return s.issuer }

// MetadataURL returns the RFC 8414 metadata URL of the issuer.
func (s *Server) MetadataURL() string {
	return s.origin + "/.well-known/oauth-authorization-server" + s.base
}

// cors lets browser-based clients (an MCP client running in a web page)
// call the endpoints that need no cookie: metadata, JWKS, token,
// revocation and registration. Credentials are never allowed.
func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			hd := w.Header()
			hd.Set("Access-Control-Allow-Origin", "*")
			hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
			hd.Set("Access-Control-Max-Age", "600")
		}
		h.ServeHTTP(w, r)
	})
}

func staticHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// writeJSON writes v as a JSON response that no cache may keep (RFC 6749
// section 5.1 requires it for token responses; it is right for every
// response carrying credentials).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// fail writes err as an RFC 6749 section 5.2 error and logs it once, with
// its internal cause, at the level the error asks for.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	oe := oauth.AsError(err)
	s.logError(r, oe)
	if oe.Code == oauth.InvalidClient && r.Header.Get("Authorization") != "" {
		// RFC 6749 section 5.2: 401 with the scheme the client tried.
		if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "basic") {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+s.issuer+`"`)
		}
	}
	oauth.WriteError(w, oe)
}

func (s *Server) logError(r *http.Request, oe *oauth.Error) {
	attrs := []slog.Attr{slog.String("path", r.URL.Path), slog.String("error", string(oe.Code))}
	if oe.Description != "" {
		attrs = append(attrs, slog.String("description", oe.Description))
	}
	if oe.Cause != nil {
		attrs = append(attrs, slog.String("cause", oe.Cause.Error()))
	}
	s.log.LogAttrs(r.Context(), oe.LogLevel(), "oauth request failed", attrs...)
}

func (s *Server) clientIP(r *http.Request) string {
	if s.opts.ClientIP != nil {
		return s.opts.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Sweep deletes expired codes, refresh families, token marks and cached
// metadata documents, removes unused and idle dynamic registrations, and
// applies the key-rotation schedule. Run calls it periodically; it is safe
// to call from several replicas.
func (s *Server) Sweep(ctx context.Context) error {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	now := s.now()
	var errs []error
	count := func(what string, n int, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: %w", what, err))
		} else if n > 0 {
			s.log.LogAttrs(ctx, slog.LevelInfo, "swept", slog.String("what", what), slog.Int("count", n))
		}
	}
	// Redeemed codes are kept a while past expiry so a late replay is
	// still recognized and revokes what the code issued.
	n, err := s.store.DeleteExpiredCodes(ctx, now.Add(-time.Hour))
	count("codes", n, err)
	n, err = s.store.DeleteExpiredFamilies(ctx, now)
	count("refresh families", n, err)
	n, err = s.store.DeleteExpiredTokens(ctx, now)
	count("token marks", n, err)
	n, err = s.store.DeleteExpiredCIMD(ctx, now)
	count("metadata documents", n, err)
	n, err = s.store.DeleteStaleClients(ctx, now.Add(-s.opts.Registration.UnusedTTL), now.Add(-s.opts.Registration.IdleTTL))
	count("stale registrations", n, err)
	if err := s.keys.Rotate(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, l := range s.memLimiters {
		l.sweep()
	}
	return errors.Join(errs...)
}

// Run calls Sweep every SweepInterval until ctx is done. Sweep failures
// are logged, not returned: the next sweep retries.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "authorization server sweep failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
