package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// asMetadata is what the vault reads of authorization server metadata
// (RFC 8414 section 2).
type asMetadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	RegistrationEndpoint  string   `json:"registration_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
	CIMD                  bool     `json:"client_id_metadata_document_supported"`
	ResponseIssParameter  bool     `json:"authorization_response_iss_parameter_supported"`
}

// resourceMetadata is what the vault reads of protected resource metadata
// (RFC 9728 section 2).
type resourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
}

const maxMetadata = 256 << 10

// metadata returns the authorization server's metadata: the configured
// issuer's, or the first server the upstream's protected resource metadata
// names. Found once, then kept.
func (u *Upstream) metadata(ctx context.Context) (*asMetadata, error) {
	u.mu.Lock()
	m := u.meta
	u.mu.Unlock()
	if m != nil {
		return m, nil
	}
	issuer := u.opts.Issuer
	var scopes []string
	if issuer == "" {
		rm, err := u.resourceMetadata(ctx)
		if err != nil {
			return nil, err
		}
		if len(rm.AuthorizationServers) == 0 {
			return nil, errors.New("vault: the upstream's resource metadata names no authorization server")
		}
		issuer, scopes = rm.AuthorizationServers[0], rm.ScopesSupported
	}
	m, err := u.asMetadata(ctx, issuer)
	if err != nil {
		return nil, err
	}
	// PKCE is required (OAuth 2.1; 2025-11-25 basic/authorization): a
	// server that does not say it supports S256 is not used.
	if !contains(m.CodeChallengeMethods, "S256") {
		return nil, fmt.Errorf("vault: %s does not advertise PKCE S256", issuer)
	}
	u.mu.Lock()
	u.meta = m
	if len(u.scopes) == 0 {
		u.scopes = scopes
	}
	u.mu.Unlock()
	return m, nil
}

// resourceMetadata fetches the upstream's protected resource metadata:
// first at its well-known address (RFC 9728 section 3.1, the path after
// the well-known suffix), then where an unauthenticated request's
// WWW-Authenticate challenge points (section 5.1). The metadata's
// resource must be the upstream's (section 3.3).
func (u *Upstream) resourceMetadata(ctx context.Context) (*resourceMetadata, error) {
	pu, err := url.Parse(u.opts.URL)
	if err != nil {
		return nil, err
	}
	candidates := []string{pu.Scheme + "://" + pu.Host + "/.well-known/oauth-protected-resource" + strings.TrimRight(pu.EscapedPath(), "/")}
	if c := u.challengeMetadataURL(ctx); c != "" {
		candidates = append([]string{c}, candidates...)
	}
	var last error
	for _, c := range candidates {
		var rm resourceMetadata
		if err := u.getJSON(ctx, c, &rm); err != nil {
			last = err
			continue
		}
		if rm.Resource != u.opts.Resource && rm.Resource != u.opts.URL {
			last = fmt.Errorf("vault: resource metadata at %s is for %q, not %q", c, rm.Resource, u.opts.Resource)
			continue
		}
		return &rm, nil
	}
	return nil, fmt.Errorf("vault: protected resource metadata of %s: %w", u.opts.URL, last)
}

// challengeMetadataURL reads resource_metadata from the upstream's 401
// challenge to a request without a token.
func (u *Upstream) challengeMetadataURL(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.opts.URL, bytes.NewReader([]byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)))
	if err != nil {
		return ""
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := u.v.opts.HTTPClient.Do(req)
	if err != nil {
		return ""
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return ""
	}
	for _, h := range resp.Header.Values("WWW-Authenticate") {
		if v := challengeParam(h, "resource_metadata"); v != "" {
			return v
		}
	}
	return ""
}

// challengeParam returns a quoted or token parameter of an RFC 6750
// challenge.
func challengeParam(h, name string) string {
	i := strings.Index(h, name+"=")
	if i < 0 || (i > 0 && h[i-1] != ' ' && h[i-1] != ',') {
		return ""
	}
	v := h[i+len(name)+1:]
	if strings.HasPrefix(v, `"`) {
		if j := strings.IndexByte(v[1:], '"'); j >= 0 {
			return v[1 : j+1]
		}
		return ""
	}
	if j := strings.IndexAny(v, ", "); j >= 0 {
		v = v[:j]
	}
	if strings.ContainsRune(v, '"') {
		return "" // not a token (RFC 9110 section 5.6.2)
	}
	return v
}

