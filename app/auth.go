package app

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/scopes"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/oauth/dpop"
	"github.com/mcpfort/mcpfort/resourceserver"
	"github.com/mcpfort/mcpfort/transport"
)

// routeResource is the canonical URI clients dial for a route: the MCP
// resource identifier tokens must be issued for (RFC 8707).
func routeResource(cfg *config.Config, s config.Server) (string, error) {
	return resourceserver.CanonicalResource(cfg.PublicURL + s.Path)
}

// buildVerifier turns auth.issuers into one cached Verifier: JWTs routed
// by issuer, opaque tokens to the (first) introspection endpoint.
func (a *App) buildVerifier(resources []string) (resourceserver.Verifier, error) {
	ac := a.cfg.Auth
	issuers := ac.Issuers
	embedded := a.cfg.EmbeddedIssuer()
	if embedded != "" {
		issuers = append([]config.Issuer{{Issuer: embedded}}, issuers...)
	}
	if len(issuers) == 0 {
		return nil, nil
	}
	if ac.InsecureAllowHTTP {
		a.log.Warn("auth.insecure_allow_http is set: issuers over plain http are trusted (development only)")
	}
	claims := ruleClaims(a.cfg.Servers)
	var mo resourceserver.MultiOptions
	for i, is := range issuers {
		// The embedded issuer may be plain http on loopback (local
		// development), as the authorization server itself allows.
		insecure := ac.InsecureAllowHTTP || (is.Issuer == embedded && strings.HasPrefix(embedded, "http://"))
		jv, err := resourceserver.NewJWTVerifier(resourceserver.JWTOptions{
			Issuer: is.Issuer, Audiences: resources, JWKSURL: is.JWKSURL, Algorithms: is.Algorithms, Types: is.TokenTypes,
			Logger: a.log, InsecureAllowHTTP: insecure, GroupsClaim: is.GroupsClaim, Claims: claims,
		})
		if err != nil {
			return nil, fmt.Errorf("auth.issuers[%d]: %w", i, err)
		}
		mo.Issuers = append(mo.Issuers, jv)
		if in := is.Introspection; in != nil && mo.Opaque == nil {
			secret, err := a.secret(context.Background(), fmt.Sprintf("auth.issuers[%d].introspection.client_secret", i), in.ClientSecret)
			if err != nil {
				return nil, err
			}
			iv, err := resourceserver.NewIntrospectionVerifier(resourceserver.IntrospectionOptions{
				Issuer: is.Issuer, Endpoint: in.URL, ClientID: in.ClientID,
				ClientSecretSource: func() resourceserver.Secret { return resourceserver.Secret(strings.TrimSpace(secret.Value().Reveal())) },
				Audiences:          resources, Logger: a.log, GroupsClaim: is.GroupsClaim, Claims: claims,
			})
			if err != nil {
				return nil, fmt.Errorf("auth.issuers[%d].introspection: %w", i, err)
			}
			mo.Opaque = iv
		}
	}
	multi, err := resourceserver.NewMulti(mo)
	if err != nil {
		return nil, err
	}
	// missMarker under the cache and observedVerifier over it tell a
	// cache hit from a verification, for the token metrics.
	co := resourceserver.CacheOptions{MaxEntries: ac.CacheMaxEntries, MaxAge: ac.CacheMaxAge.D()}
	if a.revs != nil {
		// The embedded server's revocations apply to cached tokens too.
		co.Revocations = a.revs.checker(a.as)
	}
	cache, err := resourceserver.NewCache(missMarker{multi}, co)
	if err != nil {
		return nil, err
	}
	return observedVerifier{Verifier: cache, tel: a.tel}, nil
}

