package audit_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

func call(t *testing.T, method, params string) *gateway.Call {
	t.Helper()
	m, err := jsonrpc.Decode(jsonrpc.AppendRequest(nil, jsonrpc.Int64ID(7), method, []byte(params)), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := mcp.ParseParams(m.Params)
	if err != nil {
		t.Fatal(err)
	}
	return &gateway.Call{Route: "r", Msg: m, Params: p}
}

// TestStatuses replies in each way an upstream (or the gateway) can and
// checks the status recorded. The replies are built in memory: what is
// tested is how the log reads them.
func TestStatuses(t *testing.T) {
	progress := []byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}`)
	tests := []struct {
		name   string
		reply  func() (upstream.Reply, error)
		read   bool // read the reply to its end (else close it at once)
		status string
		code   int64
		dec    string
	}{
		{"result", func() (upstream.Reply, error) {
			return upstream.Message([]byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`)), nil
		}, true, audit.StatusOK, 0, audit.Allow},
		{"tool error", func() (upstream.Reply, error) {
			return upstream.Message([]byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[],"isError":true}}`)), nil
		}, true, audit.StatusToolError, 0, audit.Allow},
		{"input required", func() (upstream.Reply, error) {
			return upstream.Message([]byte(`{"jsonrpc":"2.0","id":7,"result":{"resultType":"input_required","inputRequests":{}}}`)), nil
		}, true, audit.StatusInputRequired, 0, audit.Allow},
		{"error response", func() (upstream.Reply, error) {
			return upstream.Message([]byte(`{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"Unknown tool"}}`)), nil
		}, true, audit.StatusError, -32602, audit.Allow},
		{"stream with progress then result", func() (upstream.Reply, error) {
			return &upstream.StaticReply{I: upstream.Info{Status: 200, Stream: true}, Events: []*upstream.Event{{Data: progress}, {Data: []byte(`{"jsonrpc":"2.0","id":7,"result":{}}`)}}}, nil
		}, true, audit.StatusOK, 0, audit.Allow},
		{"stream closed before the response", func() (upstream.Reply, error) {
			return &upstream.StaticReply{I: upstream.Info{Status: 200, Stream: true}, Events: []*upstream.Event{{Data: progress}}}, nil
		}, true, audit.StatusIncomplete, 0, audit.Allow},
		{"client gone", func() (upstream.Reply, error) {
			return &upstream.StaticReply{I: upstream.Info{Status: 200, Stream: true}, Events: []*upstream.Event{{Data: progress}}}, nil
		}, false, audit.StatusCancelled, 0, audit.Allow},
		{"rate limited", func() (upstream.Reply, error) {
			return nil, &gateway.Error{Status: http.StatusTooManyRequests, RPC: &jsonrpc.Error{Code: jsonrpc.CodeRateLimited, Message: "Too many requests"}}
		}, true, audit.StatusRefused, jsonrpc.CodeRateLimited, audit.Deny},
		{"upstream down", func() (upstream.Reply, error) {
			return nil, errors.New("dial tcp: connection refused")
		}, true, audit.StatusFailed, 0, audit.Allow},
		{"upstream timeout", func() (upstream.Reply, error) {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeUpstreamTimeout, Message: "upstream server timed out"}
		}, true, audit.StatusFailed, jsonrpc.CodeUpstreamTimeout, audit.Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, storagetest.SQLite(t), nil)
			l, err := audit.New(audit.Options{Sink: s})
			if err != nil {
				t.Fatal(err)
			}
			h := l.Wrap(func(context.Context, *gateway.Call) (upstream.Reply, error) { return tt.reply() })
			r, err := h(ctx, call(t, mcp.MethodToolsCall, `{"name":"t","arguments":{"b":1,"a":"x"}}`))
			if err == nil {
				for tt.read {
					if _, err := r.Next(ctx); err != nil {
						break
					}
				}
				r.Close()
			}
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
			recs := records(t, s)
			if len(recs) != 1 {
				t.Fatalf("%d records", len(recs))
			}
			got := recs[0]
			want := audit.Record{Status: tt.status, ErrorCode: tt.code, Decision: tt.dec, Tool: "t", RPCID: "7", ArgsHash: hashOf(`{"a":"x","b":1}`)}
			if diff := cmp.Diff(want, audit.Record{Status: got.Status, ErrorCode: got.ErrorCode, Decision: got.Decision, Tool: got.Tool, RPCID: got.RPCID, ArgsHash: got.ArgsHash}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
