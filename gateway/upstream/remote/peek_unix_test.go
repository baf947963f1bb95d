//go:build unix

package remote

import (
	"net"
	"testing"
	"time"
)

// TestProber: an idle connection is open while the server holds it
// quietly, not once the server sent bytes unasked or closed it; a probe
// allocates nothing.
func TestProber(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() (net.Conn, net.Conn) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s := <-accepted
		t.Cleanup(func() { s.Close() })
		return c, s
	}
	c, s := dial()
	p := newProber(c)
	if !p.idle() {
		t.Fatal("open, quiet connection reported closed")
	}
	if n := testing.AllocsPerRun(100, func() { p.idle() }); n != 0 {
		t.Errorf("a probe allocates %v times, want 0", n)
	}
	s.Write([]byte("HTTP/1.1 200 OK\r\n"))
	waitFor(t, func() bool { return !p.idle() }, "bytes sent unasked")

	c2, s2 := dial()
	p2 := newProber(c2)
	s2.Close()
	waitFor(t, func() bool { return !p2.idle() }, "server closed")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: still reported open", what)
}
