//go:build unix

package remote

import (
	"crypto/tls"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// prober looks at one connection's socket. It is made the first time the
// connection is taken from the pool and kept with it, so that a probe
// allocates nothing: the raw connection and the callback are made once,
// and recvfrom is called without an address (unix.Recvfrom would allocate
// one for the sender's).
type prober struct {
	rc    syscall.RawConn // nil: the connection has no socket to look at
	fn    func(fd uintptr) bool
	buf   [1]byte
	alive bool
}

func newProber(c net.Conn) *prober {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	p := &prober{}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			p.rc = rc
		} else {
			p.rc = errRawConn{}
		}
	}
	p.fn = p.peek
	return p
}

// idle reports whether an idle connection is still open, with one
// non-blocking MSG_PEEK receive on its socket: nothing to read (EAGAIN)
// means open; end of stream, an error or bytes the server sent unasked
// (a TLS close_notify, a stray response) mean it must not be reused. A
// read with a past deadline cannot tell: Go refuses it before asking the
// kernel.
func (p *prober) idle() bool {
	if p.rc == nil {
		return true
	}
	p.alive = false
	err := p.rc.Read(p.fn)
	return err == nil && p.alive
}

func (p *prober) peek(fd uintptr) bool {
	_, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p.buf[0])), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	p.alive = errno == unix.EAGAIN || errno == unix.EWOULDBLOCK
	return true // never wait for readiness
}

// errRawConn stands for a socket whose raw connection could not be had:
// never reused, as before.
type errRawConn struct{}

func (errRawConn) Control(func(uintptr)) error    { return syscall.EINVAL }
func (errRawConn) Read(func(uintptr) bool) error  { return syscall.EINVAL }
func (errRawConn) Write(func(uintptr) bool) error { return syscall.EINVAL }
