//go:build unix

package remote

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"syscall"
)

// rawReader reads a connection. ReadReady waits for the socket to be
// readable holding no buffer: the read is made from the raw connection's
// callback, with a buffer taken just for it and given back when the socket
// has nothing yet, before the goroutine parks in the poller. A TLS
// connection buffers records of its own, so readiness of its socket says
// nothing: it is read as any connection, into a buffer taken first.
type rawReader struct {
	c     net.Conn
	rc    syscall.RawConn // nil: no socket to wait on
	fn    func(fd uintptr) bool
	ready bool // rc and fn are set up, if they can be

	// One ReadReady call's state, for fn.
	get func() []byte
	put func([]byte)
	p   []byte
	lim int
	n   int
	err error
}

func (r *rawReader) init(c net.Conn) { r.c = c }

// setup gets the raw connection when ReadReady first needs it: a stream
// whose every byte came with its response head (an answer to a POST)
// never does.
func (r *rawReader) setup() {
	r.ready = true
	c := r.c
	if _, ok := c.(*tls.Conn); ok {
		return
	}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			r.rc = rc
			r.fn = r.read
		}
	}
}

func (r *rawReader) Read(p []byte) (int, error) { return r.c.Read(p) }

// ReadReady reads at most limit bytes (all it can if limit < 0) into a
// buffer from get, once the connection has some (or an end or error).
func (r *rawReader) ReadReady(get func() []byte, put func([]byte), limit int) ([]byte, int, error) {
	if !r.ready {
		r.setup()
	}
	if r.rc == nil {
		return readTaking(r.c, get, limit)
	}
	r.get, r.put, r.lim = get, put, limit
	r.p, r.n, r.err = nil, 0, nil
	err := r.rc.Read(r.fn)
	p, n := r.p, r.n
	if err == nil {
		err = r.err
	}
	r.get, r.put, r.p, r.err = nil, nil, nil, nil
	if p != nil && n == 0 {
		put(p)
		p = nil
	}
	return p, n, err
}

// read is the raw connection's callback: it reports whether it is done,
// false to wait for the socket to be readable.
func (r *rawReader) read(fd uintptr) bool {
	if r.p == nil {
		r.p = r.get()
	}
	q := r.p
	if r.lim >= 0 && r.lim < len(q) {
		q = q[:r.lim]
	}
	for {
		n, err := syscall.Read(int(fd), q)
		switch err {
		case nil:
			r.n = n
			if n == 0 && len(q) > 0 {
				r.err = io.EOF
			}
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			r.put(r.p)
			r.p = nil
			return false
		}
		r.err = os.NewSyscallError("read", err)
		return true
	}
}
