package remote

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mcpfort/mcpfort/transport"
)

// chunkConn is a net.Conn whose reads return the bytes of r at most size
// at a time.
type chunkConn struct {
	net.Conn
	r    *bytes.Reader
	size int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if c.size > 0 && len(p) > c.size {
		p = p[:c.size]
	}
	return c.r.Read(p)
}

// bufCounter lends buffers of size and counts those not given back.
type bufCounter struct {
	size, out int
}

func (c *bufCounter) get() []byte  { c.out++; return make([]byte, c.size) }
func (c *bufCounter) put(b []byte) { c.out-- }
func (c *bufCounter) readAll(b *streamBody) ([]byte, error) {
	var all []byte
	for {
		p, n, err := b.ReadReady(c.get, c.put)
		all = append(all, p[:n]...)
		if p != nil {
			c.put(p)
		}
		if err != nil {
			return all, err
		}
	}
}

// streamRead reads the body of resp (a response head followed by the body)
// with streamBody, through Read with buffers of size bufSize or through
// ReadReady, the connection returning at most conn bytes a read.
//
// reusable reports whether streamBody would let the connection be reused;
// unread, how many bytes it left unread (those after the body's end are
// then found by the prober before the connection is reused).
func streamRead(t *testing.T, resp []byte, conn, bufSize int, ready bool) (body []byte, reusable bool, unread int, err error) {
	c := &chunkConn{r: bytes.NewReader(resp), size: conn}
	pc := &h1conn{c: c, br: bufio.NewReaderSize(c, 2048)}
	r, err := http.ReadResponse(pc.br, nil)
	if err != nil {
		return nil, false, 0, err
	}
	sb := newStreamBody(pc, r)
	if sb == nil {
		t.Fatalf("no streamBody for %q", resp)
	}
	if pc.br != nil {
		t.Fatal("the connection kept its reader")
	}
	if ready {
		bc := &bufCounter{size: max(bufSize, 1)}
		body, err = bc.readAll(sb)
		if bc.out != 0 {
			t.Fatalf("%d buffers not given back", bc.out)
		}
	} else {
		buf := make([]byte, max(bufSize, 1))
		for {
			var n int
			n, err = sb.Read(buf)
			body = append(body, buf[:n]...)
			if err != nil {
				break
			}
		}
	}
	if err == io.EOF {
		err = nil
	}
	return body, sb.reusable(), c.r.Len(), err
}

// httpRead reads the body of resp with net/http over the 2 KiB reader the
// connection had before streamBody.
func httpRead(resp []byte) ([]byte, error) {
	r, err := http.ReadResponse(bufio.NewReaderSize(bytes.NewReader(resp), 2048), nil)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r.Body)
}

const chunkedHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

