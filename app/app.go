package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpfort/mcpfort/authserver"
	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/legacysse"
	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/gateway/policy/pinning"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/credentials"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
	"github.com/mcpfort/mcpfort/gateway/upstream/sse"
	"github.com/mcpfort/mcpfort/gateway/vault"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/observe"
	"github.com/mcpfort/mcpfort/resourceserver"
	"github.com/mcpfort/mcpfort/secrets"
	"github.com/mcpfort/mcpfort/storage"
	redisstate "github.com/mcpfort/mcpfort/storage/redis"
	"github.com/mcpfort/mcpfort/transport"
	"github.com/mcpfort/mcpfort/transport/clientip"
)

// Options are what the embedding program supplies beside the config.
type Options struct {
	// Version is reported by /healthz and in serverInfo.
	Version string
	// Logger overrides the logger built from config.Log.
	Logger *slog.Logger
	// Getenv reads environment variables for secret references. If nil,
	// os.Getenv.
	Getenv func(string) string
	// Console receives the one-time messages meant for the operator (the
	// generated first password). If nil, os.Stderr.
	Console io.Writer

	// cimdTestRoots, set only by this package's tests (export_test.go),
	// lets the embedded authorization server fetch client ID metadata
	// documents from a loopback TLS server with a certificate from these
	// roots. Unexported: neither a configuration nor an embedding program
	// can relax the fetcher's address policy.
	cimdTestRoots *x509.CertPool
}

// App is a configured mcpfort: build it with New, start it with Run.
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	routes  []*route
	handler http.Handler
	ready   atomic.Bool
	getenv  func(string) string
	origin  transport.OriginPolicy
	// clientIP is the one resolver of client addresses (http.trusted_proxies)
	// for everything that keys on the client: the authorization server's
	// limits, and any gateway part that records or limits by address.
	clientIP *clientip.Resolver

	assertionSigningKey *ecdsa.PrivateKey
	assertions          *credentials.Assertion
	limits              ratelimit.Store
	closers             []func(context.Context) error
	db                  storage.Backend    // nil until first used (state.go)
	rdb                 *redisstate.Client // nil until first used, or without state.redis
	as                  *authserver.Server
	revs                *revocations // nil without the embedded authorization server
	pinning             *pinning.Policy
	audit               *audit.Log
	tel                 *observe.Telemetry
	pools               []namedPool // stdio pools, for their gauges
	metricsAddr         net.Addr    // the metrics listener, once Run bound it
	console             io.Writer
	now                 func() time.Time
	secrets             *secrets.Resolver         // nil until first used (secrets.go)
	keks                *kekRing                  // nil until first used (kek.go)
	tls                 *tls.Config               // nil: plain HTTP
	acmeWarmUp          func(ctx context.Context) // nil without ACME
	keyring             *session.Keyring          // the routes' session keyring
	nonces              rotatingNonces            // the routes' DPoP nonces, keyed like the keyring (auth.go)
	vault               *vault.Vault              // nil without user_oauth upstreams (vault.go)
	vaultRoutes         map[string]*vault.Upstream
	cimdTestRoots       *x509.CertPool // Options.cimdTestRoots
}

type route struct {
	name, path string
	gw         *gateway.Gateway
	up         upstream.Upstream
	guard      *guard          // nil on open routes
	fwd        *forwarder      // requests another replica serves (state.replica_url)
	fwdSess    bool            // legacy sessions live in one replica (local servers, legacy_sse)
	door       *legacysse.Door // nil unless legacy_sse
}

