package remote

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestH1(t *testing.T, raw string) *h1 {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return newH1(u)
}

func TestH1KeepAliveAndFraming(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Content-Type", "text/plain")
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
		default:
			fmt.Fprintf(w, "echo:%s", b)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := newTestH1(t, srv.URL)
	defer tr.CloseIdleConnections()
	for i := 0; i < 20; i++ {
		path := "/"
		if i%2 == 1 {
			path = "/chunked"
		}
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(fmt.Sprint(i)))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf("echo:%d", i)
		if path == "/chunked" {
			want = "part0;part1;part2;"
		}
		if err != nil || string(b) != want {
			t.Fatalf("request %d: %q %v", i, b, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for sequential requests, want 1 (keep-alive)", n)
	}
}

// TestH1StaleConnection: the server closes an idle connection; the next
// request must not fail.
func TestH1StaleConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var served atomic.Int32
	closed := make(chan struct{}, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				served.Add(1)
				// Answer, then close the kept-alive connection at once.
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				c.Close()
				closed <- struct{}{}
			}(c)
		}
	}()
	base := "http://" + ln.Addr().String()
	tr := newTestH1(t, base)
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest("POST", base+"/", strings.NewReader("x"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d after the server closed the connection: %v", i, err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		<-closed // the idle connection in the pool is now closed
	}
	if served.Load() != 5 {
		t.Fatalf("served %d, want 5 (no request twice)", served.Load())
	}
}

// TestH1StreamCancel: a streamed body closed early, or a cancelled
// context, releases everything and never returns the connection to the
// pool mid-stream.
func TestH1StreamCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	tr := newTestH1(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	line, _ := br.ReadString('\n')
	if line != "data: first\n" {
		t.Fatalf("first line %q", line)
	}
	if blank, _ := br.ReadString('\n'); blank != "\n" {
		t.Fatalf("event end %q", blank)
	}
	done := make(chan error, 1)
	go func() {
		_, err := br.ReadString('\n') // blocks until cancelled
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read went on after cancellation")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancellation did not unblock the read")
	}
	resp.Body.Close()
	tr.mu.Lock()
	n := len(tr.idle)
	tr.mu.Unlock()
	if n != 0 {
		t.Fatal("a cancelled stream's connection went back to the pool")
	}
}

func TestH1TLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secure") }))
	defer srv.Close()
	tr := newTestH1(t, srv.URL)
	tr.tls.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "secure" {
				t.Errorf("body %q", b)
			}
		}()
	}
	wg.Wait()
}

// TestH1ReuseAfterExactRead: a body read exactly to its Content-Length
// (io.ReadFull, no EOF seen) still returns the connection to the pool.
func TestH1ReuseAfterExactRead(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "0123456789")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := newTestH1(t, srv.URL)
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

// TestH1NoResendAfterWrite: a POST that reached the server, which then
// closed the connection without answering, is an error and is never sent
// again: the server may have acted on it (a tools/call would run twice).
// A GET in the same situation may be repeated (RFC 9110 section 9.2.2).
func TestH1NoResendAfterWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var received atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 0; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					received.Add(1)
					if n == 1 {
						return // read the second request whole, then hang up
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}(c)
		}
	}()
	base := "http://" + ln.Addr().String()
	for _, method := range []string{"POST", "GET"} {
		received.Store(0)
		tr := newTestH1(t, base)
		do := func() error {
			var body io.Reader
			if method == "POST" {
				body = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`)
			}
			req, _ := http.NewRequest(method, base+"/", body)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				return err
			}
			io.ReadAll(resp.Body)
			return resp.Body.Close()
		}
		if err := do(); err != nil {
			t.Fatal(err)
		}
		err := do()
		switch method {
		case "POST":
			if err == nil || received.Load() != 2 {
				t.Errorf("POST: error %v, server received %d requests, want an error and 2", err, received.Load())
			}
		case "GET":
			if err != nil || received.Load() != 3 {
				t.Errorf("GET: error %v, server received %d requests, want success after one repeat (3)", err, received.Load())
			}
		}
		tr.CloseIdleConnections()
	}
}
