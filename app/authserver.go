package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/mcpfort/mcpfort/authserver"
	"github.com/mcpfort/mcpfort/gateway/vault"
	"github.com/mcpfort/mcpfort/oauth/dpop"
	"github.com/mcpfort/mcpfort/secrets"
	"github.com/mcpfort/mcpfort/storage"
	redisstate "github.com/mcpfort/mcpfort/storage/redis"
)

// buildAuthServer starts the embedded authorization server: its store
// (state.database), its key-encryption key, one resource per protected
// route, and a first local user when there is none.
func (a *App) buildAuthServer(ctx context.Context) error {
	ac := a.cfg.AuthServer
	if !ac.Enabled {
		return nil
	}
	store, err := a.database(ctx)
	if err != nil {
		return fmt.Errorf("authserver store: %w", err)
	}
	ring, err := a.keyEncryptionKeys()
	if err != nil {
		return err
	}
	kek, opening := ring.keys()
	previous := opening[1:]
	opts := authserver.Options{
		Issuer: a.cfg.EmbeddedIssuer(), Store: store, KeyEncryptionKey: kek, PreviousKeyEncryptionKeys: previous,
		SigningAlgorithm: ac.SigningAlgorithm, KeyRotationPeriod: ac.KeyRotationPeriod.D(),
		AccessTokenLifetime: ac.AccessTokenLifetime.D(), RefreshTokenLifetime: ac.RefreshTokenLifetime.D(),
		CodeLifetime: ac.CodeLifetime.D(), SessionLifetime: ac.SessionLifetime.D(),
		DisableLocalLogin: ac.DisableLocalLogin, ServiceName: ac.ServiceName,
		CIMD:         authserver.CIMDOptions{Disable: ac.CIMD.Disable, AllowDomains: ac.CIMD.AllowDomains, DenyDomains: ac.CIMD.DenyDomains},
		Registration: authserver.RegistrationOptions{Disable: ac.Registration.Disable, RateLimit: ac.Registration.RateLimit, UnusedTTL: ac.Registration.UnusedTTL.D()},
		Logger:       a.log.With("component", "authserver"),
	}
	if a.cimdTestRoots != nil { // tests only: see Options.cimdTestRoots
		opts.CIMD.RootCAs, opts.CIMD.InsecureAllowLoopback = a.cimdTestRoots, true
	}
	if a.revs != nil {
		opts.Revoker = a.revs
	}
	for _, s := range a.cfg.Servers {
		if s.HTTP != nil && s.HTTP.UserOAuth != nil {
			// The token vault's connect links send a browser that is not
			// signed in here to sign in and back (vault.Options.SignInURL).
			opts.SignInReturns = []string{a.cfg.PublicURL + vault.ConnectPath}
			break
		}
	}
	if err := a.authServerDPoP(&opts); err != nil {
		return err
	}
	if err := a.authServerLimits(&opts); err != nil {
		return err
	}
	for _, s := range a.cfg.Servers {
		if !*s.Auth.Required {
			continue
		}
		res, err := routeResource(a.cfg, s)
		if err != nil {
			return err
		}
		r := authserver.Resource{URI: res, Name: s.Name, Scopes: allScopes(s.Auth), DefaultScopes: s.Auth.Scopes, BaseScopes: s.Auth.Scopes,
			Groups: s.Auth.Groups}
		for _, g := range s.Auth.Grants {
			r.Grants = append(r.Grants, authserver.Grant{Scopes: g.Scopes, Groups: g.Groups})
		}
		opts.Resources = append(opts.Resources, r)
		if s.Name == ac.DefaultServer || (ac.DefaultServer == "" && opts.DefaultResource == "") {
			opts.DefaultResource = res
		}
	}
	// Upstreams whose tokens the gateway obtains here by token exchange
	// are resources of this server too, reachable only by exchange, and
	// only by the client the route exchanges with.
	exchangeTargets := map[string][]string{}
	for _, s := range a.cfg.UpstreamServers() {
		u := s.Remote()
		if u == nil || u.TokenExchange == nil || u.TokenExchange.TokenURL != a.cfg.EmbeddedIssuer()+"/token" {
			continue
		}
		te := u.TokenExchange
		uri := te.Resource
		if uri == "" {
			uri = u.URL
		}
		opts.Resources = append(opts.Resources, authserver.Resource{URI: uri, Name: s.Name + " (upstream)", Scopes: te.Scopes, ExchangeOnly: true})
		exchangeTargets[te.ClientID] = append(exchangeTargets[te.ClientID], uri)
	}
	if len(opts.Resources) == 0 {
		return errors.New("authserver: no server requires authorization, so there is nothing to issue tokens for")
	}
	for i, c := range ac.Clients {
		sc := authserver.StaticClient{ID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, GrantTypes: c.GrantTypes,
			TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, JWKSURI: c.JWKSURI, SkipConsent: c.SkipConsent,
			DPoPBoundAccessTokens: c.DPoPBoundAccessTokens, Scopes: c.Scopes, ResourceServer: c.ResourceServer}
		for _, r := range c.Resources {
			uri, err := a.resourceURI(r)
			if err != nil {
				return fmt.Errorf("authserver.clients[%d].resources: %w", i, err)
			}
			sc.Resources = append(sc.Resources, uri)
		}
		sc.Resources = append(sc.Resources, exchangeTargets[c.ID]...)
		if c.Secret != nil {
			sec, err := a.secret(ctx, fmt.Sprintf("authserver.clients[%d].secret", i), *c.Secret)
			if err != nil {
				return err
			}
			sc.Secret = strings.TrimSpace(sec.Value().Reveal())
			// A rotated secret replaces the old one at once: the client
			// reads the same reference.
			id, field := c.ID, fmt.Sprintf("authserver.clients[%d].secret", i)
			sec.OnChange(func(_, v secrets.Value) {
				if as := a.as; as != nil {
					if err := as.SetClientSecret(id, strings.TrimSpace(v.Reveal())); err != nil {
						a.log.Error("the rotated client secret is unusable; the previous one stays", "field", field, "err", err)
					}
				}
			})
		}
		opts.Clients = append(opts.Clients, sc)
	}
	if up := ac.Upstream; up != nil {
		sec, err := a.secret(ctx, "authserver.upstream.client_secret", up.ClientSecret)
		if err != nil {
			return err
		}
		opts.Upstream = &authserver.Upstream{Issuer: up.Issuer, ClientID: up.ClientID, ClientSecret: strings.TrimSpace(sec.Value().Reveal()),
			ClientSecretSource: func() string { return strings.TrimSpace(sec.Value().Reveal()) },
			Name:               up.Name, Scopes: up.Scopes, DisableAutoCreate: up.DisableAutoCreate, GroupsClaim: up.GroupsClaim}
	}
	for _, ti := range ac.TrustedIssuers {
		opts.TokenExchange.TrustedIssuers = append(opts.TokenExchange.TrustedIssuers, authserver.TrustedIssuer{Issuer: ti.Issuer, JWKSURI: ti.JWKSURI, Audience: ti.Audience})
	}
	for _, p := range ac.IdentityProviders {
		opts.IdentityProviders = append(opts.IdentityProviders, authserver.IdentityProvider{Issuer: p.Issuer, JWKSURI: p.JWKSURI})
	}
	as, err := authserver.New(ctx, opts)
	if err != nil {
		return fmt.Errorf("authserver: %w", err)
	}
	a.as = as
	ring.onChange(func(current []byte, opening [][]byte) {
		if err := as.SetKeyEncryptionKeys(current, opening[1:]); err != nil {
			a.log.Error("the authorization server keeps its key-encryption keyring", "err", err)
		}
	})
	return a.firstUser(ctx, store)
}