// ruleClaims lists the claims that some route's rules decide on, which
// the verifiers copy into principals.
func ruleClaims(servers []config.Server) []string {
	set := map[string]bool{}
	for _, s := range servers {
		for _, m := range []map[string]config.Requirement{s.Auth.Methods, s.Auth.Tools, s.Auth.Prompts, s.Auth.Resources} {
			for _, r := range m {
				for c := range r.Claims {
					set[c] = true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// guard holds what protects one route.
type guard struct {
	mw     *resourceserver.Middleware
	prm    *resourceserver.MetadataHandler
	groups []string // auth.groups: who may use the route at all
}

// routeGuard builds the token middleware, the protected resource metadata
// and the scope policy of a route that requires authorization.
func (a *App) routeGuard(s config.Server, v resourceserver.Verifier) (*guard, gateway.Middleware, error) {
	if !*s.Auth.Required {
		return nil, nil, nil
	}
	resource, err := routeResource(a.cfg, s)
	if err != nil {
		return nil, nil, err
	}
	var issuers []string
	if e := a.cfg.EmbeddedIssuer(); e != "" {
		issuers = append(issuers, e)
	}
	for _, is := range a.cfg.Auth.Issuers {
		issuers = append(issuers, is.Issuer)
	}
	supported := s.Auth.ScopesSupported
	if supported == nil {
		supported = allScopes(s.Auth)
	}
	// RFC 9449 section 7: DPoP-bound tokens are accepted with their
	// proofs on every route, and only they where require_dpop is set.
	// The proof names the route's URL, so a per-route replay cache
	// suffices; replicas share it through state.redis.
	replay, err := a.dpopReplay("route:" + resource)
	if err != nil {
		return nil, nil, err
	}
	dpopOpts := &resourceserver.DPoPOptions{Replay: replay, Required: s.Auth.RequireDPoP}
	if s.Auth.DPoPNonce {
		if dpopOpts.Nonces, err = a.routeNonces(resource); err != nil {
			return nil, nil, err
		}
	}
	prm, err := resourceserver.NewMetadataHandler(resourceserver.MetadataOptions{
		Resource: resource, AuthorizationServers: issuers, ScopesSupported: supported, ResourceName: s.Name, DPoP: dpopOpts,
	})
	if err != nil {
		return nil, nil, err
	}
	mw, err := resourceserver.NewMiddleware(resourceserver.MiddlewareOptions{
		Verifier: v, Resource: resource, ResourceMetadataURL: prm.URL(), Scopes: s.Auth.Scopes,
		Logger: a.log.With("route", s.Name),
		DPoP:   dpopOpts,
	})
	if err != nil {
		return nil, nil, err
	}
	var methods map[string]scopes.Requirement
	for m, r := range s.Auth.Methods {
		if methods == nil {
			methods = map[string]scopes.Requirement{}
		}
		methods[m] = scopes.Requirement{Scopes: r.Scopes, Groups: r.Groups, Claims: r.Claims}
	}
	pol := scopes.New(scopes.Options{
		Methods: methods, Tools: rules(s.Auth.Tools), Prompts: rules(s.Auth.Prompts), Resources: rules(s.Auth.Resources),
		ResourceMetadata: prm.URL(),
	})
	return &guard{mw: mw, prm: prm, groups: s.Auth.Groups}, pol, nil
}

// rotatingNonces are the routes' DPoP nonce sources
// (servers[].auth.dpop_nonce). They are keyed by the session secrets and
// follow their rotations as the keyring does (sessionKeyring): each
// rotation hands them the keyring's new list, in which the replaced value
// stays, so a nonce issued before the rotation is still accepted.
type rotatingNonces struct {
	mu  sync.Mutex
	all []*dpop.Nonces
}

// routeNonces returns the nonce source of the route at resource (the
// purpose: a nonce of one route is no good at another).
func (a *App) routeNonces(resource string) (*dpop.Nonces, error) {
	a.nonces.mu.Lock()
	defer a.nonces.mu.Unlock()
	secrets, err := a.sessionSecrets()
	if err != nil {
		return nil, err
	}
	n, err := dpop.NewNonces(dpop.NoncesOptions{Secrets: secrets, Purpose: resource})
	if err != nil {
		return nil, err
	}
	a.nonces.all = append(a.nonces.all, n)
	return n, nil
}

// replace gives every route's nonces the session secrets after a
// rotation, newest first; the keyring has accepted the same list.
func (r *rotatingNonces) replace(secrets [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.all {
		_ = n.Replace(secrets...)
	}
}

func rules(m map[string]config.Requirement) []scopes.Rule {
	var out []scopes.Rule
	for k, r := range m {
		out = append(out, scopes.Rule{Pattern: k, Scopes: r.Scopes, Groups: r.Groups, Claims: r.Claims})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pattern < out[j].Pattern })
	return out
}

func allScopes(ra config.RouteAuth) []string {
	set := map[string]bool{}
	for _, s := range ra.Scopes {
		set[s] = true
	}
	for _, m := range []map[string]config.Requirement{ra.Methods, ra.Tools, ra.Prompts, ra.Resources} {
		for _, r := range m {
			for _, s := range r.Scopes {
				set[s] = true
			}
		}
	}
	delete(set, "offline_access")
	var out []string
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

type subjectTokenKey struct{}

// protect authenticates every request of a route (RFC 6750, RFC 9728, MCP
// basic/authorization): 401 with a challenge naming the metadata when the
// token is missing or bad, 403 when it lacks a route scope. The principal
// goes into the context; the client's token stays only there, for an RFC
// 8693 exchange, and the Authorization header is removed before the
// gateway sees the request, so it can never be forwarded.
//
// Origin and Host are checked first, as on open routes: a foreign origin is
// 403 whether or not it holds a token.
func protect(g *guard, origin *transport.OriginPolicy, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := origin.Check(r); err != nil {
			transport.WriteError(w, http.StatusForbidden, jsonrpc.ID{}, jsonrpc.NewError(jsonrpc.CodeInvalidRequest, "Forbidden: "+err.Error()))
			return
		}
		p, err := g.mw.Authenticate(r)
		if err != nil {
			g.mw.WriteError(w, r, err)
			return
		}
		if len(g.groups) > 0 && !inAnyGroup(p.Groups, g.groups) {
			// Not a scope matter (RFC 6750 section 3.1 insufficient_scope
			// would send the client to ask for a token it cannot get):
			// a plain 403 with the gateway's Forbidden error.
			transport.WriteError(w, http.StatusForbidden, jsonrpc.ID{}, jsonrpc.NewError(jsonrpc.CodeForbidden, "Forbidden: the caller may not use this server"))
			return
		}
		tok, _ := resourceserver.BearerToken(r, 0)
		if tok == "" {
			tok, _, _ = resourceserver.ParseDPoPAuthorization(r.Header.Get("Authorization"))
		}
		g.mw.NextNonce(w, p)
		ctx := resourceserver.ContextWithPrincipal(r.Context(), p)
		ctx = context.WithValue(ctx, subjectTokenKey{}, tok)
		// The server owns this request's header map: drop the token from
		// it rather than copying the map.
		r.Header.Del("Authorization")
		r.Header.Del("DPoP")
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func inAnyGroup(have, want []string) bool {
	for _, h := range have {
		if slices.Contains(want, h) {
			return true
		}
	}
	return false
}

// principalFrom maps the resource server's principal onto the gateway's.
func principalFrom(ctx context.Context) *gateway.Principal {
	p := resourceserver.PrincipalFromContext(ctx)
	if p == nil {
		return nil
	}
	return &gateway.Principal{Issuer: p.Issuer, Subject: p.Subject, ClientID: p.ClientID, Scopes: p.Scopes, Groups: p.Groups, Claims: p.Claims}
}

// subjectToken returns the client's access token kept in ctx by protect.
func subjectToken(ctx context.Context) string {
	s, _ := ctx.Value(subjectTokenKey{}).(string)
	return s
}
