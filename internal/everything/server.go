//lint:file-ignore SA1019 the conformance suite exercises sampling, roots and logging, which 2026-07-28 deprecates (SEP-2577) but still specifies.

package everything

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ServerName is the implementation name reported in serverInfo. The
// conformance suite records it; the reference fixture uses the same name, so
// results from both read alike.
const ServerName = "mcp-conformance-test-server"

// ServerVersion is the implementation version reported in serverInfo.
const ServerVersion = "1.0.0"

// WatchedResourceURI is the resource that subscription scenarios subscribe to
// and that [RunWatchedResourceUpdates] reports as updated.
const WatchedResourceURI = "test://watched-resource"

// Options configures [New]. The zero value is a valid configuration.
type Options struct {
	// Logger receives the SDK's operational log. If nil, nothing is logged.
	Logger *slog.Logger

	// StateKey is the HMAC-SHA256 key that integrity-protects the MRTR
	// requestState this server hands to clients (SEP-2322: requestState is
	// attacker-controlled and MUST be integrity-protected when it affects
	// logic). If empty, a random 32-byte key is generated, so state minted
	// before a restart is refused after it. If set, it must be at least 32
	// bytes.
	StateKey []byte

	// StepDelay is the pause between the notifications of the logging and
	// progress tools. The suite asks for about 50 ms so that a client sees
	// the notifications arrive during the call. If zero, 50 ms; if negative,
	// no pause.
	StepDelay time.Duration
}

const minStateKeyLen = 32

// everything holds what the handlers share. It is unexported: callers only
// ever see the configured *mcp.Server.
type everything struct {
	server    *mcp.Server
	stateKey  []byte
	stepDelay time.Duration
}

// New returns an MCP server exposing the conformance fixtures (tools,
// resources, resource templates, prompts, completion, subscriptions) plus the
// "echo" tool used by benchmarks. Serve it with [NewHandler] over Streamable
// HTTP or with the SDK's stdio transport.
func New(opts Options) (*mcp.Server, error) {
	e := &everything{stepDelay: opts.StepDelay}
	if e.stepDelay == 0 {
		e.stepDelay = 50 * time.Millisecond
	}
	switch {
	case len(opts.StateKey) == 0:
		e.stateKey = make([]byte, minStateKeyLen)
		if _, err := rand.Read(e.stateKey); err != nil {
			return nil, fmt.Errorf("everything: generate state key: %w", err)
		}
	case len(opts.StateKey) < minStateKeyLen:
		return nil, fmt.Errorf("everything: state key is %d bytes, need at least %d", len(opts.StateKey), minStateKeyLen)
	default:
		e.stateKey = append([]byte(nil), opts.StateKey...)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	// The capabilities the reference fixture declares; the suite's
	// subscription and completion scenarios rely on them being advertised.
	caps := &mcp.ServerCapabilities{
		Logging:     &mcp.LoggingCapabilities{},
		Completions: &mcp.CompletionCapabilities{},
		Tools:       &mcp.ToolCapabilities{ListChanged: true},
		Prompts:     &mcp.PromptCapabilities{ListChanged: true},
		Resources:   &mcp.ResourceCapabilities{Subscribe: true, ListChanged: true},
	}
	e.server = mcp.NewServer(&mcp.Implementation{Name: ServerName, Version: ServerVersion}, &mcp.ServerOptions{
		Logger:             logger,
		Capabilities:       caps,
		CompletionHandler:  complete,
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	e.addTools()
	e.addMRTRTools()
	e.addResources()
	e.addPrompts()
	return e.server, nil
}

// RunWatchedResourceUpdates reports [WatchedResourceURI] as updated to its
// subscribers every interval until ctx is done, like the reference fixture
// (which updates it every 3 s). It returns ctx's error.
func RunWatchedResourceUpdates(ctx context.Context, server *mcp.Server, interval time.Duration) error {
	if server == nil {
		return errors.New("everything: nil server")
	}
	if interval <= 0 {
		return fmt.Errorf("everything: watched resource interval %v is not positive", interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			// A failed notification concerns one subscriber's session, which
			// the SDK already logs; the other subscribers still get theirs.
			_ = server.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: WatchedResourceURI})
		}
	}
}

// pause waits for the step delay or until ctx is done.
func (e *everything) pause(ctx context.Context) error {
	if e.stepDelay <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(e.stepDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// complete answers completion/complete. The suite only checks that the
// capability works and returns a values array; offering the prompt
// argument's known values keeps it useful for manual testing.
func complete(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	values := []string{}
	if req.Params != nil && req.Params.Ref != nil && req.Params.Ref.Type == "ref/prompt" && req.Params.Ref.Name == promptWithArguments {
		for _, v := range []string{"paris", "park", "party"} {
			if len(req.Params.Argument.Value) <= len(v) && v[:len(req.Params.Argument.Value)] == req.Params.Argument.Value {
				values = append(values, v)
			}
		}
	}
	return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: values, Total: len(values)}}, nil
}