// resourceURI maps an authserver.clients[].resources entry, a server
// name or a resource URI, to the resource URI.
func (a *App) resourceURI(v string) (string, error) {
	for _, s := range a.cfg.Servers {
		if s.Name == v {
			return routeResource(a.cfg, s)
		}
	}
	if !strings.Contains(v, "://") {
		return "", fmt.Errorf("%q names no server", v)
	}
	return v, nil
}

// authServerLimits sets the sign-in and registration throttling: limits
// from authserver.login, client addresses through http.trusted_proxies,
// and counters in Redis when replicas share state.redis (sign-in then
// fails closed while Redis is unreachable).
func (a *App) authServerLimits(opts *authserver.Options) error {
	l := a.cfg.AuthServer.Login
	opts.LoginRateLimit, opts.LoginAccountRateLimit, opts.MaxConcurrentPasswordHashes = l.RateLimit, l.AccountRateLimit, l.MaxConcurrentHashes
	opts.ClientIP = a.clientIP.String
	rdb, err := a.redis()
	if err != nil || rdb == nil {
		return err
	}
	// Keyed by issuer, as the revocation stream is: replicas of one
	// authorization server share counts; two servers on one Redis do not.
	opts.RateLimiter = redisstate.NewCounter(rdb, redisstate.CounterOptions{KeyPrefix: "mcpfort:count:" + a.cfg.EmbeddedIssuer() + ":", Timeout: redisTimeout})
	return nil
}