// New builds every part from cfg. Nothing listens until Run. If it fails,
// whatever it had opened (stores, connections, upstream processes) is
// closed before it returns.
func New(cfg *config.Config, o Options) (_ *App, err error) {
	a := &App{cfg: cfg, log: o.Logger, getenv: o.Getenv, console: o.Console, now: time.Now, cimdTestRoots: o.cimdTestRoots}
	a.defaults()
	if o.Version == "" {
		o.Version = "dev"
	}
	defer func() {
		if err != nil {
			a.closeAll(context.Background())
		}
	}()
	if err := a.prepareState(); err != nil {
		return nil, err
	}
	// Every secret reference is resolved before anything starts: one that
	// fails stops the start, naming its field and reference.
	if err := a.buildSecrets(context.Background()); err != nil {
		return nil, err
	}
	if err := a.buildTelemetry(o.Version); err != nil {
		return nil, err
	}
	if a.tls, err = a.listenerTLS(); err != nil {
		return nil, err
	}
	hdr := clientip.XForwardedFor
	if cfg.HTTP.ClientIPHeader == "forwarded" {
		hdr = clientip.Forwarded
	}
	resolver, err := clientip.New(clientip.Options{TrustedProxies: cfg.HTTP.TrustedProxies, Header: hdr})
	if err != nil {
		return nil, fmt.Errorf("http.trusted_proxies: %w", err)
	}
	a.clientIP = resolver
	keyring, err := a.sessionKeyring()
	if err != nil {
		return nil, err
	}
	rdb, err := a.redis()
	if err != nil {
		return nil, err
	}
	if cfg.AuthServer.Enabled {
		revs, err := newRevocations(cfg.EmbeddedIssuer(), rdb, cfg.State.RevocationMaxStaleness.D(), a.log.With("component", "revocations"))
		if err != nil {
			return nil, err
		}
		a.revs = revs
	}
	if err := a.buildAuthServer(context.Background()); err != nil {
		return nil, err
	}
	if err := a.buildAudit(context.Background()); err != nil {
		return nil, err
	}
	if err := a.buildPinning(context.Background()); err != nil {
		return nil, err
	}
	a.origin = transport.OriginPolicy{AllowedOrigins: cfg.HTTP.AllowedOrigins, AllowedHosts: append([]string{publicHost(cfg.PublicURL)}, cfg.HTTP.AllowedHosts...)}
	var resources []string
	for _, s := range cfg.Servers {
		if *s.Auth.Required {
			res, err := routeResource(cfg, s)
			if err != nil {
				return nil, fmt.Errorf("server %q: %w", s.Name, err)
			}
			resources = append(resources, res)
		}
	}
	verifier, err := a.buildVerifier(resources)
	if err != nil {
		return nil, err
	}
	if err := a.buildRoutes(verifier, keyring, o.Version); err != nil {
		return nil, err
	}
	if err := a.observeGauges(); err != nil {
		return nil, err
	}
	h, err := a.buildHandler(o.Version)
	if err != nil {
		return nil, err
	}
	a.handler = h
	return a, nil
}

// defaults fills in what Options left out.
func (a *App) defaults() {
	if a.console == nil {
		a.console = os.Stderr
	}
	if a.getenv == nil {
		a.getenv = os.Getenv
	}
	if a.log == nil {
		a.log = NewLogger(os.Stderr, a.cfg.Log)
	}
	if a.now == nil {
		a.now = time.Now
	}
}

