//go:build unix

package remote

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
)

// TestStreamBodyWaitsWithoutBuffer: over a TCP connection, ReadReady gives
// back the buffer it took when the socket has nothing yet, and holds none
// while it waits for the next chunk.
func TestStreamBodyWaitsWithoutBuffer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := <-accepted
	if srv == nil {
		t.Fatal("accept failed")
	}
	defer srv.Close()
	if _, err := io.WriteString(srv, chunkedHead+"5\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}

	pc := &h1conn{c: c, br: bufio.NewReaderSize(c, 2048)}
	resp, err := http.ReadResponse(pc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	sb := newStreamBody(pc, resp)
	var out atomic.Int32
	waiting := make(chan struct{}, 16)
	get := func() []byte { out.Add(1); return make([]byte, 64) }
	put := func([]byte) { out.Add(-1); waiting <- struct{}{} }
	read := func() string {
		p, n, err := sb.ReadReady(get, put)
		if err != nil && err != io.EOF { // the end may come with the last bytes
			t.Error(err)
		}
		out.Add(-1)
		return string(p[:n])
	}
	if got := read(); got != "hello" {
		t.Fatalf("first chunk %q", got)
	}
	got := make(chan string, 1)
	go func() { got <- read() }()
	<-waiting // the socket had nothing: the buffer went back before the wait
	if n := out.Load(); n != 0 {
		t.Fatalf("%d buffers held while waiting", n)
	}
	if _, err := io.WriteString(srv, "6\r\nworld!\r\n0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "world!" {
		t.Fatalf("second chunk %q", s)
	}
	if _, _, err := sb.ReadReady(get, put); err != io.EOF {
		t.Fatalf("after the last chunk: %v", err)
	}
	if !sb.reusable() {
		t.Fatal("a body read to its end leaves the connection unusable")
	}
}
