package authserver

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// resource is a configured protected resource, normalized.
type resource struct {
	uri          string // as configured: the "aud" value
	key          string // normalized for matching
	name         string
	scopes       []string
	defaults     []string
	base         []string // every allowed user may hold these
	grants       []Grant
	groups       []string // if set, only members may use the resource
	exchangeOnly bool
	desc         map[string]string
	lifetime     time.Duration
}

// scopeOfflineAccess asks for a refresh token (OpenID Connect Core 1.0
// section 11). It is accepted on any request and never put in an access
// token unless a resource declares it.
const scopeOfflineAccess = "offline_access"

// OpenID Connect scopes (OpenID Connect Core 1.0 sections 3.1.2.1 and
// 5.4): openid asks for an ID token; profile and email for those claims
// in it and at the UserInfo endpoint.
const (
	scopeOpenID  = "openid"
	scopeProfile = "profile"
	scopeEmail   = "email"
)

// userinfoScope reports whether sc is one of the OpenID Connect scopes.
func userinfoScope(sc string) bool {
	return sc == scopeOpenID || sc == scopeProfile || sc == scopeEmail
}

func (s *Server) initResources() error {
	if len(s.opts.Resources) == 0 {
		return errors.New("at least one Resource is required")
	}
	var problems []error
	seen := map[string]bool{}
	for i, r := range s.opts.Resources {
		key, err := resourceKey(r.URI)
		if err != nil {
			problems = append(problems, fmt.Errorf("option Resources[%d]: %w", i, err))
			continue
		}
		if seen[key] {
			problems = append(problems, fmt.Errorf("option Resources[%d]: duplicate URI %q", i, r.URI))
		}
		seen[key] = true
		for _, sc := range append(slices.Clone(r.Scopes), r.DefaultScopes...) {
			if got, err := oauth.ParseScope(sc); err != nil || len(got) != 1 || got[0] != sc {
				problems = append(problems, fmt.Errorf("option Resources[%d]: invalid scope %q", i, sc))
			}
		}
		if !containsAll(r.Scopes, r.DefaultScopes) {
			problems = append(problems, fmt.Errorf("option Resources[%d]: DefaultScopes must be among Scopes", i))
		}
		base := r.BaseScopes
		if base == nil {
			base = r.DefaultScopes
		}
		if !containsAll(r.Scopes, base) {
			problems = append(problems, fmt.Errorf("option Resources[%d]: BaseScopes must be among Scopes", i))
		}
		for j, g := range r.Grants {
			if !containsAll(r.Scopes, g.Scopes) || len(g.Scopes) == 0 {
				problems = append(problems, fmt.Errorf("option Resources[%d].Grants[%d]: Scopes must be among the resource's Scopes", i, j))
			}
			if len(g.Groups) == 0 {
				problems = append(problems, fmt.Errorf("option Resources[%d].Grants[%d]: Groups is required (\"*\" for every user)", i, j))
			}
		}
		lt := r.AccessTokenLifetime
		if lt == 0 {
			lt = s.opts.AccessTokenLifetime
		}
		name := r.Name
		if name == "" {
			name = r.URI
		}
		s.resources = append(s.resources, &resource{uri: r.URI, key: key, name: name, scopes: r.Scopes,
			defaults: r.DefaultScopes, base: base, grants: r.Grants, groups: r.Groups, exchangeOnly: r.ExchangeOnly,
			desc: r.ScopeDescriptions, lifetime: lt})
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	switch {
	case s.opts.DefaultResource != "":
		r, err := s.findResource(s.opts.DefaultResource)
		if err != nil {
			return fmt.Errorf("DefaultResource %q is not one of Resources", s.opts.DefaultResource)
		}
		s.defaultResource = r
	case len(s.resources) == 1:
		s.defaultResource = s.resources[0]
	}
	if s.defaultResource != nil && s.defaultResource.exchangeOnly {
		return fmt.Errorf("DefaultResource %q is exchange-only", s.defaultResource.uri)
	}
	return nil
}

// resourceKey validates a resource indicator (RFC 8707 section 2: "an
// absolute URI ... MUST NOT include a fragment component") and normalizes
// it for comparison: scheme and host are case-insensitive (RFC 3986
// section 6.2.2.1) and trailing slashes on the path are ignored (the MCP
// canonical-URI guidance lets clients send either form).
func resourceKey(raw string) (string, error) {
	if len(raw) > 2048 {
		return "", errors.New("resource too long")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("resource %q is not an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", fmt.Errorf("resource %q must not contain a fragment", raw)
	}
	if u.User != nil {
		return "", fmt.Errorf("resource %q must not contain userinfo", raw)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u.String(), nil
}

func (s *Server) findResource(raw string) (*resource, error) {
	key, err := resourceKey(raw)
	if err != nil {
		return nil, oauth.Wrap(oauth.InvalidTarget, "resource must be an absolute URI without fragment", err)
	}
	for _, r := range s.resources {
		if r.key == key {
			return r, nil
		}
	}
	return nil, oauth.NewError(oauth.InvalidTarget, "resource is not served by this authorization server")
}

// resolveResources maps the request's "resource" values (RFC 8707
// section 2) to configured resources: each must be one, and none may be
// exchange-only (those are reached only by token exchange); none means
// the default resource.
func (s *Server) resolveResources(values []string) ([]*resource, error) {
	if len(values) == 0 {
		if s.defaultResource == nil {
			return nil, oauth.NewError(oauth.InvalidTarget, "resource is required")
		}
		return []*resource{s.defaultResource}, nil
	}
	if len(values) > 16 {
		return nil, oauth.NewError(oauth.InvalidTarget, "too many resource values")
	}
	var out []*resource
	for _, v := range values {
		r, err := s.findResource(v)
		if err != nil {
			return nil, err
		}
		if r.exchangeOnly {
			return nil, oauth.NewError(oauth.InvalidTarget, "resource is available only through token exchange")
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// requestScopes reads a scope parameter (RFC 6749 section 3.3) for the
// resources rs. Scopes that no resource defines are ignored, as section
// 3.3 allows ("The authorization server MAY fully or partially ignore the
// scope requested by the client"): MCP clients that find no scope to ask
// for fall back to OpenID scopes, and refusing those would fail a request
// that can be served. offline_access is kept (it asks for a refresh
// token). When none of the resources' scopes remains, the resources'
// default scopes are requested. A client registered with a scope (RFC
// 7591 section 2) never gets more than it registered of the kinds it
// named (resource scopes, OpenID scopes).
func requestScopes(param string, rs []*resource, registered string) ([]string, error) {
	req, err := oauth.ParseScope(param)
	if err != nil {
		return nil, err
	}
	var out, oidc []string
	offline := false
	for _, sc := range req {
		switch {
		case sc == scopeOfflineAccess:
			offline = true
		case userinfoScope(sc):
			// profile and email mean something only with openid.
			if slices.Contains(req, scopeOpenID) && !slices.Contains(oidc, sc) {
				oidc = append(oidc, sc)
			}
		case definedBy(rs, sc) && !slices.Contains(out, sc):
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		for _, r := range rs {
			out = union(out, r.defaults)
		}
	}
	out = append(out, oidc...)
	if registered != "" {
		// The registered scope limits the kinds of scope it names: a
		// client that registered only OpenID scopes (not knowing the
		// resource's) is not thereby denied the resource's defaults.
		allowed, _ := oauth.ParseScope(registered)
		limitsResource := slices.ContainsFunc(allowed, func(sc string) bool { return definedBy(rs, sc) })
		limitsOIDC := slices.ContainsFunc(allowed, userinfoScope)
		out = slices.DeleteFunc(out, func(sc string) bool {
			if slices.Contains(allowed, sc) {
				return false
			}
			if userinfoScope(sc) {
				return limitsOIDC
			}
			return limitsResource
		})
		if !slices.Contains(out, scopeOpenID) {
			out = slices.DeleteFunc(out, userinfoScope)
		}
	}
	if offline {
		out = append(out, scopeOfflineAccess)
	}
	return out, nil
}

func definedBy(rs []*resource, sc string) bool {
	for _, r := range rs {
		if slices.Contains(r.scopes, sc) {
			return true
		}
	}
	return false
}

// errNotAllowed: the user may not use a requested resource.
var errNotAllowed = oauth.NewError(oauth.AccessDenied, "the user is not allowed to use the requested resource")

// userScopes narrows scopes to what user may hold for the resources rs:
// each resource's base scopes and the scopes of the grants whose groups
// the user is in. A resource restricted to groups the user is not in is
// errNotAllowed. offline_access is kept.
func userScopes(user *storage.User, rs []*resource, scopes []string) ([]string, error) {
	var allowed []string
	for _, r := range rs {
		if len(r.groups) > 0 && !memberOf(user, r.groups) {
			return nil, errNotAllowed
		}
		allowed = union(allowed, r.base)
		for _, g := range r.grants {
			if memberOf(user, g.Groups) {
				allowed = union(allowed, g.Scopes)
			}
		}
	}
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		if sc == scopeOfflineAccess || userinfoScope(sc) || slices.Contains(allowed, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// memberOf reports whether the user is in one of groups ("*": anyone).
func memberOf(user *storage.User, groups []string) bool {
	for _, g := range groups {
		if g == "*" || slices.Contains(user.Groups, g) {
			return true
		}
	}
	return false
}

// tokenScopes is the part of the granted scopes meaningful to the token's
// audience, plus the OpenID Connect scopes, which the UserInfo endpoint
// reads from the access token.
func tokenScopes(granted []string, aud []*resource) []string {
	var out []string
	for _, sc := range granted {
		if userinfoScope(sc) {
			out = append(out, sc)
			continue
		}
		for _, r := range aud {
			if slices.Contains(r.scopes, sc) {
				out = append(out, sc)
				break
			}
		}
	}
	return out
}

func (s *Server) resourcesByURI(uris []string) []*resource {
	var out []*resource
	for _, u := range uris {
		if r, err := s.findResource(u); err == nil {
			out = append(out, r)
		}
	}
	return out
}

func resourceURIs(rs []*resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.uri
	}
	return out
}

// tokenLifetime is the resource's own lifetime for a single audience, the
// server default otherwise.
func (s *Server) tokenLifetime(aud []*resource) time.Duration {
	if len(aud) == 1 {
		return aud[0].lifetime
	}
	return s.opts.AccessTokenLifetime
}