// buildRoutes builds each server's route: its guard, policy chain,
// upstream and gateway. A route is recorded as soon as its upstream exists,
// so that closeAll closes it whatever fails next.
func (a *App) buildRoutes(verifier resourceserver.Verifier, keyring *session.Keyring, version string) error {
	cfg, origin := a.cfg, a.origin
	a.keyring = keyring // virtual servers' bridged members seal with it
	replica := replicaID()
	var fwd *forwarder
	if cfg.State.ReplicaURL != "" {
		// Sessions of local servers name this replica as their owner;
		// the others forward to it.
		replica = strings.TrimSuffix(cfg.State.ReplicaURL, "/")
		var err error
		if fwd, err = newForwarder(replica, keyring, a.log.With("component", "forwarding")); err != nil {
			return err
		}
	}
	var deny session.Denylist
	if a.rdb != nil {
		// Replicas share the denylist: a session deleted on one is 404 on
		// all of them.
		deny = redisstate.NewDenylist(a.rdb, redisstate.DenylistOptions{Timeout: redisTimeout})
	} else {
		deny = &session.MemoryDenylist{}
	}
	if cfg.Pinning.RefreshInterval != 0 {
		a.log.Warn("pinning.refresh_interval is deprecated: set policies.tools_ttl instead")
	}
	for _, s := range cfg.Servers {
		if sc := s.Policies.Schema; sc != nil && sc.SchemaTTL != 0 {
			a.log.Warn("policies.schema.schema_ttl is deprecated: set policies.tools_ttl instead", "server", s.Name)
		}
		g0, scopes, err := a.routeGuard(s, verifier)
		if err != nil {
			return fmt.Errorf("server %q: %w", s.Name, err)
		}
		outer, chain, err := a.chain(s, scopes)
		if err != nil {
			return fmt.Errorf("server %q: %w", s.Name, err)
		}
		up, err := a.upstream(s)
		if err != nil {
			return fmt.Errorf("server %q: %w", s.Name, err)
		}
		up = a.observeUpstream(s, up)
		// The route owns the upstream from here: closeAll closes it.
		// Retries of calls held for client input go to the replica
		// holding them; legacy sessions of local servers, legacy_sse and
		// virtual servers with local members live in this replica's
		// processes or event streams.
		r := &route{name: s.Name, path: s.Path, up: up, guard: g0, fwd: fwd,
			fwdSess: s.Stdio != nil || s.SSE != nil || s.Aggregate != nil && s.Aggregate.Local()}
		a.routes = append(a.routes, r)
		// The token vault gates the route (user_oauth): a user without a
		// grant at the upstream is answered with the way to connect
		// before any check or policy that would reach the upstream.
		gate, err := a.vaultPolicy(s)
		if err != nil {
			return fmt.Errorf("server %q: %w", s.Name, err)
		}
		g, err := gateway.New(gateway.Options{
			Outer: outer, Gate: gate,
			Route: s.Name, Upstream: up, UpstreamEra: era(s.Era), Keyring: keyring, Denylist: deny,
			Principal: principalFrom, Middleware: chain, ToolsTTL: s.Policies.ToolsTTL.D(),
			SessionTTL: cfg.Sessions.TTL.D(), Origin: origin, MaxBody: int64(cfg.HTTP.MaxBody),
			Limits:    jsonrpc.Limits{MaxDepth: cfg.HTTP.MaxJSONDepth, MaxBatch: cfg.HTTP.MaxBatch},
			ReplicaID: replica, ServerInfo: gateway.Implementation{Name: "mcpfort", Version: version},
			SessionCapabilities: s.HTTP != nil && s.HTTP.UserOAuth != nil,
			Logger:              a.log.With("route", s.Name),
		})
		if err != nil {
			return fmt.Errorf("server %q: %w", s.Name, err)
		}
		r.gw = g
		if s.LegacySSE {
			o := legacysse.Options{
				Handler: g, Path: s.Path, Principal: principalName, Origin: &a.origin,
				MaxMessage: int64(cfg.HTTP.MaxBody), Logger: a.log.With("route", s.Name, "front", "legacy_sse"),
			}
			if r.fwd != nil {
				o.NewID = r.fwd.doorID // any replica forwards the session's POSTs here
			}
			r.door, err = legacysse.New(o)
			if err != nil {
				return fmt.Errorf("server %q: %w", s.Name, err)
			}
		}
	}
	return nil
}

// principalName names the caller for binding HTTP+SSE sessions: issuer,
// subject and client, or "" when anonymous.
func principalName(ctx context.Context) string {
	p := principalFrom(ctx)
	if p == nil {
		return ""
	}
	return strconv.Quote(p.Issuer) + " " + strconv.Quote(p.Subject) + " " + strconv.Quote(p.ClientID)
}

func era(s string) gateway.UpstreamEra {
	switch s {
	case "legacy":
		return gateway.EraLegacy
	case "modern":
		return gateway.EraModern
	case "dual":
		return gateway.EraDual
	}
	return gateway.EraAuto
}

func publicHost(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	return u.Host
}

func replicaID() string {
	h, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%x", h, b)
}