// asMetadata fetches issuer's metadata (RFC 8414 section 3: the
// well-known suffix inserted before the issuer's path; OpenID Connect
// Discovery's address as the fallback) and checks that it names the same
// issuer (section 3.3).
func (u *Upstream) asMetadata(ctx context.Context, issuer string) (*asMetadata, error) {
	pu, err := url.Parse(issuer)
	if err != nil || pu.Host == "" {
		return nil, fmt.Errorf("vault: bad issuer %q", issuer)
	}
	path := strings.TrimRight(pu.EscapedPath(), "/")
	base := pu.Scheme + "://" + pu.Host
	var last error
	for _, c := range []string{base + "/.well-known/oauth-authorization-server" + path, base + "/.well-known/openid-configuration" + path,
		strings.TrimRight(issuer, "/") + "/.well-known/openid-configuration"} {
		var m asMetadata
		if err := u.getJSON(ctx, c, &m); err != nil {
			last = err
			continue
		}
		if m.Issuer != issuer {
			last = fmt.Errorf("vault: metadata at %s names issuer %q, not %q", c, m.Issuer, issuer)
			continue
		}
		if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" {
			last = fmt.Errorf("vault: metadata at %s lacks the authorization or token endpoint", c)
			continue
		}
		return &m, nil
	}
	return nil, fmt.Errorf("vault: authorization server metadata of %s: %w", issuer, last)
}

func (u *Upstream) getJSON(ctx context.Context, addr string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := u.v.opts.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", addr, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadata+1))
	if err != nil {
		return err
	}
	if len(b) > maxMetadata {
		return fmt.Errorf("GET %s: metadata too large", addr)
	}
	return json.Unmarshal(b, v)
}

// clientID returns the client the gateway is at the server: the
// configured one; its metadata document's URL where the server supports
// them; else one registered dynamically (RFC 7591) as a public client, once
// per process (the id travels in the sealed state, so any replica
// completes the flow).
func (u *Upstream) clientID(ctx context.Context, meta *asMetadata) (string, error) {
	switch {
	case u.opts.ClientID != "":
		return u.opts.ClientID, nil
	case u.opts.ClientMetadataURL != "" && meta.CIMD:
		return u.opts.ClientMetadataURL, nil
	case meta.RegistrationEndpoint == "":
		return "", errors.New("vault: no client configured and the authorization server offers no dynamic registration")
	}
	u.dcrMu.Lock()
	defer u.dcrMu.Unlock()
	if u.dcrID != "" {
		return u.dcrID, nil
	}
	if time.Now().Before(u.dcrUntil) {
		return "", errors.New("vault: dynamic registration failed recently")
	}
	body, _ := json.Marshal(map[string]any{
		"client_name": "mcpfort", "redirect_uris": []string{u.v.opts.PublicURL + CallbackPath},
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"token_endpoint_auth_method": "none",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, meta.RegistrationEndpoint, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := u.v.opts.HTTPClient.Do(req)
	if err != nil {
		u.dcrUntil = time.Now().Add(10 * time.Second)
		return "", fmt.Errorf("vault: dynamic registration: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		ClientID string `json:"client_id"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxMetadata))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.ClientID == "" {
		u.dcrUntil = time.Now().Add(10 * time.Second)
		return "", fmt.Errorf("vault: dynamic registration refused (status %d)", resp.StatusCode)
	}
	u.dcrID = out.ClientID
	return u.dcrID, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
