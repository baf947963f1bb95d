// Command mcpgo serves an MCP server built with mark3labs/mcp-go behind the
// resourceserver middleware: only requests with a valid access token for
// this server reach mcp-go, the token itself never does, tool handlers read
// the Principal from their context, and each session id is bound to the
// principal that created it (another principal presenting it gets 404).
//
//	go run .                                   # built-in development issuer; prints the URL and a token
//	go run . -issuer https://auth.example.com  # trust a real authorization server
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcpfort/mcpfort/resourceserver"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8092", "listen address")
	issuer := flag.String("issuer", "", "trusted issuer; empty starts a development issuer on loopback and prints a token")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *issuer, logger); err != nil {
		logger.Error("mcpgo example", "error", err)
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
	// AuthorizationSeen reports whether mcp-go saw an Authorization
	// header: it must not.
	AuthorizationSeen bool `json:"authorization_seen"`
}

// NewHandler returns the HTTP handler: the PRM document at its well-known
// URLs and mcp-go's StreamableHTTPServer behind the middleware at /mcp.
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
		ResourceName:         "mcp-go example",
	})
	if err != nil {
		return nil, err
	}

	s := server.NewMCPServer("mcpgo-example", "1.0.0", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("whoami", mcp.WithDescription("Reports who the access token speaks for.")),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			// mcp-go derives the handler's context from the HTTP request's,
			// so the Principal the middleware stored is here.
			p := resourceserver.PrincipalFromContext(ctx)
			if p == nil {
				return mcp.NewToolResultError("no principal"), nil
			}
			out := WhoamiOutput{
				Subject: p.Subject, Issuer: p.Issuer, ClientID: p.ClientID, Scopes: p.Scopes,
				AuthorizationSeen: req.Header.Get("Authorization") != "",
			}
			b, err := json.Marshal(out)
			if err != nil {
				return nil, err
			}
			return mcp.NewToolResultStructured(out, string(b)), nil
		})
	sessions := &boundSessions{owner: map[string]string{}, max: 10_000}
	streamable := server.NewStreamableHTTPServer(s,
		server.WithEndpointPath("/mcp"),
		server.WithSessionIdManagerResolver(sessions))

	mux := http.NewServeMux()
	for _, p := range prm.Paths() {
		mux.Handle(p, prm)
	}
	mux.Handle("/mcp", mw.Wrap(streamable))
	return mux, nil
}

// boundSessions binds mcp-go session ids to the principal that created
// them (the MCP security best practices: bind session ids to the user,
// never use them for authentication). mcp-go resolves a SessionIdManager
// per request, so the manager it gets knows who is asking.
type boundSessions struct {
	mu    sync.Mutex
	owner map[string]string // session id -> Principal.Identity
	max   int
}

var errSession = errors.New("unknown session")

// ResolveSessionIdManager returns a manager acting for r's principal.
func (b *boundSessions) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	who := ""
	if p := resourceserver.PrincipalFromContext(r.Context()); p != nil {
		who = p.Identity()
	}
	return principalSessions{b: b, who: who}
}

type principalSessions struct {
	b   *boundSessions
	who string
}

func (s principalSessions) Generate() string {
	id := rand.Text()
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if len(s.b.owner) >= s.b.max {
		// Bounded: an example keeps it simple and forgets an arbitrary
		// session; a real server expires idle ones.
		for k := range s.b.owner {
			delete(s.b.owner, k)
			break
		}
	}
	s.b.owner[id] = s.who
	return id
}

// Validate refuses a session id that is unknown or belongs to another
// principal; mcp-go answers 404, so the id reveals nothing.
func (s principalSessions) Validate(id string) (bool, error) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if owner, ok := s.b.owner[id]; !ok || s.who == "" || owner != s.who {
		return false, errSession
	}
	return false, nil
}

func (s principalSessions) Terminate(id string) (bool, error) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if owner, ok := s.b.owner[id]; !ok || owner != s.who {
		return true, nil
	}
	delete(s.b.owner, id)
	return false, nil
}