func (a *App) upstream(s config.Server) (upstream.Upstream, error) {
	if s.Aggregate != nil {
		return a.aggregateUpstream(s)
	}
	if s.HTTP != nil {
		opts := remote.Options{URL: s.HTTP.URL, MaxMessage: int(s.HTTP.MaxMessage), Logger: a.log.With("route", s.Name)}
		auth, err := a.upstreamAuth(s)
		if err != nil {
			return nil, err
		}
		opts.Authorize = auth
		return remote.New(opts)
	}
	if u := s.SSE; u != nil {
		auth, err := a.upstreamAuth(s)
		if err != nil {
			return nil, err
		}
		return sse.New(sse.Options{
			URL: u.URL, Authorize: auth, MaxMessage: int(u.MaxMessage), MaxConnections: u.MaxConnections,
			IdleTimeout: u.IdleTimeout.D(), Logger: a.log.With("route", s.Name, "upstream", "sse"),
		})
	}
	return a.stdioUpstream(s)
}

// sessionKeyring builds the keyring from configured secrets, or from a
// secret generated once and kept in the state directory.
//
// A configured secret that rotates takes the first place among the
// values; the value it replaced still opens the sessions it sealed until
// they have expired (sessions.ttl).
func (a *App) sessionKeyring() (*session.Keyring, error) {
	if len(a.cfg.Sessions.Secrets) == 0 {
		s, err := a.sessionSecrets() // the generated key
		if err != nil {
			return nil, err
		}
		return session.NewKeyring(s...)
	}
	ss := &sessionRing{ttl: a.cfg.Sessions.TTL.D(), now: a.now}
	for i, ref := range a.cfg.Sessions.Secrets {
		s, err := a.secret(context.Background(), fmt.Sprintf("sessions.secrets[%d]", i), ref)
		if err != nil {
			return nil, err
		}
		ss.current = append(ss.current, s)
	}
	kr, err := session.NewKeyring(ss.values()...)
	if err != nil {
		return nil, fmt.Errorf("sessions.secrets: %w", err)
	}
	for i, s := range ss.current {
		s.OnChange(func(old, _ secrets.Value) {
			values := ss.rotated(old)
			if err := kr.Replace(values...); err != nil {
				a.log.Error("sessions.secrets: the rotated secret is unusable; sessions keep the previous keys", "field", fmt.Sprintf("sessions.secrets[%d]", i), "err", err)
				return
			}
			a.nonces.replace(values)
		})
	}
	return kr, nil
}

// sessionSecrets returns the current values of sessions.secrets, or the
// secret generated once and kept in the state directory; the first one
// seals.
func (a *App) sessionSecrets() ([][]byte, error) {
	if len(a.cfg.Sessions.Secrets) == 0 {
		s, err := loadOrCreateKey(filepath.Join(a.cfg.State.Dir, "session.key"))
		if err != nil {
			return nil, fmt.Errorf("session key: %w", err)
		}
		return [][]byte{s}, nil
	}
	var out [][]byte
	for i, ref := range a.cfg.Sessions.Secrets {
		s, err := a.secret(context.Background(), fmt.Sprintf("sessions.secrets[%d]", i), ref)
		if err != nil {
			return nil, err
		}
		out = append(out, s.Value().Bytes())
	}
	return out, nil
}

