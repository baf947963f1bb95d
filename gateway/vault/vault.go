package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/mcpfort/mcpfort/storage"
)

// ErrNotConnected: the user has no usable grant for the upstream; the call
// must not go upstream, and the user is asked to connect.
var ErrNotConnected = errors.New("vault: not connected")

// Sealer encrypts what the vault keeps (tokens at rest, tickets and
// states in URLs) under the key-encryption keyring: Seal with the current
// key, Open with any key of the ring. ad is bound to the ciphertext.
type Sealer interface {
	Seal(plaintext []byte, ad string) ([]byte, error)
	Open(sealed []byte, ad string) ([]byte, error)
}

// User is the gateway's user, as its own tokens name it.
type User struct {
	Issuer, Subject string
}

// Key is the user's stable key in the store: a hash of issuer and subject
// (the same subject at two issuers is two users).
func (u User) Key() string {
	h := sha256.New()
	var n [8]byte
	for _, f := range []string{u.Issuer, u.Subject} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Options configures a Vault.
type Options struct {
	// Store keeps the grants; shared by the replicas.
	Store storage.VaultStore
	// UseOnce records a ticket or state as used until it expires, and
	// returns an error if it was (storage.TokenStore.UseOnce).
	UseOnce func(ctx context.Context, id string, expiresAt time.Time) error
	// Sealer seals tokens, tickets and states.
	Sealer Sealer
	// PublicURL is the gateway's public base URL: links and the redirect
	// URI (PublicURL + "/oauth/connect/callback") are under it.
	PublicURL string
	// HTTPClient talks to the upstreams' authorization servers. If nil, a
	// client that follows no redirects.
	HTTPClient *http.Client
	// Logger receives failures (never a token). If nil, nothing is logged.
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// BrowserUser says who the browser opening a connect link is: the
	// issuer and subject of its signed-in user at the authorization
	// server whose tokens name the gateway's users, read from its
	// session cookie (same origin). A link connects only a browser
	// signed in as the user it was made for (MCP 2025-11-25
	// client/elicitation, Security Considerations, Phishing). If nil,
	// every link is refused.
	BrowserUser func(*http.Request) (issuer, subject string, ok bool)
	// SignInURL is where a browser that is not signed in signs in and
	// then returns to ret (an absolute URL under PublicURL + ConnectPath).
	// If nil, such a browser is refused.
	SignInURL func(ret string) string
}

const (
	// ticketTTL bounds a link's life, stateTTL the authorization at the
	// upstream's server.
	ticketTTL = 10 * time.Minute
	stateTTL  = 10 * time.Minute
	// refreshSkew: a token this close to its expiry is refreshed first.
	refreshSkew = 60 * time.Second
	// leaseTTL bounds one replica's refresh; the others wait for it.
	leaseTTL = 30 * time.Second
	// CallbackPath is the redirect URI's path.
	CallbackPath = "/oauth/connect/callback"
	// ConnectPath is the links' path prefix (the route follows).
	ConnectPath = "/oauth/connect/"
	// ConnectionsPath is the user's connections endpoint prefix (the
	// route follows).
	ConnectionsPath = "/oauth/connections/"
)

// Vault keeps the users' grants for every user_oauth upstream.
type Vault struct {
	opts      Options
	mu        sync.Mutex
	upstreams map[string]*Upstream
}

// New returns a vault.
func New(opts Options) *Vault {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	return &Vault{opts: opts, upstreams: map[string]*Upstream{}}
}

// UpstreamOptions configures one route's upstream.
type UpstreamOptions struct {
	// Route is the gateway route; URL the upstream's MCP endpoint.
	Route, URL string
	// Issuer is the authorization server; empty: discovered from URL's
	// protected resource metadata (RFC 9728).
	Issuer string
	// ClientID and ClientSecret (nil for a public client) are the
	// gateway's registration; empty ClientID: ClientMetadataURL where the
	// server supports metadata documents, else dynamic registration.
	ClientID          string
	ClientSecret      func() string
	ClientMetadataURL string
	// Scopes asked for; empty: those the resource metadata names.
	Scopes []string
	// Resource names the upstream (RFC 8707); empty: URL.
	Resource string
}

// Upstream is one route's upstream as the vault serves it.
type Upstream struct {
	v    *Vault
	opts UpstreamOptions
	sf   singleflight.Group

	mu       sync.Mutex
	meta     *asMetadata // discovered, kept once found
	scopes   []string
	dcrID    string // dynamically registered client
	dcrMu    sync.Mutex
	dcrUntil time.Time
}

// Add registers route's upstream.
func (v *Vault) Add(o UpstreamOptions) (*Upstream, error) {
	if o.Route == "" || o.URL == "" {
		return nil, errors.New("vault: route and url are required")
	}
	if o.Resource == "" {
		o.Resource = o.URL
	}
	u := &Upstream{v: v, opts: o, scopes: o.Scopes}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, dup := v.upstreams[o.Route]; dup {
		return nil, fmt.Errorf("vault: route %q added twice", o.Route)
	}
	v.upstreams[o.Route] = u
	return u, nil
}

func (v *Vault) upstream(route string) *Upstream {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.upstreams[route]
}

// tokens is what a grant seals.
type tokens struct {
	Access   string    `json:"a"`
	Refresh  string    `json:"r,omitempty"`
	Type     string    `json:"t,omitempty"`
	Expiry   time.Time `json:"e,omitzero"`
	ClientID string    `json:"c"` // the client the tokens were issued to
}

// tokenAD binds sealed tokens to their user and route: a sealed value
// moved to another row does not open.
func tokenAD(userKey, route string) string {
	return "mcpfort vault tokens v1\x00" + userKey + "\x00" + route
}

func (u *Upstream) seal(userKey string, t tokens) ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	return u.v.opts.Sealer.Seal(b, tokenAD(userKey, u.opts.Route))
}

