package cimd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// Options configures a Fetcher. The zero value is the secure default.
type Options struct {
	// Cache keeps valid documents between fetches. If nil, every call
	// fetches.
	Cache storage.CIMDCache
	// Timeout bounds one fetch: connect, TLS, headers and body. If zero, 5s.
	Timeout time.Duration
	// MaxBytes caps a metadata document. If zero, 5120 (5 KB, the draft's
	// recommendation).
	MaxBytes int64
	// MaxJWKSBytes caps a jwks_uri document. If zero, 16384.
	MaxJWKSBytes int64
	// MinTTL and MaxTTL clamp the cache lifetime the document's HTTP
	// caching headers ask for (RFC 9111; no-store and no-cache count as
	// zero). If zero, 5 minutes and 24 hours.
	MinTTL, MaxTTL time.Duration
	// AllowDomains, if not empty, is the only set of hosts whose documents
	// are fetched: an entry matches the host itself and its subdomains.
	AllowDomains []string
	// DenyDomains are never fetched (same matching); deny wins over allow.
	DenyDomains []string
	// Validate checks a parsed document beyond what the fetcher checks
	// (redirect URIs, grant types...). A document it rejects is an error
	// and is not cached.
	Validate func(*oauth.ClientMetadata) error
	// RootCAs overrides the system roots, for tests with a local TLS
	// server. If nil, the system roots.
	RootCAs *x509.CertPool
	// InsecureAllowLoopback lets the fetcher connect to loopback addresses.
	// It exists for tests only and must never be set in production: it
	// makes the authorization server fetch from its own host.
	InsecureAllowLoopback bool
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// Logger receives fetch failures at debug level. If nil, discarded.
	Logger *slog.Logger
}

// Error is a fetch or validation failure. Its message is safe to show to
// the client in an error_description.
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "client metadata document: " + e.Reason + ": " + e.Err.Error()
	}
	return "client metadata document: " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

func fail(reason string, err error) *Error { return &Error{Reason: reason, Err: err} }

// Fetcher retrieves client ID metadata documents and JWK Sets under the
// SSRF policy described in the package documentation. It is safe for
// concurrent use; concurrent fetches of one URL share one request.
type Fetcher struct {
	opts   Options
	client *http.Client
	policy *addrPolicy

	mu       sync.Mutex
	inflight map[string]*call
}

type call struct {
	done chan struct{}
	meta *oauth.ClientMetadata
	err  error
}

// New returns a Fetcher.
func New(opts Options) (*Fetcher, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 5120
	}
	if opts.MaxJWKSBytes <= 0 {
		opts.MaxJWKSBytes = 16384
	}
	if opts.MinTTL <= 0 {
		opts.MinTTL = 5 * time.Minute
	}
	if opts.MaxTTL <= 0 {
		opts.MaxTTL = 24 * time.Hour
	}
	if opts.MinTTL > opts.MaxTTL {
		return nil, errors.New("cimd: MinTTL exceeds MaxTTL")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range append(append([]string(nil), opts.AllowDomains...), opts.DenyDomains...) {
		if d == "" || strings.ContainsAny(d, "/:@ ") {
			return nil, fmt.Errorf("cimd: invalid domain %q in allow or deny list", d)
		}
	}
	if opts.InsecureAllowLoopback {
		opts.Logger.Warn("client metadata fetcher allows loopback addresses (InsecureAllowLoopback): for tests only")
	}
	f := &Fetcher{opts: opts, policy: newAddrPolicy(opts.InsecureAllowLoopback), inflight: map[string]*call{}}
	dialer := &net.Dialer{
		Timeout: opts.Timeout,
		// Control runs after resolution, on the address about to be
		// connected: the check and the connection use the same IP.
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("refusing to dial %q", address)
			}
			if !f.policy.allowed(ap.Addr()) {
				return &Error{Reason: "refusing to connect to a special-use address " + ap.Addr().String()}
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy:                  nil, // never an environment proxy: it would dial on our behalf
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    opts.Timeout,
		ResponseHeaderTimeout:  opts.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	f.client = &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is then a non-200 status: an error
		},
	}
	return f, nil
}