// loadOrCreateKey returns the 32-byte key in path, creating it (mode 0600)
// if it does not exist.
func loadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("%s holds %d bytes, want 32", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	key := session.GenerateSecret()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadOrCreateKey(path) // another process won the race
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

// Handler returns the HTTP handler (for tests and embedding).
func (a *App) Handler() http.Handler { return a.handler }

func (a *App) buildHandler(version string) (http.Handler, error) {
	mux := http.NewServeMux()
	rootPRM := 0
	for _, r := range a.routes {
		if r.guard != nil {
			rootPRM++
		}
	}
	for _, r := range a.routes {
		var h http.Handler = r.gw
		if r.guard != nil {
			h = protect(r.guard, &a.origin, h)
		}
		if r.fwd != nil {
			// Before authentication: the owner authenticates.
			h = r.fwd.wrap(h, r.fwdSess, r.gw)
		}
		mux.Handle(r.path, h)
		if r.door != nil {
			// The same authorization as the route: every GET and POST
			// carries the client's token.
			var d http.Handler = r.door
			if r.guard != nil {
				d = protect(r.guard, &a.origin, d)
			}
			mux.Handle(r.door.SSEPath(), d)
			if r.fwd != nil {
				d = r.fwd.wrapDoor(d) // before authentication: the owner authenticates
			}
			mux.Handle(r.door.MessagePath(), d)
		}
		if r.guard == nil {
			continue
		}
		// RFC 9728 section 3: the path-suffixed well-known URI; the root
		// one too when a single route is protected.
		for _, p := range r.guard.prm.Paths() {
			if p == "/.well-known/oauth-protected-resource" && rootPRM != 1 {
				continue
			}
			mux.Handle(p, r.guard.prm)
		}
	}
	a.mountAssertionIssuer(mux)
	a.mountVault(mux)
	if a.as != nil {
		// The authorization server routes its own endpoints and
		// well-known documents; more specific patterns (routes, health,
		// protected resource metadata) win over this one.
		mux.Handle("/", a.tel.AuthServer(a.as, authServerRoutes(a.cfg.EmbeddedIssuer())))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","version":%q}`+"\n", version)
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	// The edge chain, outermost first: draining what a handler left of a
	// request body (so a 413 or 401 reaches a client still sending),
	// panic recovery, security headers (on every answer, challenges
	// included), then the routes.
	sh, err := a.securityHeaders()
	if err != nil {
		return nil, err
	}
	// Outermost of all, the request id and the access log, so that every
	// answer carries the id and is logged, panics included.
	h := transport.DrainBody(recoverer(a.log, sh.Wrap(observe.Routed(mux))), 4*int64(a.cfg.HTTP.MaxBody), 0)
	return a.tel.HTTP(h, observe.HTTPOptions{TrustedPeer: a.clientIP.TrustedPeer}), nil
}

// recoverer turns a panic in a handler into a 500 and a log line instead
// of a dropped connection with no trace.
func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				transport.WriteError(w, http.StatusInternalServerError, jsonrpc.ID{}, jsonrpc.NewError(jsonrpc.CodeInternalError, "Internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Run serves until ctx ends, then shuts down gracefully: readiness turns
// off, open SSE streams end with a retry hint, in-flight calls finish within
// http.shutdown_grace, and upstreams (stdio process groups included) close.
// ready, if not nil, receives the bound address once the server listens.
func (a *App) Run(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		a.closeAll(context.Background())
		return err
	}
	if n := a.cfg.HTTP.MaxConnections; n > 0 {
		ln = limitListener(ln, n)
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: a.cfg.HTTP.ReadHeaderTimeout.D(),
		IdleTimeout:       a.cfg.HTTP.IdleTimeout.D(),
		MaxHeaderBytes:    int(a.cfg.HTTP.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	stopMetrics, err := a.serveMetrics(ctx)
	if err != nil {
		_ = ln.Close()
		a.closeAll(context.Background())
		return err
	}
	defer stopMetrics()
	errc := make(chan error, 1)
	if a.tls != nil {
		// ServeTLS, unlike Serve on a TLS listener, sets up HTTP/2: it
		// adds "h2" to the protocols offered in ALPN.
		srv.TLSConfig = a.tls
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	asCtx, stopAS := context.WithCancel(context.Background())
	defer stopAS()
	if a.acmeWarmUp != nil {
		go a.acmeWarmUp(asCtx)
	}
	if a.as != nil {
		go func() { _ = a.as.Run(asCtx) }() // expiry sweeps and key rotation
	}
	if a.secrets != nil {
		go a.secrets.Run(asCtx) // rotated secrets: files on change, secret managers on refresh_interval
	}
	if a.revs != nil {
		// Announce readiness once the replica has caught up with the
		// revocations published before it started, or, if Redis is down,
		// after the staleness bound (the embedded server's tokens are
		// then refused with 503 until it is back).
		select {
		case <-a.revs.follow(asCtx):
		case <-time.After(a.cfg.State.RevocationMaxStaleness.D()):
			a.log.Warn("revocation feed not reachable: tokens of the embedded authorization server are refused until it is")
		}
	}
	a.ready.Store(true)
	a.log.Info("mcpfort listening", "addr", ln.Addr().String(), "public_url", a.cfg.PublicURL)
	for _, r := range a.routes {
		a.log.Info("route", "server", r.name, "url", a.cfg.PublicURL+r.path)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		stopAS()
		a.closeAll(context.Background())
		return err
	case <-ctx.Done():
	}
	a.ready.Store(false)
	if d := a.cfg.HTTP.ShutdownDelay.D(); d > 0 {
		// Keep serving while /readyz says 503, so that load balancers
		// stop sending new requests before connections are refused.
		a.log.Info("shutting down: /readyz unavailable, still serving", "delay", d.String())
		select {
		case <-time.After(d):
		case err := <-errc:
			stopAS()
			a.closeAll(context.Background())
			return err
		}
	}
	a.log.Info("shutting down", "grace", a.cfg.HTTP.ShutdownGrace.D().String())
	for _, r := range a.routes {
		if r.fwd != nil {
			r.fwd.drain() // one forwarder for every route: ending twice is harmless
		}
		r.gw.Drain()
		if r.door != nil {
			r.door.Drain()
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.HTTP.ShutdownGrace.D())
	defer cancel()
	err = srv.Shutdown(sctx)
	if err != nil {
		a.log.Warn("in-flight requests cut at the shutdown deadline", "err", err)
		_ = srv.Close()
	}
	stopAS() // the sweeps and the revocation feed end before their connections close
	a.closeAll(sctx)
	return nil
}

// closeAll closes the upstreams, then stores and connections, in the
// reverse of the order they were opened (the audit log flushes before the
// database under it closes, the Redis client closes after its users). It
// is the one release path: on shutdown, and on any error in New or Run.
func (a *App) closeAll(ctx context.Context) {
	a.closeUpstreams(ctx)
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](ctx); err != nil {
			a.log.Warn("closing", "err", err)
		}
	}
	a.closers = nil
}

func (a *App) closeUpstreams(ctx context.Context) {
	var wg sync.WaitGroup
	for _, r := range a.routes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.up.Close(ctx); err != nil {
				a.log.Warn("closing upstream", "server", r.name, "err", err)
			}
		}()
	}
	wg.Wait()
}

// NewLogger returns the operational logger the configuration asks for,
// writing each line at once.
func NewLogger(w io.Writer, c config.Log) *slog.Logger {
	return slog.New(logHandler(w, c))
}

// NewBufferedLogger is NewLogger with informational lines kept up to
// log.flush_interval to be written together (observe.LogBuffer): under
// load the access log then costs no write(2) per request. Warnings and
// errors are written at once. closeLog writes what is kept; call it when
// the process is done serving.
func NewBufferedLogger(w io.Writer, c config.Log) (log *slog.Logger, closeLog func() error) {
	var every time.Duration
	if c.FlushInterval != nil {
		every = c.FlushInterval.D()
	}
	if every <= 0 {
		return NewLogger(w, c), func() error { return nil }
	}
	b := observe.NewLogBuffer(w, every)
	return slog.New(observe.FlushingHandler(logHandler(b, c), b, slog.LevelWarn)), b.Close
}

func logHandler(w io.Writer, c config.Log) slog.Handler {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(c.Level))
	o := &slog.HandlerOptions{Level: lv}
	if c.Format == "json" {
		return slog.NewJSONHandler(w, o)
	}
	return slog.NewTextHandler(w, o)
}

// limitListener caps concurrent connections: Accept waits while n are
// open.
func limitListener(l net.Listener, n int) net.Listener {
	return &limited{Listener: l, sem: make(chan struct{}, n)}
}

type limited struct {
	net.Listener
	sem chan struct{}
}

func (l *limited) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
