package credentials

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// RFC 8693 section 3 token type identifiers and the grant type.
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
)

// TokenExchangeOptions configures a TokenExchange. TokenURL, ClientID and
// Resource or Audience are required.
type TokenExchangeOptions struct {
	// TokenURL is the authorization server's token endpoint.
	TokenURL string
	// ClientID and ClientSecret authenticate the gateway
	// (client_secret_basic, RFC 6749 section 2.3.1).
	ClientID     string
	ClientSecret string
	// ClientSecretSource, if set, is called for the secret at each
	// exchange instead of using ClientSecret, so that a rotated secret is
	// used without a restart.
	ClientSecretSource func() string
	// Resource (RFC 8707) and Audience name the upstream the new token is
	// for; Scopes narrow it.
	Resource string
	Audience string
	Scopes   []string
	// MaxEntries bounds the cache. If zero, 10000.
	MaxEntries int
	// HTTPClient sends the requests. If nil, a client with a 10s timeout.
	HTTPClient *http.Client
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// TokenExchange obtains upstream tokens by RFC 8693 token exchange. It is
// safe for concurrent use; concurrent requests for the same subject token
// share one exchange.
type TokenExchange struct {
	o      TokenExchangeOptions
	client *http.Client
	now    func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]*exchanged
}

type exchanged struct {
	done    chan struct{}
	owner   Owner
	token   string
	expires time.Time
	err     error
}

// Owner identifies the access token an exchange was made for, so that the
// upstream token obtained for it can be dropped when that token is
// revoked ([TokenExchange.Drop]).
type Owner struct {
	Issuer   string
	TokenID  string // "jti"
	GrantID  string // "sid"
	Subject  string
	ClientID string
	IssuedAt time.Time
}

// ErrExchange reports a token exchange the authorization server refused.
var ErrExchange = errors.New("credentials: token exchange refused")

// NewTokenExchange returns a TokenExchange for o.
func NewTokenExchange(o TokenExchangeOptions) (*TokenExchange, error) {
	if u, err := url.Parse(o.TokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("credentials: token URL %q must be an absolute http(s) URL", o.TokenURL)
	}
	if o.ClientID == "" {
		return nil, errors.New("credentials: token exchange needs a client id")
	}
	if o.Resource == "" && o.Audience == "" {
		return nil, errors.New("credentials: token exchange needs a resource or an audience")
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10000
	}
	c := o.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &TokenExchange{o: o, client: c, now: now, cache: map[[32]byte]*exchanged{}}, nil
}

// Token returns an access token for the upstream on behalf of the holder
// of subjectToken (RFC 8693 section 2.1).
func (t *TokenExchange) Token(ctx context.Context, subjectToken string) (string, error) {
	return t.TokenFor(ctx, subjectToken, Owner{})
}

// TokenFor is Token for a subject token described by owner, which is kept
// with the cached result for [TokenExchange.Drop].
func (t *TokenExchange) TokenFor(ctx context.Context, subjectToken string, owner Owner) (string, error) {
	if subjectToken == "" {
		return "", errors.New("credentials: no subject token to exchange")
	}
	key := sha256.Sum256([]byte(subjectToken))
	now := t.now()
	t.mu.Lock()
	e := t.cache[key]
	if e != nil {
		select {
		case <-e.done:
			if e.err != nil || !now.Before(e.expires) {
				delete(t.cache, key)
				e = nil
			}
		default:
		}
	}
	if e == nil {
		if len(t.cache) >= t.o.MaxEntries {
			t.evictLocked(now)
		}
		e = &exchanged{done: make(chan struct{}), owner: owner}
		t.cache[key] = e
		t.mu.Unlock()
		e.token, e.expires, e.err = t.exchange(context.WithoutCancel(ctx), subjectToken)
		close(e.done)
	} else {
		t.mu.Unlock()
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return e.token, e.err
}

// Drop forgets every cached upstream token whose owner matches, so that
// a revoked subject token's upstream token is neither reused nor kept in
// memory. It returns how many it dropped. An exchange in flight finishes
// for the requests already waiting on it, which were authorized before
// the revocation, but its result is not kept.
func (t *TokenExchange) Drop(match func(Owner) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, e := range t.cache {
		if match(e.owner) {
			delete(t.cache, k)
			n++
		}
	}
	return n
}

// Len returns the number of cached exchanges.
func (t *TokenExchange) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.cache)
}

func (t *TokenExchange) evictLocked(now time.Time) {
	for k, e := range t.cache {
		select {
		case <-e.done:
			if e.err != nil || !now.Before(e.expires) {
				delete(t.cache, k)
			}
		default:
		}
	}
	for k := range t.cache { // still full: drop one arbitrary entry
		if len(t.cache) < t.o.MaxEntries {
			break
		}
		delete(t.cache, k)
	}
}

type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Error           string `json:"error"`
	ErrorDesc       string `json:"error_description"`
}

func (t *TokenExchange) exchange(ctx context.Context, subjectToken string) (string, time.Time, error) {
	form := url.Values{
		"grant_type":           {GrantTypeTokenExchange},
		"subject_token":        {subjectToken},
		"subject_token_type":   {TokenTypeAccessToken},
		"requested_token_type": {TokenTypeAccessToken},
	}
	if t.o.Resource != "" {
		form.Set("resource", t.o.Resource)
	}
	if t.o.Audience != "" {
		form.Set("audience", t.o.Audience)
	}
	if len(t.o.Scopes) > 0 {
		form.Set("scope", strings.Join(t.o.Scopes, " "))
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.o.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 section 2.3.1: client_id and secret are form-encoded
	// before Basic encoding.
	secret := t.o.ClientSecret
	if t.o.ClientSecretSource != nil {
		secret = t.o.ClientSecretSource()
	}
	req.SetBasicAuth(url.QueryEscape(t.o.ClientID), url.QueryEscape(secret))
	start := t.now()
	resp, err := t.client.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("credentials: token exchange: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("credentials: token exchange: %w", err)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", time.Time{}, fmt.Errorf("credentials: token exchange answered %d with no JSON", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK || tr.Error != "" {
		return "", time.Time{}, fmt.Errorf("%w: %s %s", ErrExchange, tr.Error, tr.ErrorDesc)
	}
	if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "bearer") {
		return "", time.Time{}, fmt.Errorf("%w: no bearer access token in the response", ErrExchange)
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Minute // no expires_in: reuse briefly only
	}
	// Stop using a token a little before it expires, so it never expires
	// in flight.
	margin := life / 10
	if margin > 30*time.Second {
		margin = 30 * time.Second
	}
	return tr.AccessToken, start.Add(life - margin), nil
}
