package pii

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// BenchmarkReply measures the policy on replies as they stream back:
//
//   - progress: a tools/call reply with two progress notifications and a
//     short result, nothing to mask;
//   - progress-masking: the same with an e-mail address in each progress
//     message;
//   - image: a tools/call result carrying a 192 KiB base64 image (the
//     payload is recognised and not scanned);
//   - list: a 40-tool tools/list result (its result is not masked; the
//     policy looks for notifications and requests only);
//   - answer: a legacy client's elicitation answer going upstream.
func BenchmarkReply(b *testing.B) {
	p, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	progress := func(msg string) []byte {
		return []byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t1","progress":1,"total":2,"message":"` + msg + `"}}`)
	}
	result := []byte(`{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"3 results"}]}}`)
	img := make([]byte, 192<<10)
	for i := range img {
		img[i] = byte(i * 7919 >> 3)
	}
	image := []byte(`{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"image","mimeType":"image/png","data":"` + base64.StdEncoding.EncodeToString(img) + `"}]}}`)
	var tools []string
	for i := range 40 {
		tools = append(tools, fmt.Sprintf(`{"name":"tool_%02d","description":"does thing %d of 20251202","inputSchema":{"type":"object","properties":{"x":{"type":"string"}}}}`, i, i))
	}
	list := []byte(`{"jsonrpc":"2.0","id":3,"result":{"tools":[` + strings.Join(tools, ",") + `]}}`)
	run := func(b *testing.B, method, params string, events ...[]byte) {
		h := p.Wrap(func(context.Context, *gateway.Call) (upstream.Reply, error) {
			evs := make([]*upstream.Event, len(events))
			for i, e := range events {
				evs[i] = &upstream.Event{Data: e}
			}
			return &upstream.StaticReply{I: upstream.Info{Status: 200, Stream: true}, Events: evs}, nil
		})
		c := testCall(b, method, params)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			r, err := h(ctx, c)
			if err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := r.Next(ctx); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	call := `{"name":"search","arguments":{"query":"weather","limit":5}}`
	b.Run("progress", func(b *testing.B) {
		run(b, mcp.MethodToolsCall, call, progress("half way"), progress("almost"), result)
	})
	b.Run("progress-masking", func(b *testing.B) {
		run(b, mcp.MethodToolsCall, call, progress("mailing ann@example.com"), progress("mailing bob@example.com"), result)
	})
	b.Run("image", func(b *testing.B) {
		run(b, mcp.MethodToolsCall, call, image)
	})
	b.Run("list", func(b *testing.B) {
		run(b, mcp.MethodToolsList, `{}`, list)
	})
	b.Run("answer", func(b *testing.B) {
		m, err := jsonrpc.Decode([]byte(`{"jsonrpc":"2.0","id":"s1","result":{"action":"accept","content":{"name":"ann@example.com"}}}`), jsonrpc.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		h := p.Wrap(func(context.Context, *gateway.Call) (upstream.Reply, error) { return upstream.Accepted(), nil })
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h(ctx, &gateway.Call{Msg: m}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkJSON measures the JSON walker alone on a 6 KB tools/list
// result with nothing to mask, and on a tool result with values to mask.
func BenchmarkJSON(b *testing.B) {
	p, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	var tools []string
	for i := range 40 {
		tools = append(tools, fmt.Sprintf(`{"name":"tool_%02d","description":"does thing %d of 20251202, \"quoted\"","inputSchema":{"type":"object","properties":{"x":{"type":"string"},"n":{"type":"integer","minimum":-1.5e3}}}}`, i, i))
	}
	list := []byte(`{"tools":[` + strings.Join(tools, ",") + `]}`)
	personal := []byte(`{"content":[{"type":"text","text":"Customer Jane Roe <jane.roe@example.com>, +44 20 7946 0958, card 4111 1111 1111 1111, last login from 203.0.113.7"}],"structuredContent":{"email":"jane.roe@example.com","iban":"GB82 WEST 1234 5698 7654 32","n":[1,2.5,true,null]}}`)
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"list", list}, {"personal", personal}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := p.JSON(Results, bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
