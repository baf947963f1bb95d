package app

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway/upstream/credentials"
	"github.com/mcpfort/mcpfort/resourceserver"
)

// upstreamAuth returns how a remote upstream gets the gateway's own
// credentials: a static secret, an exchanged token, or a signed assertion.
// The client's token is never one of them.
func (a *App) upstreamAuth(s config.Server) (func(context.Context, *http.Request, string) error, error) {
	u, kind := s.Remote(), "http"
	if s.SSE != nil {
		kind = "sse"
	}
	switch {
	case u.UserOAuth != nil && s.HTTP != nil:
		vu, err := a.vaultUpstream(s)
		if err != nil {
			return nil, err
		}
		return userOAuthAuthorize(vu), nil
	case u.BearerToken != nil:
		tok, err := a.secret(context.Background(), a.field(s, kind+".bearer_token"), *u.BearerToken)
		if err != nil {
			return nil, err
		}
		// Read per request: a rotated token is sent from the next request
		// on.
		return func(_ context.Context, r *http.Request, _ string) error {
			r.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.Value().Reveal()))
			return nil
		}, nil
	case u.TokenExchange != nil:
		te := u.TokenExchange
		secret, err := a.secret(context.Background(), a.field(s, kind+".token_exchange.client_secret"), te.ClientSecret)
		if err != nil {
			return nil, err
		}
		resource := te.Resource
		if resource == "" && te.Audience == "" {
			resource = u.URL
		}
		x, err := credentials.NewTokenExchange(credentials.TokenExchangeOptions{
			TokenURL: te.TokenURL, ClientID: te.ClientID,
			ClientSecretSource: func() string { return strings.TrimSpace(secret.Value().Reveal()) },
			Resource:           resource, Audience: te.Audience, Scopes: te.Scopes,
		})
		if err != nil {
			return nil, err
		}
		if a.revs != nil {
			a.revs.addExchange(x) // dropped with the subject token when it is revoked
		}
		return func(ctx context.Context, r *http.Request, _ string) error {
			tok, err := x.TokenFor(ctx, subjectToken(ctx), ownerOf(resourceserver.PrincipalFromContext(ctx)))
			if err != nil {
				return err
			}
			r.Header.Set("Authorization", "Bearer "+tok)
			return nil
		}, nil
	case u.Assertion != nil:
		key, err := a.assertionKey()
		if err != nil {
			return nil, err
		}
		aud := u.Assertion.Audience
		if aud == "" {
			aud = u.URL
		}
		as, err := credentials.NewAssertion(credentials.AssertionOptions{Issuer: a.assertionIssuer(), Audience: aud, Key: key, Lifetime: u.Assertion.Lifetime.D(),
			LocalIssuer: a.cfg.EmbeddedIssuer()})
		if err != nil {
			return nil, err
		}
		a.assertions = as
		return func(ctx context.Context, r *http.Request, _ string) error {
			p := resourceserver.PrincipalFromContext(ctx)
			if p == nil {
				return errors.New("no principal to assert")
			}
			tok, err := as.Token(ctx, credentials.Principal{Issuer: p.Issuer, Subject: p.Subject, ClientID: p.ClientID, Scopes: p.Scopes})
			if err != nil {
				return err
			}
			r.Header.Set("Authorization", "Bearer "+tok)
			return nil
		}, nil
	}
	return nil, nil
}

// field is the configuration path of a server's field ("servers[2].http.bearer_token").
func (a *App) field(s config.Server, sub string) string {
	for i := range a.cfg.Servers {
		srv := &a.cfg.Servers[i]
		if srv.Name == s.Name {
			return fmt.Sprintf("servers[%d].%s", i, sub)
		}
		if ag := srv.Aggregate; ag != nil {
			for j, m := range ag.Upstreams {
				if srv.Name+"."+m.Name == s.Name {
					return fmt.Sprintf("servers[%d].aggregate.upstreams[%d].%s", i, j, sub)
				}
			}
		}
	}
	return "servers." + s.Name + "." + sub
}

func (a *App) assertionIssuer() string { return a.cfg.PublicURL + "/assertions" }

func (a *App) assertionKey() (*ecdsa.PrivateKey, error) {
	if a.assertionSigningKey == nil {
		k, err := credentials.LoadOrCreateKey(filepath.Join(a.cfg.State.Dir, "assertion.key"))
		if err != nil {
			return nil, fmt.Errorf("assertion key: %w", err)
		}
		a.assertionSigningKey = k
	}
	return a.assertionSigningKey, nil
}

// mountAssertionIssuer publishes the assertion issuer's RFC 8414 metadata
// and JWKS so upstreams can verify assertions.
func (a *App) mountAssertionIssuer(mux *http.ServeMux) {
	if a.assertions == nil {
		return
	}
	iss := a.assertionIssuer()
	meta, _ := json.Marshal(map[string]any{"issuer": iss, "jwks_uri": iss + "/jwks.json", "id_token_signing_alg_values_supported": []string{"ES256"}})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server/assertions", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(meta)
	})
	jwks := a.assertions.JWKS()
	mux.HandleFunc("GET /assertions/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(jwks)
	})
}
