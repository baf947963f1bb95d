package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/mcpfort/mcpfort/authserver/keys"
	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/vault"
	"github.com/mcpfort/mcpfort/resourceserver"
)

// kekSealer seals the token vault's values with the key-encryption
// keyring: the current key seals, every key of the ring opens, so a
// rotated key leaves stored grants readable.
type kekSealer struct{ r *kekRing }

func (s kekSealer) Seal(pt []byte, ad string) ([]byte, error) {
	cur, _ := s.r.keys()
	return keys.SealSecret(cur, pt, ad)
}

func (s kekSealer) Open(sealed []byte, ad string) ([]byte, error) {
	_, opening := s.r.keys()
	return openSecret(opening, sealed, ad)
}

// tokenVault returns the process's token vault, built on first use: the
// shared database keeps grants and used tickets, the key-encryption
// keyring seals them.
func (a *App) tokenVault() (*vault.Vault, error) {
	if a.vault != nil {
		return a.vault, nil
	}
	db, err := a.database(context.Background())
	if err != nil {
		return nil, err
	}
	ring, err := a.keyEncryptionKeys()
	if err != nil {
		return nil, err
	}
	// A connect link connects only a browser signed in at the embedded
	// authorization server as the link's user; config validation makes
	// it the only issuer of user_oauth routes' tokens.
	a.vault = vault.New(vault.Options{Store: db, UseOnce: db.UseOnce, Sealer: kekSealer{ring}, PublicURL: a.cfg.PublicURL,
		Logger: a.log.With("component", "vault"),
		BrowserUser: func(r *http.Request) (string, string, bool) {
			if a.as == nil {
				return "", "", false
			}
			return a.as.BrowserUser(r)
		},
		SignInURL: func(ret string) string {
			if a.as == nil {
				return ""
			}
			return a.as.SignInURL(ret)
		}})
	return a.vault, nil
}

// vaultUpstream registers a user_oauth route's upstream with the vault.
func (a *App) vaultUpstream(s config.Server) (*vault.Upstream, error) {
	if u, ok := a.vaultRoutes[s.Name]; ok {
		return u, nil
	}
	v, err := a.tokenVault()
	if err != nil {
		return nil, err
	}
	uo := s.HTTP.UserOAuth
	o := vault.UpstreamOptions{Route: s.Name, URL: s.HTTP.URL, Issuer: uo.Issuer, ClientID: uo.ClientID,
		ClientMetadataURL: uo.ClientMetadataURL, Scopes: uo.Scopes, Resource: uo.Resource}
	if uo.ClientSecret != nil {
		sec, err := a.secret(context.Background(), a.field(s, "http.user_oauth.client_secret"), *uo.ClientSecret)
		if err != nil {
			return nil, err
		}
		o.ClientSecret = func() string { return strings.TrimSpace(sec.Value().Reveal()) }
	}
	u, err := v.Add(o)
	if err != nil {
		return nil, err
	}
	if a.vaultRoutes == nil {
		a.vaultRoutes = map[string]*vault.Upstream{}
	}
	a.vaultRoutes[s.Name] = u
	return u, nil
}

// userOAuthAuthorize sends the user's own token at the upstream: the one
// the vault's middleware found for the call, else (requests the gateway
// makes for a caller outside the chain: tool listings, the upstream
// session it holds) the vault's for the principal. Without a grant
// nothing is sent upstream.
func userOAuthAuthorize(u *vault.Upstream) func(context.Context, *http.Request, string) error {
	return func(ctx context.Context, r *http.Request, _ string) error {
		tok, ok := vault.TokenFrom(ctx)
		if !ok {
			p := resourceserver.PrincipalFromContext(ctx)
			if p == nil || p.Subject == "" {
				return errors.New("user_oauth: no user to act for")
			}
			var err error
			if tok, err = u.Token(ctx, vault.User{Issuer: p.Issuer, Subject: p.Subject}); err != nil {
				return fmt.Errorf("user_oauth: %w", err)
			}
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
}

// vaultPolicy is the route's token vault middleware (nil unless its
// upstream is user_oauth).
func (a *App) vaultPolicy(s config.Server) (gateway.Middleware, error) {
	if s.HTTP == nil || s.HTTP.UserOAuth == nil {
		return nil, nil
	}
	u, err := a.vaultUpstream(s)
	if err != nil {
		return nil, err
	}
	return u.Middleware(), nil
}

// mountVault serves the browser's side of connecting (links and the
// redirection endpoint) and, behind each user_oauth route's own
// authentication, the caller's connection to it (GET, DELETE).
func (a *App) mountVault(mux *http.ServeMux) {
	if a.vault == nil {
		return
	}
	mux.Handle("GET "+vault.ConnectPath, a.vault.Handler())
	for _, r := range a.routes {
		u, ok := a.vaultRoutes[r.name]
		if !ok || r.guard == nil {
			continue
		}
		h := protect(r.guard, &a.origin, u.Connections(func(req *http.Request) (vault.User, bool) {
			p := resourceserver.PrincipalFromContext(req.Context())
			if p == nil || p.Subject == "" {
				return vault.User{}, false
			}
			return vault.User{Issuer: p.Issuer, Subject: p.Subject}, true
		}))
		mux.Handle(vault.ConnectionsPath+r.name, h)
	}
}

// OpenVault opens cfg's token vault for administration (mcpfort vault):
// its database, key-encryption keyring, secrets and user_oauth upstreams,
// so that a revocation also reaches the upstream's authorization server.
// close releases what it opened.
func OpenVault(ctx context.Context, cfg *config.Config, log *slog.Logger) (v *vault.Vault, close func(), err error) {
	a := &App{cfg: cfg, log: log}
	a.defaults()
	close = func() { a.closeAll(context.WithoutCancel(ctx)) }
	defer func() {
		if err != nil {
			close()
		}
	}()
	if err := a.buildSecrets(ctx); err != nil {
		return nil, nil, err
	}
	if _, err := a.tokenVault(); err != nil {
		return nil, nil, err
	}
	for _, s := range cfg.Servers {
		if s.HTTP != nil && s.HTTP.UserOAuth != nil {
			if _, err := a.vaultUpstream(s); err != nil {
				return nil, nil, fmt.Errorf("server %q: %w", s.Name, err)
			}
		}
	}
	return a.vault, close, nil
}