func (u *Upstream) open(g storage.VaultGrant) (tokens, error) {
	var t tokens
	b, err := u.v.opts.Sealer.Open(g.Sealed, tokenAD(g.User, g.Route))
	if err != nil {
		return t, fmt.Errorf("vault: the grant of route %q does not open: %w", g.Route, err)
	}
	return t, json.Unmarshal(b, &t)
}

// Token returns the user's access token for the upstream, refreshing it
// first when it is about to expire; ErrNotConnected when there is none (or
// the authorization server no longer honours the grant).
func (u *Upstream) Token(ctx context.Context, user User) (string, error) {
	st := u.v.opts.Store
	g, err := st.VaultGrant(ctx, user.Key(), u.opts.Route)
	if errors.Is(err, storage.ErrNotFound) {
		return "", ErrNotConnected
	}
	if err != nil {
		return "", err
	}
	t, err := u.open(g)
	if err != nil {
		return "", err
	}
	now := u.v.opts.Now()
	if t.Expiry.IsZero() || now.Add(refreshSkew).Before(t.Expiry) {
		return t.Access, nil
	}
	// One refresh per grant in this process; the store's lease makes it
	// one across replicas.
	r, err, _ := u.sf.Do(g.User, func() (any, error) { return u.refresh(context.WithoutCancel(ctx), user, g, t) })
	if err != nil {
		return "", err
	}
	return r.(string), nil
}

// refresh redeems the refresh token (RFC 6749 section 6) and stores what
// comes back, keeping the old refresh token when no new one is issued and
// replacing it when the server rotates it.
func (u *Upstream) refresh(ctx context.Context, user User, g storage.VaultGrant, t tokens) (string, error) {
	st, now := u.v.opts.Store, u.v.opts.Now()
	expired := !now.Before(t.Expiry)
	if t.Refresh == "" {
		if expired {
			_ = st.DeleteVaultGrant(ctx, g.User, g.Route)
			return "", ErrNotConnected
		}
		return t.Access, nil
	}
	ok, err := st.LeaseVaultGrant(ctx, g.User, g.Route, g.Version, now, now.Add(leaseTTL))
	if err != nil {
		return "", err
	}
	if !ok {
		// Another replica refreshes (or did): wait for its result.
		return u.awaitRefresh(ctx, g, t)
	}
	conf, err := u.oauthConfig(ctx, t.ClientID)
	if err != nil {
		return u.stale(t, err)
	}
	nt, err := conf.TokenSource(u.httpContext(ctx), &oauth2.Token{RefreshToken: t.Refresh, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "unauthorized_client" || re.ErrorCode == "invalid_client") {
			// The grant is gone at the server: ask the user again.
			u.v.opts.Logger.Info("vault: refresh refused, the user must connect again", "route", g.Route, "error_code", re.ErrorCode)
			_ = st.DeleteVaultGrant(ctx, g.User, g.Route)
			return "", ErrNotConnected
		}
		return u.stale(t, err)
	}
	next := tokens{Access: nt.AccessToken, Refresh: nt.RefreshToken, Type: nt.TokenType, Expiry: nt.Expiry, ClientID: t.ClientID}
	if next.Refresh == "" {
		next.Refresh = t.Refresh
	}
	sealed, err := u.seal(g.User, next)
	if err != nil {
		return "", err
	}
	ng := g
	ng.Sealed, ng.ExpiresAt, ng.UpdatedAt = sealed, next.Expiry, now
	if _, err := st.PutVaultGrant(ctx, ng, g.Version); err != nil {
		return "", fmt.Errorf("vault: store refreshed tokens: %w", err)
	}
	return next.Access, nil
}

// stale returns the old access token while it is valid, when a refresh
// failed for a reason other than the grant.
func (u *Upstream) stale(t tokens, err error) (string, error) {
	if u.v.opts.Now().Before(t.Expiry) {
		return t.Access, nil
	}
	return "", fmt.Errorf("vault: refresh: %w", err)
}