func TestStreamBodyFraming(t *testing.T) {
	long := strings.Repeat("x", 3000)
	for _, tc := range []struct {
		name, resp, want string
		err              bool
		reusable         bool
	}{
		{"chunked", chunkedHead + "5\r\nhello\r\n1;ext=1\r\n \r\n6 \t\r\nworld!\r\n0\r\n\r\n", "hello world!", false, true},
		{"chunked long", chunkedHead + "bb8\r\n" + long + "\r\n0\r\n\r\n", long, false, true},
		{"trailer", chunkedHead + "1\r\na\r\n0\r\nX-T: 1\r\nY: \r\n\r\n", "a", false, true},
		{"bytes after the end", chunkedHead + "1\r\na\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n", "a", false, false},
		{"length", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 5\r\n\r\nhello", "hello", false, true},
		{"length and more", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 5\r\n\r\nhello, world", "hello", false, false},
		{"length zero", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 0\r\n\r\n", "", false, true},
		{"close", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\nuntil the end", "until the end", false, false},
		{"short length", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 9\r\n\r\nhello", "", true, false},
		{"truncated", chunkedHead + "5\r\nhel", "", true, false},
		{"no last chunk", chunkedHead + "5\r\nhello\r\n", "", true, false},
		{"bare LF", chunkedHead + "5\nhello\r\n0\r\n\r\n", "", true, false},
		{"bare LF after data", chunkedHead + "5\r\nhello\n0\r\n\r\n", "", true, false},
		{"CR in line", chunkedHead + "5\r;x\r\nhello\r\n0\r\n\r\n", "", true, false},
		{"no size", chunkedHead + ";x\r\nhello\r\n0\r\n\r\n", "", true, false},
		{"space before extension", chunkedHead + "5 ;x\r\nhello\r\n0\r\n\r\n", "", true, false},
		{"17 digits", chunkedHead + "00000000000000005\r\nhello\r\n0\r\n\r\n", "", true, false},
		{"not hex", chunkedHead + "5g\r\nhello\r\n0\r\n\r\n", "", true, false},
		{"long extension", chunkedHead + "5;" + strings.Repeat("e", 2050) + "\r\nhello\r\n0\r\n\r\n", "", true, false},
		{"overhead", chunkedHead + strings.Repeat("1;"+strings.Repeat("e", 200)+"\r\nx\r\n", 100) + "0\r\n\r\n", "", true, false},
		{"trailer without colon", chunkedHead + "0\r\nX-T\r\n\r\n", "", true, false},
		{"trailer folded", chunkedHead + "0\r\nX-T: 1\r\n 2\r\n\r\n", "", true, false},
		{"trailer name not a token", chunkedHead + "0\r\n\"X: 1\r\n\r\n", "", true, false},
		{"trailer space before colon", chunkedHead + "0\r\nX-T : 1\r\n\r\n", "", true, false},
		{"trailer value with NUL", chunkedHead + "0\r\nX-T: a\x00b\r\n\r\n", "", true, false},
		{"trailer value with DEL", chunkedHead + "0\r\nX-T: a\x7fb\r\n\r\n", "", true, false},
		{"trailer value with HTAB and obs-text", chunkedHead + "1\r\na\r\n0\r\nX-T: a\tb\xe9\r\n\r\n", "a", false, true},
		{"trailer section ended by bare LF", chunkedHead + "0\r\n\n", "", true, false},
		{"long trailer", chunkedHead + "0\r\nX-T: " + strings.Repeat("t", 2100) + "\r\n\r\n", "", true, false},
	} {
		for _, ready := range []bool{false, true} {
			for _, conn := range []int{0, 1, 7} {
				for _, size := range []int{1, 3, 4096} {
					got, reusable, unread, err := streamRead(t, []byte(tc.resp), conn, size, ready)
					if tc.err {
						if err == nil {
							t.Errorf("%s (ready %v, conn %d, buf %d): read %q, no error", tc.name, ready, conn, size, got)
						}
						continue
					}
					if err != nil || string(got) != tc.want || reusable != tc.reusable && !(reusable && unread > 0) {
						t.Errorf("%s (ready %v, conn %d, buf %d): %q %v, reusable %v; want %q, reusable %v",
							tc.name, ready, conn, size, got, err, reusable, tc.want, tc.reusable)
					}
				}
			}
		}
	}
}

// FuzzStreamBody checks streamBody against net/http's chunked reader over
// the connection's 2 KiB reader: whatever streamBody reads without error,
// net/http reads the same, and it reads whatever net/http reads when no
// trailer field is sent (it is stricter about those).
func FuzzStreamBody(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), uint8(0), uint8(3), false)
	f.Add([]byte("1;a=b\r\nx\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n"), uint8(1), uint8(16), true)
	f.Add([]byte("0\r\n\r\n"), uint8(2), uint8(1), true)
	f.Fuzz(func(t *testing.T, body []byte, conn, buf uint8, ready bool) {
		resp := append([]byte(chunkedHead), body...)
		got, _, _, err := streamRead(t, resp, int(conn), int(buf), ready)
		want, werr := httpRead(resp)
		if err == nil {
			if werr != nil || !bytes.Equal(got, want) {
				t.Fatalf("%q: streamBody read %q, net/http %q, %v", body, got, want, werr)
			}
			return
		}
		if werr == nil && bytes.Contains(body, []byte("0\r\n\r\n")) && bytes.HasSuffix(body, []byte("\r\n\r\n")) &&
			!errors.Is(err, errTrailerLarge) {
			// net/http read the body: streamBody must too, unless the
			// trailer section held a field it refuses.
			// Nor when what net/http read holds a bare LF: it takes one for
			// a line's end in the trailer section, streamBody never does
			// (RFC 9112 section 2.2 allows either; CRLF only is stricter).
			src := bytes.NewReader(resp)
			br := bufio.NewReaderSize(src, 2048)
			r, _ := http.ReadResponse(br, nil)
			_, _ = io.ReadAll(r.Body)
			read := resp[:len(resp)-src.Len()-br.Buffered()]
			if len(r.Trailer) == 0 && !bareLF(read) {
				t.Fatalf("%q: streamBody failed (%v), net/http read %q", body, err, want)
			}
		}
	})
}

// bareLF reports whether b holds an LF not preceded by CR.
func bareLF(b []byte) bool {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

// TestH1EventStreams reads event streams through h1 over TCP and TLS with
// transport.SSEReader, events flushed one at a time, and checks that the
// connection is reused after a stream read to its end.
func TestH1EventStreams(t *testing.T) {
	var conns atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "id: %d\ndata: {\"n\":%d,\"pad\":%q}\n\n", i, i, strings.Repeat("p", i*3000))
			w.(http.Flusher).Flush()
		}
	})
	for _, tlsOn := range []bool{false, true} {
		srv := httptest.NewUnstartedServer(h)
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		if tlsOn {
			srv.StartTLS()
		} else {
			srv.Start()
		}
		conns.Store(0)
		tr := newTestH1(t, srv.URL)
		if tlsOn {
			tr.tls.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
		}
		for range 3 {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			r := transport.NewSSEReader(resp.Body, 0)
			for i := range 3 {
				ev, err := r.Next()
				want := fmt.Sprintf("{\"n\":%d,\"pad\":%q}", i, strings.Repeat("p", i*3000))
				if err != nil || ev.ID != fmt.Sprint(i) || string(ev.Data) != want {
					t.Fatalf("tls %v, event %d: %+v %v", tlsOn, i, ev, err)
				}
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("tls %v: after the last event: %v", tlsOn, err)
			}
			resp.Body.Close()
		}
		if n := conns.Load(); n != 1 {
			t.Errorf("tls %v: %d connections for 3 streams read to their end, want 1", tlsOn, n)
		}
		tr.CloseIdleConnections()
		srv.Close()
	}
}