// IsClientIDURL reports whether clientID is meant as a metadata document
// URL: it starts with "https://". Such client IDs are never issued by the
// authorization server itself.
func IsClientIDURL(clientID string) bool { return strings.HasPrefix(clientID, "https://") }

// ValidateClientIDURL checks the shape the draft requires of a client
// identifier URL (section 3): https scheme, a host, a path component, no
// "." or ".." path segments, no fragment, no userinfo. A query component is
// discouraged by the draft and refused here, as is anything over 2048 bytes.
func ValidateClientIDURL(s string) error {
	if len(s) > 2048 {
		return fail("client_id URL too long", nil)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fail("client_id is not a valid URL", nil)
	}
	switch {
	case u.Scheme != "https":
		return fail("client_id URL must use https", nil)
	case u.Host == "" || u.Hostname() == "":
		return fail("client_id URL has no host", nil)
	case u.User != nil:
		return fail("client_id URL must not contain userinfo", nil)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fail("client_id URL must not contain a fragment", nil)
	case u.RawQuery != "" || u.ForceQuery:
		return fail("client_id URL must not contain a query", nil)
	case u.Path == "" || u.Path == "/":
		return fail("client_id URL must have a path", nil)
	}
	for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
		if seg == "." || seg == ".." || strings.EqualFold(seg, "%2e") || strings.EqualFold(seg, "%2e%2e") ||
			strings.EqualFold(seg, ".%2e") || strings.EqualFold(seg, "%2e.") {
			return fail("client_id URL must not contain dot segments", nil)
		}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fail("client_id URL has an invalid port", nil)
		}
	}
	return nil
}

// domainAllowed applies the operator's allow and deny lists to host.
func (f *Fetcher) domainAllowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	match := func(list []string) bool {
		for _, d := range list {
			d = strings.ToLower(strings.TrimPrefix(strings.TrimSuffix(d, "."), "."))
			if host == d || strings.HasSuffix(host, "."+d) {
				return true
			}
		}
		return false
	}
	if match(f.opts.DenyDomains) {
		return false
	}
	return len(f.opts.AllowDomains) == 0 || match(f.opts.AllowDomains)
}

// Fetch returns the validated metadata document for clientID, from the
// cache when fresh. Errors are *Error values (or wrap one) and are never
// cached.
func (f *Fetcher) Fetch(ctx context.Context, clientID string) (*oauth.ClientMetadata, error) {
	if err := ValidateClientIDURL(clientID); err != nil {
		return nil, err
	}
	u, _ := url.Parse(clientID)
	if !f.domainAllowed(u.Hostname()) {
		return nil, fail("client_id host is not allowed by policy", nil)
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !f.policy.allowed(ip) {
		return nil, fail("client_id URL names a special-use address", nil)
	}
	now := f.opts.Now()
	if f.opts.Cache != nil {
		if e, err := f.opts.Cache.GetCIMD(ctx, clientID); err == nil && now.Before(e.ExpiresAt) {
			if m, err := f.parse(clientID, e.Document); err == nil {
				return m, nil
			}
		}
	}
	f.mu.Lock()
	if c, ok := f.inflight[clientID]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.meta, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &call{done: make(chan struct{})}
	f.inflight[clientID] = c
	f.mu.Unlock()
	// The fetch is shared by every waiter, so it must not die with the
	// first caller's context; the fetcher's own timeout bounds it.
	c.meta, c.err = f.fetch(context.WithoutCancel(ctx), clientID)
	f.mu.Lock()
	delete(f.inflight, clientID)
	f.mu.Unlock()
	close(c.done)
	if c.err != nil {
		f.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "client metadata fetch failed",
			slog.String("client_id", clientID), slog.String("error", c.err.Error()))
	}
	return c.meta, c.err
}

func (f *Fetcher) fetch(ctx context.Context, clientID string) (*oauth.ClientMetadata, error) {
	body, header, err := f.get(ctx, clientID, f.opts.MaxBytes)
	if err != nil {
		return nil, err
	}
	m, err := f.parse(clientID, body)
	if err != nil {
		return nil, err
	}
	if f.opts.Cache != nil {
		now := f.opts.Now()
		ttl := min(max(cacheTTL(header, now), f.opts.MinTTL), f.opts.MaxTTL)
		err := f.opts.Cache.PutCIMD(ctx, &storage.CIMDEntry{URL: clientID, Document: body, FetchedAt: now, ExpiresAt: now.Add(ttl)})
		if err != nil {
			f.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "client metadata cache write failed", slog.String("error", err.Error()))
		}
	}
	return m, nil
}