// authServerDPoP sets DPoP at the token endpoint (authserver.dpop): server
// nonces, and, with state.redis, one proof replay cache for all replicas
// (RFC 9449 section 11.1), keyed by issuer.
func (a *App) authServerDPoP(opts *authserver.Options) error {
	d := a.cfg.AuthServer.DPoP
	opts.DPoP.RequireNonce, opts.DPoP.NonceLifetime = d.RequireNonce, d.NonceLifetime.D()
	replay, err := a.dpopReplay("as:" + a.cfg.EmbeddedIssuer())
	opts.DPoP.Replay = replay
	return err
}

// dpopReplay returns the DPoP proof replay cache for one verifier (the
// token endpoint, or a route): in Redis when replicas share state.redis,
// so that a proof cannot be replayed once per replica, otherwise in
// memory. Proof keys are scoped by name as well as by htu.
func (a *App) dpopReplay(name string) (dpop.ReplayCache, error) {
	rdb, err := a.redis()
	if err != nil {
		return nil, err
	}
	if rdb == nil {
		return &dpop.MemoryReplayCache{}, nil
	}
	return redisstate.NewDPoPReplay(rdb, redisstate.DPoPReplayOptions{KeyPrefix: "mcpfort:dpop:" + name + ":", Timeout: redisTimeout}), nil
}

// firstUser creates the first local account on a store that has none:
// MCPFORT_ADMIN_USER / MCPFORT_ADMIN_PASSWORD when set, otherwise "admin"
// with a random password shown once on the console (never logged).
func (a *App) firstUser(ctx context.Context, store storage.Store) error {
	if a.cfg.AuthServer.DisableLocalLogin {
		return nil
	}
	existing, err := store.ListUsers(ctx, "", 1)
	if err != nil {
		return fmt.Errorf("authserver users: %w", err)
	}
	if len(existing) > 0 {
		return nil
	}
	name := a.getenv("MCPFORT_ADMIN_USER")
	if name == "" {
		name = "admin"
	}
	pw := a.getenv("MCPFORT_ADMIN_PASSWORD")
	generated := pw == ""
	if generated {
		pw = rand.Text()
	}
	hash, err := authserver.HashPassword(pw)
	if err != nil {
		return err
	}
	now := a.now().UTC()
	u := &storage.User{ID: "u_" + strings.ToLower(rand.Text()), Username: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil // another replica created it
		}
		return fmt.Errorf("authserver first user: %w", err)
	}
	a.log.Info("created the first user", "username", name)
	if generated {
		printFirstUser(a.console, a.cfg.EmbeddedIssuer(), name, pw)
	}
	return nil
}

func printFirstUser(w io.Writer, issuer, name, pw string) {
	u, _ := url.Parse(issuer)
	fmt.Fprintf(w, "\n  mcpfort created the first user of its authorization server at %s\n", u)
	fmt.Fprintf(w, "    username: %s\n    password: %s\n", name, pw)
	fmt.Fprintf(w, "  The password is shown this once. Change it with: mcpfort users passwd %s --config <file>\n\n", name)
}
