package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// call is what one client saw of one call.
type call struct {
	group      string // era/route, e.g. "legacy/stdio"
	client     int
	msg        string // the unique echo text ("" for a connect)
	start, end time.Duration
	ok         bool
	limited    bool   // refused by the rate limit (-31004 or 429): not a failure
	resumed    bool   // the client resumed a stream (GET with Last-Event-ID) during the call
	wrong      string // a success with a wrong answer: what was wrong
	class      string // failure class
	detail     string
}

// journal collects every call of every client.
type journal struct {
	t0    time.Time
	mu    sync.Mutex
	calls []call
}

func (j *journal) since() time.Duration { return time.Since(j.t0) }

func (j *journal) add(c call) {
	j.mu.Lock()
	j.calls = append(j.calls, c)
	j.mu.Unlock()
}

// recorder wraps a client's transport and keeps what the last failed POST
// got: the status and whether the body was a JSON-RPC error (mcpfort's
// own refusals) or something else (the proxy's). The go-sdk client does
// not pass the body of a 5xx on.
type recorder struct {
	base    http.RoundTripper
	mu      sync.Mutex
	last    string
	resumes atomic.Int64 // GETs with Last-Event-ID
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && req.Header.Get("Last-Event-ID") != "" {
		r.resumes.Add(1)
	}
	resp, err := r.base.RoundTrip(req)
	if req.Method != http.MethodPost {
		return resp, err
	}
	if err != nil {
		r.set("transport error: " + shortErr(err))
		return resp, err
	}
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		r.set(describeHTTP(resp.StatusCode, body))
	}
	return resp, err
}

func (r *recorder) set(s string) {
	r.mu.Lock()
	r.last = s
	r.mu.Unlock()
}

func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.last
	r.last = ""
	return s
}