// get performs one GET under the SSRF policy and returns the body of a 200
// response of at most limit bytes.
func (f *Fetcher) get(ctx context.Context, rawURL string, limit int64) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, fail("invalid URL", nil)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		var fe *Error
		if errors.As(err, &fe) {
			return nil, nil, fe
		}
		return nil, nil, fail("fetch failed", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, nil, fail(fmt.Sprintf("fetch answered HTTP %d, want 200", resp.StatusCode), nil)
	}
	if resp.ContentLength > limit {
		return nil, nil, fail(fmt.Sprintf("document larger than %d bytes", limit), nil)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fail("reading document failed", err)
	}
	if int64(len(body)) > limit {
		return nil, nil, fail(fmt.Sprintf("document larger than %d bytes", limit), nil)
	}
	return body, resp.Header, nil
}

// parse validates a document against its URL (draft section 4.1).
func (f *Fetcher) parse(clientID string, body []byte) (*oauth.ClientMetadata, error) {
	m, err := ParseDocument(clientID, body)
	if err != nil {
		return nil, err
	}
	if f.opts.Validate != nil {
		if err := f.opts.Validate(m); err != nil {
			return nil, fail("invalid metadata", err)
		}
	}
	return m, nil
}

// ParseDocument decodes a client ID metadata document fetched from
// clientID and applies the draft's rules (section 4.1): the client_id
// member must equal the URL by simple string comparison; the document
// must not carry a client secret or name a shared-secret authentication
// method. Unknown members are ignored.
func ParseDocument(clientID string, body []byte) (*oauth.ClientMetadata, error) {
	m, err := oauth.ParseClientMetadata(body)
	if err != nil {
		return nil, fail("not a valid JSON client metadata object", nil)
	}
	if m.ClientID != clientID {
		return nil, fail("client_id in the document does not match its URL", nil)
	}
	if m.HasClientSecret {
		return nil, fail("document must not contain a client secret", nil)
	}
	switch m.TokenEndpointAuthMethod {
	case "", oauth.AuthNone, oauth.AuthPrivateKeyJWT:
	default:
		return nil, fail("token_endpoint_auth_method must be none or private_key_jwt", nil)
	}
	return m, nil
}

// FetchJWKS retrieves a JWK Set from a client's jwks_uri under the same
// address policy (https only, no redirects, special-use addresses refused)
// with MaxJWKSBytes as the cap. It returns the raw, syntactically checked
// JSON object; JWK Sets are not cached, as a key rotation must be seen at
// once.
func (f *Fetcher) FetchJWKS(ctx context.Context, uri string) ([]byte, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return nil, fail("jwks_uri must be an https URL", nil)
	}
	if !f.domainAllowed(u.Hostname()) {
		return nil, fail("jwks_uri host is not allowed by policy", nil)
	}
	body, _, err := f.get(ctx, uri, f.opts.MaxJWKSBytes)
	if err != nil {
		return nil, err
	}
	if err := jsonx.Validate(body, 8); err != nil || !jsonx.IsObject(body) {
		return nil, fail("jwks_uri did not return a JSON object", nil)
	}
	return body, nil
}

// cacheTTL is the freshness lifetime RFC 9111 section 4.2.1 gives the
// response: max-age, else Expires minus Date; zero when no-store or
// no-cache forbid reuse or nothing says.
func cacheTTL(h http.Header, now time.Time) time.Duration {
	maxAge := int64(-1)
	for _, v := range h.Values("Cache-Control") {
		for dir := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err != nil || n < 0 {
					return 0
				}
				maxAge = min(n, 1<<31)
			}
		}
	}
	if maxAge >= 0 {
		return time.Duration(maxAge) * time.Second
	}
	if exp := h.Get("Expires"); exp != "" {
		t, err := http.ParseTime(exp)
		if err != nil {
			return 0
		}
		date := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			date = d
		}
		if t.After(date) {
			return t.Sub(date)
		}
	}
	return 0
}
