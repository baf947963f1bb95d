package remote

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
)

var plainHeadSeeds = []struct {
	head  string
	plain bool // peekPlainHead takes it
}{
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Thu, 03 Dec 2026 16:02:31 GMT\r\nContent-Length: 2\r\n\r\n", true},
	{"HTTP/1.1 200\r\ncontent-type: application/json\r\ncontent-length: 2\r\nmcp-session-id: abc\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nContent-Type:application/json\r\nContent-Length:\t2\r\nConnection: keep-alive\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-Anything: a\tb\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n", true},
	// Not plain, each for its own reason.
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", true}, // read the slow way all the same
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: +2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2 \r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ntransfer-encoding: identity\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTrailer: X\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 2\r\n\r\n", true},
	{"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", false},
	{"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 2000 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n folded\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length : 2\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX: a\nY: b\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX: caf\xc3\xa9\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nMcp-Session-Id: a\r\nMcp-Session-Id: b\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: upgrade\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999\r\n\r\n", false},
	{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n", false},
}

// TestPlainHeadAgreesWithReadResponse: whatever head peekPlainHead takes,
// http.ReadResponse reads the same way (status, length, type, session,
// keep-alive), and a plain head consumes nothing it does not read.
func TestPlainHeadAgreesWithReadResponse(t *testing.T) {
	for _, s := range plainHeadSeeds {
		h, ok := checkPlainHead(t, []byte(s.head+"{}"))
		if ok != s.plain {
			t.Errorf("%q: plain %v, want %v (%+v)", s.head, ok, s.plain, h)
		}
	}
}

func FuzzPlainHead(f *testing.F) {
	for _, s := range plainHeadSeeds {
		f.Add([]byte(s.head + "{}"))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkPlainHead(t, b) })
}

func checkPlainHead(t *testing.T, b []byte) (plainHead, bool) {
	t.Helper()
	br := bufio.NewReaderSize(strings.NewReader(string(b)), 4096)
	_, _ = br.Peek(1)
	h, ok := peekPlainHead(br)
	if !ok {
		return h, false
	}
	if br.Buffered() != len(b) {
		t.Fatalf("peek consumed input")
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(b))), &http.Request{Method: http.MethodPost})
	if err != nil {
		t.Fatalf("%q: plain, but ReadResponse: %v", b, err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != h.contentLength || resp.Close != h.close ||
		(mediaType(first(resp.Header["Content-Type"])) == "text/event-stream") != h.stream ||
		(!h.stream && mediaType(first(resp.Header["Content-Type"])) != "application/json") ||
		first(resp.Header["Mcp-Session-Id"]) != string(h.session) || len(resp.TransferEncoding) != 0 {
		t.Fatalf("%q: plain %+v, ReadResponse status %d length %d close %v type %q session %q te %v", b, h,
			resp.StatusCode, resp.ContentLength, resp.Close, resp.Header["Content-Type"], resp.Header["Mcp-Session-Id"], resp.TransferEncoding)
	}
	// The head ends where ReadResponse's body begins.
	rest, _ := io.ReadAll(resp.Body)
	want := b[h.n:]
	if int64(len(want)) > h.contentLength {
		want = want[:h.contentLength]
	}
	if string(rest) != string(want) {
		t.Fatalf("%q: body after plain head %q, ReadResponse read %q", b, want, rest)
	}
	return h, true
}

// TestPostPlainMatchesSlow: an upstream's answer gives the same reply, or
// the same failure, through the plain path and through ReadResponse, and
// the plain path keeps the connection for the next request.
func TestPostPlainMatchesSlow(t *testing.T) {
	answers := []string{}
	for _, s := range plainHeadSeeds {
		if strings.HasSuffix(s.head, "\r\n\r\n") {
			cl := 2
			if strings.Contains(s.head, "Content-Length: 0\r\n") {
				cl = 0
			}
			answers = append(answers, s.head+"{}"[:cl])
		}
	}
	sse := "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"
	answers = append(answers,
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: "+strconv.Itoa(len(sse))+"\r\nMcp-Session-Id: s1\r\n\r\n"+sse,
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: "+strconv.Itoa(len(sse)+5)+"\r\n\r\n"+sse, // cut short
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nMcp-Session-Id: bad id\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{}", // cut short
	)
	for _, a := range answers {
		fast, fastConns := postOnce(t, a, true)
		slow, _ := postOnce(t, a, false)
		if fast != slow {
			t.Errorf("%q:\nplain path %s\nslow path  %s", a, fast, slow)
		}
		if h, ok := plainAnswer(a); ok && !h.close && int64(len(a)-h.n) == h.contentLength && fastConns != 1 {
			t.Errorf("%q: %d connections for two requests, want 1", a, fastConns)
		}
	}
}

// postOnce serves answer to two POSTs in a row (on one connection when
// kept alive) and describes the first reply.
func postOnce(t *testing.T, answer string, fast bool) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h, plain := plainAnswer(answer)
	keep := plain && !h.close && int64(len(answer)-h.n) == h.contentLength
	conns := make(chan int, 1)
	go func() {
		n := 0
		defer func() { conns <- n }()
		for served := 0; served < 2; {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n++
			br := bufio.NewReader(c)
			for served < 2 {
				req, err := http.ReadRequest(br)
				if err != nil {
					break
				}
				_, _ = io.Copy(io.Discard, req.Body)
				served++
				_, _ = c.Write([]byte(answer))
				if !keep {
					break // the answer's end is the connection's
				}
			}
			c.Close()
		}
	}()
	opts := Options{URL: "http://" + ln.Addr().String() + "/mcp"}
	u0, _ := New(opts)
	if !fast {
		opts.Client = &http.Client{Transport: newH1(u0.parsed)}
	}
	u, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close(context.Background())
	if fast != (u.fast != nil) {
		t.Fatalf("fast path %v, want %v", u.fast != nil, fast)
	}
	describe := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := u.Post(ctx, &upstream.Request{Body: []byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)})
		if err != nil {
			return "error: " + err.Error()
		}
		defer r.Close()
		d := r.Info().Session + " " + strconv.Itoa(r.Info().Status) + " " + strconv.FormatBool(r.Info().Stream)
		for range 5 {
			ev, err := r.Next(ctx)
			if err != nil {
				return d + " next: " + err.Error()
			}
			d += " data " + string(ev.Data) + " id " + ev.ID
		}
		return d
	}
	d := describe()
	_ = describe()
	ln.Close()
	u.Close(context.Background())
	return d, <-conns
}

// plainAnswer is peekPlainHead of a whole answer.
func plainAnswer(a string) (plainHead, bool) {
	br := bufio.NewReaderSize(strings.NewReader(a), 4096)
	_, _ = br.Peek(1)
	return peekPlainHead(br)
}
