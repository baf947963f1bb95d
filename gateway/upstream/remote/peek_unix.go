//go:build unix

package remote

import (
	"crypto/tls"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peekIdle reports whether an idle connection is still open, with one
// non-blocking MSG_PEEK receive on its socket: nothing to read (EAGAIN)
// means open; end of stream, an error or bytes the server sent unasked
// (a TLS close_notify, a stray response) mean it must not be reused. A
// read with a past deadline cannot tell: Go refuses it before asking the
// kernel.
func peekIdle(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		alive = rerr == unix.EAGAIN || rerr == unix.EWOULDBLOCK
		return true // never wait for readiness
	})
	return err == nil && alive
}
