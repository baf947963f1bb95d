// Command gosdk serves an MCP server built with the official Go SDK
// (github.com/modelcontextprotocol/go-sdk) behind the resourceserver
// middleware: only requests with a valid access token for this server
// reach the SDK, the token itself never does, and the SDK's own session
// check binds each session to the principal that created it.
//
//	go run .                                   # built-in development issuer; prints the URL and a token
//	go run . -issuer https://auth.example.com  # trust a real authorization server
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/resourceserver"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8091", "listen address")
	issuer := flag.String("issuer", "", "trusted issuer; empty starts a development issuer on loopback and prints a token")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *issuer, logger); err != nil {
		logger.Error("gosdk example", "error", err)
		os.Exit(1)
	}
}

func run(addr, issuer string, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	resource := base + "/mcp"

	var dev *resourceservertest.Issuer
	if issuer == "" {
		if dev, err = resourceservertest.NewIssuer(resourceservertest.IssuerOptions{}); err != nil {
			return err
		}
		defer dev.Close()
		issuer = dev.URL
	}
	h, err := NewHandler(Config{Issuer: issuer, Resource: resource, Logger: logger})
	if err != nil {
		return err
	}
	fmt.Printf("MCP endpoint: %s\n", resource)
	fmt.Printf("Protected resource metadata: %s/.well-known/oauth-protected-resource/mcp\n", base)
	if dev != nil {
		tok, err := dev.Sign(resourceservertest.Token{Subject: "dev-user", Audience: []string{resource}, Scopes: []string{"mcp:tools"}})
		if err != nil {
			return err
		}
		fmt.Printf("Development issuer: %s\nAccess token (1 hour):\n%s\n", issuer, tok)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Config configures the example server.
type Config struct {
	Issuer   string // the trusted authorization server
	Resource string // the canonical URI of the MCP endpoint
	Logger   *slog.Logger
}

// WhoamiOutput is what the whoami tool returns.
type WhoamiOutput struct {
	Subject  string   `json:"subject"`
	Issuer   string   `json:"issuer"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
	// AuthorizationSeen reports whether the SDK saw an Authorization
	// header: it must not.
	AuthorizationSeen bool `json:"authorization_seen"`
}

// NewHandler returns the HTTP handler: the PRM document at its well-known
// URLs and the go-sdk StreamableHTTPHandler behind the middleware at /mcp.
func NewHandler(cfg Config) (http.Handler, error) {
	jwt, err := resourceserver.NewJWTVerifier(resourceserver.JWTOptions{
		Issuer:    cfg.Issuer,
		Audiences: []string{cfg.Resource},
		Logger:    cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	cache, err := resourceserver.NewCache(jwt, resourceserver.CacheOptions{})
	if err != nil {
		return nil, err
	}
	mw, err := resourceserver.NewMiddleware(resourceserver.MiddlewareOptions{
		Verifier: cache,
		Resource: cfg.Resource,
		Scopes:   []string{"mcp:tools"},
		Logger:   cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	prm, err := resourceserver.NewMetadataHandler(resourceserver.MetadataOptions{
		Resource:             cfg.Resource,
		AuthorizationServers: []string{cfg.Issuer},
		ScopesSupported:      []string{"mcp:tools"},
		ResourceName:         "go-sdk example",
	})
	if err != nil {
		return nil, err
	}

	server := mcp.NewServer(&mcp.Implementation{Name: "gosdk-example", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Reports who the access token speaks for."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, WhoamiOutput, error) {
			ti := req.Extra.TokenInfo
			if ti == nil {
				return nil, WhoamiOutput{}, errors.New("no token info")
			}
			p, _ := ti.Extra["principal"].(*resourceserver.Principal)
			if p == nil {
				return nil, WhoamiOutput{}, errors.New("no principal")
			}
			return nil, WhoamiOutput{
				Subject: p.Subject, Issuer: p.Issuer, ClientID: p.ClientID, Scopes: p.Scopes,
				AuthorizationSeen: req.Extra.Header.Get("Authorization") != "",
			}, nil
		})
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)

	mux := http.NewServeMux()
	for _, p := range prm.Paths() {
		mux.Handle(p, prm)
	}
	mux.Handle("/mcp", mw.Wrap(tokenInfoBridge(sdk)))
	return mux, nil
}

// bridgeMarker stands in for the token while the go-sdk's middleware runs.
const bridgeMarker = "principal-from-resourceserver"

// tokenInfoBridge hands the resourceserver Principal to the go-sdk as an
// auth.TokenInfo: that is how SDK tool handlers see who is calling
// (req.Extra.TokenInfo) and how the SDK binds a session to its user (a
// session id presented with another UserID is refused). The SDK sets
// TokenInfo only through its own auth.RequireBearerToken, which reads an
// Authorization header; the client's header is already gone, so the bridge
// gives the SDK a fixed marker that carries no credential, maps the
// Principal in the SDK's verifier callback, and removes the marker again
// before the SDK's transport sees the request.
func tokenInfoBridge(next http.Handler) http.Handler {
	verify := func(ctx context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
		p := resourceserver.PrincipalFromContext(ctx)
		if p == nil || token != bridgeMarker {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{
			UserID:     p.Identity(),
			Scopes:     p.Scopes,
			Expiration: p.Expiry,
			Extra:      map[string]any{"principal": p},
		}, nil
	}
	withInfo := auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The middleware handed on its own copy of the header map.
			r.Header.Del("Authorization")
			next.ServeHTTP(w, r)
		}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+bridgeMarker)
		withInfo.ServeHTTP(w, r)
	})
}