// describeHTTP names an HTTP error answer: its status and JSON-RPC code,
// or "not JSON-RPC" for a body of someone else's (the proxy's pages).
func describeHTTP(status int, body []byte) string {
	var m struct {
		Error *struct {
			Code int64 `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &m) == nil && m.Error != nil {
		return fmt.Sprintf("HTTP %d, JSON-RPC %d", status, m.Error.Code)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Sprintf("HTTP %d, empty body", status)
	}
	return fmt.Sprintf("HTTP %d, not JSON-RPC (proxy)", status)
}

func shortErr(err error) string {
	s := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case strings.Contains(s, "connection refused"):
		return "connection refused"
	case strings.Contains(s, "connection reset"):
		return "connection reset"
	case strings.Contains(s, "unexpected EOF"), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	case strings.Contains(s, "EOF"):
		return "EOF"
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

const callTimeout = 20 * time.Second

// codeRejected is the go-sdk's error for an HTTP error status it does not
// read the body of (500, 502, 503, 504, 429): the recorder has the body.
const codeRejected = -32005

// legacyClient is a go-sdk client (2025-11-25) calling echo in a loop on
// its session until stop; a session that is gone (404) or broken is
// replaced by a new one, as an application does.
func legacyClient(base *http.Transport, url, group string, id int, runID string, think time.Duration, stop *atomic.Bool, j *journal) {
	rec := &recorder{base: base}
	hc := &http.Client{Transport: rec}
	var cs *mcp.ClientSession
	defer func() {
		if cs != nil {
			go cs.Close()
		}
	}()
	seq := 0
	for !stop.Load() {
		if cs == nil {
			start := j.since()
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			c := mcp.NewClient(&mcp.Implementation{Name: "cluster-" + group, Version: "1"}, nil)
			s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: 3},
				&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			cancel()
			if err != nil {
				j.add(call{group: group, client: id, start: start, end: j.since(), class: "initialize: " + classifySDK(err, rec.take()), detail: shortErr(err)})
				time.Sleep(250 * time.Millisecond)
				continue
			}
			cs = s
		}
		seq++
		msg := fmt.Sprintf("%s.%s.%d.%d", runID, strings.ReplaceAll(group, "/", "-"), id, seq)
		start := j.since()
		resumes := rec.resumes.Load()
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": msg}})
		cancel()
		c := call{group: group, client: id, msg: msg, start: start, end: j.since(), resumed: rec.resumes.Load() != resumes}
		switch {
		case err != nil:
			c.class, c.detail = classifySDK(err, rec.take()), shortErr(err)
			if rpcCode(err) == 0 && !strings.Contains(c.class, "HTTP 5") {
				// The session is gone or its connection broken: a new
				// one (a 5xx leaves the session usable).
				go cs.Close()
				cs = nil
			}
		case res.IsError || len(res.Content) != 1:
			c.ok, c.wrong = true, fmt.Sprintf("isError=%v content=%d", res.IsError, len(res.Content))
		default:
			if tc, ok := res.Content[0].(*mcp.TextContent); !ok || tc.Text != msg {
				c.ok, c.wrong = true, fmt.Sprintf("echo answered %#v for %q", res.Content[0], msg)
			} else {
				c.ok = true
			}
		}
		j.add(c)
		time.Sleep(think)
	}
}

func rpcCode(err error) int64 {
	var e *jsonrpcError
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// classifySDK names a go-sdk client error, with what the recorder saw of
// the failed POST.
func classifySDK(err error, lastHTTP string) string {
	switch code := rpcCode(err); {
	case strings.HasPrefix(lastHTTP, "HTTP 404, JSON-RPC"):
		// The go-sdk passes the body of a 404 on as the call's error,
		// or reports the session missing.
		return "HTTP 404 session gone"
	case code == codeRejected && lastHTTP != "":
		return lastHTTP
	case code != 0:
		return fmt.Sprintf("JSON-RPC %d", code)
	case errors.Is(err, mcp.ErrSessionMissing) && strings.HasPrefix(lastHTTP, "HTTP 404, JSON-RPC"):
		return "HTTP 404 session gone"
	case lastHTTP != "":
		return lastHTTP
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, mcp.ErrConnectionClosed):
		return "connection closed"
	}
	return "other: " + shortErr(err)
}

// modernClient speaks the stateless 2026-07-28 era with plain POSTs.
func modernClient(hc *http.Client, url, group string, id int, runID string, think time.Duration, stop *atomic.Bool, j *journal) {
	seq := 0
	for !stop.Load() {
		seq++
		msg := fmt.Sprintf("%s.%s.%d.%d", runID, strings.ReplaceAll(group, "/", "-"), id, seq)
		start := j.since()
		c := modernCall(hc, url, seq, msg)
		c.group, c.client, c.msg, c.start, c.end = group, id, msg, start, j.since()
		j.add(c)
		time.Sleep(think)
	}
}

func modernCall(hc *http.Client, url string, id int, msg string) call {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":%q},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"cluster","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`, id, msg)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", "echo")
	resp, err := hc.Do(req)
	if err != nil {
		return call{class: "transport error: " + shortErr(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
		c := call{class: describeHTTP(resp.StatusCode, b), detail: string(b)}
		if resp.StatusCode == http.StatusTooManyRequests {
			c.limited = true
		}
		return c
	}
	var msgs [][]byte
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var data []byte
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "data:"):
				data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")...)
			case line == "" && len(data) > 0:
				msgs = append(msgs, data)
				data = nil
			}
		}
		if err := sc.Err(); err != nil {
			return call{class: "stream cut: " + shortErr(err)}
		}
	} else {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return call{class: "body cut: " + shortErr(err)}
		}
		msgs = append(msgs, b)
	}
	for _, m := range msgs {
		var r struct {
			ID     json.RawMessage `json:"id"`
			Result *struct {
				Content []struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"content"`
				IsError bool `json:"isError"`
			} `json:"result"`
			Error *jsonrpcError `json:"error"`
		}
		if err := json.Unmarshal(m, &r); err != nil {
			return call{ok: true, wrong: "unparsable message: " + string(m)}
		}
		if r.Result == nil && r.Error == nil {
			continue // a notification
		}
		if string(r.ID) != fmt.Sprint(id) {
			return call{ok: true, wrong: fmt.Sprintf("response id %s, want %d", r.ID, id)}
		}
		if r.Error != nil {
			c := call{class: fmt.Sprintf("HTTP 200, JSON-RPC %d", r.Error.Code), detail: r.Error.Message}
			c.limited = r.Error.Code == -31004
			return c
		}
		if r.Result.IsError || len(r.Result.Content) != 1 || r.Result.Content[0].Text != msg {
			return call{ok: true, wrong: fmt.Sprintf("result %s for %q", m, msg)}
		}
		return call{ok: true}
	}
	return call{class: "no response in the stream"}
}

// jsonrpcError is the JSON-RPC error object, as the go-sdk returns it.
type jsonrpcError = jsonrpc.Error
