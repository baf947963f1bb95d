package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
)

// heldFixture is a gateway in front of an upstream whose GET streams send
// the events written to events and end when end is closed; gone receives
// once for each upstream GET whose client (the gateway) went away.
type heldFixture struct {
	gw     *gateway.Gateway
	url    string
	sid    string
	events chan string
	end    chan struct{}
	gone   chan struct{}
	opened atomic.Int32
}

func newHeldFixture(t *testing.T) *heldFixture {
	f := &heldFixture{events: make(chan string, 8), end: make(chan struct{}), gone: make(chan struct{}, 8)}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		f.opened.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case ev := <-f.events:
				io.WriteString(w, ev)
				w.(http.Flusher).Flush()
			case <-f.end:
				return
			case <-r.Context().Done():
				f.gone <- struct{}{}
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	kr, _ := session.NewKeyring(session.GenerateSecret())
	rem, err := remote.New(remote.Options{URL: up.URL})
	if err != nil {
		t.Fatal(err)
	}
	f.gw, err = gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraLegacy})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.gw)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	now := time.Now()
	f.sid, _ = kr.Seal(&session.State{ID: session.NewID(), Route: "r", Version: "2025-11-25", UpstreamSession: "u1", Created: now, Expires: now.Add(time.Hour)})
	return f
}

// open sends the GET on a raw connection and reads the response head.
func (f *heldFixture) open(t *testing.T) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	addr := strings.TrimPrefix(f.url, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+addr+"\r\nAccept: text/event-stream\r\nMcp-Session-Id: "+f.sid+"\r\nMcp-Protocol-Version: 2025-11-25\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.TransferEncoding == nil {
		t.Fatalf("GET: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Type"), resp.TransferEncoding)
	}
	return c, br, resp
}

func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 256)
	for !strings.Contains(string(got), want) {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("reading for %q: got %q, %v", want, got, err)
		}
	}
	return string(got)
}

// TestHeldStreamRelaysAndEnds: events reach the client on a held GET
// stream in valid chunked framing, and when the upstream ends the stream
// the body ends with the last chunk (a clean EOF, not a cut connection).
func TestHeldStreamRelaysAndEnds(t *testing.T) {
	f := newHeldFixture(t)
	_, _, resp := f.open(t)
	f.events <- "id: e1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"one\"}}\n\n"
	readUntil(t, resp.Body, `"data":"one"`)
	close(f.end)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body after the upstream ended: %v (read %q)", err, rest)
	}
}

// TestHeldStreamClientGone: a client that hangs up on a held GET stream,
// with nothing to relay, ends the upstream GET at once.
func TestHeldStreamClientGone(t *testing.T) {
	f := newHeldFixture(t)
	c, _, _ := f.open(t)
	if f.opened.Load() != 1 {
		t.Fatalf("upstream GETs: %d", f.opened.Load())
	}
	c.Close()
	select {
	case <-f.gone:
	case <-time.After(5 * time.Second):
		close(f.end) // lets the upstream server close
		t.Fatal("the upstream GET outlived its client by 5s")
	}
}

// TestHeldStreamDrain: Drain ends a held stream with a retry hint and the
// last chunk, and returns once it is written.
func TestHeldStreamDrain(t *testing.T) {
	f := newHeldFixture(t)
	_, _, resp := f.open(t)
	start := time.Now()
	f.gw.Drain()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Drain took %s", d)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("drained body: %v (read %q)", err, body)
	}
	if !strings.Contains(string(body), "retry:") {
		t.Fatalf("drained stream without a retry hint: %q", body)
	}
}