func (u *Upstream) awaitRefresh(ctx context.Context, g storage.VaultGrant, t tokens) (string, error) {
	deadline := time.Now().Add(leaseTTL)
	for time.Now().Before(deadline) {
		ng, err := u.v.opts.Store.VaultGrant(ctx, g.User, g.Route)
		if errors.Is(err, storage.ErrNotFound) {
			return "", ErrNotConnected
		}
		if err != nil {
			return "", err
		}
		if ng.Version != g.Version {
			nt, err := u.open(ng)
			if err != nil {
				return "", err
			}
			return nt.Access, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return u.stale(t, errors.New("another replica's refresh did not finish"))
}

// Revoke removes the user's grant and, when the authorization server
// offers RFC 7009 revocation, revokes its tokens there (best effort: the
// grant is gone here whatever the server answers). ErrNotConnected if
// there was none.
func (u *Upstream) Revoke(ctx context.Context, userKey string) error {
	return u.v.revoke(ctx, userKey, u.opts.Route)
}

func (v *Vault) revoke(ctx context.Context, userKey, route string) error {
	g, err := v.opts.Store.VaultGrant(ctx, userKey, route)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNotConnected
	}
	if err != nil {
		return err
	}
	if err := v.opts.Store.DeleteVaultGrant(ctx, userKey, route); errors.Is(err, storage.ErrNotFound) {
		return ErrNotConnected
	} else if err != nil {
		return err
	}
	u := v.upstream(route)
	if u == nil {
		return nil
	}
	t, err := u.open(g)
	if err != nil {
		return nil
	}
	u.revokeUpstream(ctx, t)
	return nil
}

// revokeUpstream sends the refresh token, then the access token, to the
// server's revocation endpoint (RFC 7009 section 2.1).
func (u *Upstream) revokeUpstream(ctx context.Context, t tokens) {
	meta, err := u.metadata(ctx)
	if err != nil || meta.RevocationEndpoint == "" {
		return
	}
	for _, tk := range []struct{ v, hint string }{{t.Refresh, "refresh_token"}, {t.Access, "access_token"}} {
		if tk.v == "" {
			continue
		}
		form := url.Values{"token": {tk.v}, "token_type_hint": {tk.hint}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, meta.RevocationEndpoint, strings.NewReader(""))
		u.clientAuth(req, form, t.ClientID)
		req.Body = io.NopCloser(strings.NewReader(form.Encode()))
		req.ContentLength = int64(len(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := u.v.opts.HTTPClient.Do(req)
		if err != nil {
			u.v.opts.Logger.Warn("vault: revocation at the upstream's server failed", "route", u.opts.Route, "err", err)
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			u.v.opts.Logger.Warn("vault: revocation at the upstream's server refused", "route", u.opts.Route, "status", resp.StatusCode)
		}
	}
}

// clientAuth authenticates the gateway as clientID: client_secret_basic
// for the configured confidential client (RFC 6749 section 2.3.1), the
// client_id parameter for a public one.
func (u *Upstream) clientAuth(req *http.Request, form url.Values, clientID string) {
	if secret := u.secretFor(clientID); secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
		return
	}
	form.Set("client_id", clientID)
}

func (u *Upstream) secretFor(clientID string) string {
	if u.opts.ClientSecret != nil && clientID == u.opts.ClientID {
		return strings.TrimSpace(u.opts.ClientSecret())
	}
	return ""
}

// oauthConfig is the x/oauth2 client for clientID at the upstream's server.
func (u *Upstream) oauthConfig(ctx context.Context, clientID string) (*oauth2.Config, error) {
	meta, err := u.metadata(ctx)
	if err != nil {
		return nil, err
	}
	secret := u.secretFor(clientID)
	style := oauth2.AuthStyleInParams
	if secret != "" {
		style = oauth2.AuthStyleInHeader
	}
	return &oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: u.v.opts.PublicURL + CallbackPath,
		Scopes: u.scopeList(), Endpoint: oauth2.Endpoint{AuthURL: meta.AuthorizationEndpoint, TokenURL: meta.TokenEndpoint, AuthStyle: style}}, nil
}

func (u *Upstream) scopeList() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.scopes
}

func (u *Upstream) httpContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, u.v.opts.HTTPClient)
}

// Grants lists the grants whose subject (or user key) and route match
// (empty: any), for the admin.
func (v *Vault) Grants(ctx context.Context, subject, route string) ([]storage.VaultGrant, error) {
	return v.opts.Store.VaultGrants(ctx, subject, route)
}

// RevokeGrant is the admin's revocation of one user's grant at route.
func (v *Vault) RevokeGrant(ctx context.Context, userKey, route string) error {
	return v.revoke(ctx, userKey, route)
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
