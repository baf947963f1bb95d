package gateway

import (
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// hangups tells held GET streams (heldStream) that their client hung up
// without a goroutine per stream: one epoll set, shared by the process,
// watches every held client connection for input or a hang-up (EPOLLIN,
// EPOLLRDHUP; one-shot), and one goroutine waits on it. A listening client
// sends nothing, so either means it is gone.
var hangups struct {
	once sync.Once
	epfd int // -1 when epoll could not be set up
	mu   sync.Mutex
	next int32
	m    map[int32]func() // registration id → the stream's cancel
}

// watchHangup arranges for gone to run once c's peer hangs up or sends
// anything. It returns the function that ends the watch, which must run
// before c is closed (a closed descriptor number can be reused), or ok false
// when c cannot be watched this way.
func watchHangup(c net.Conn, gone func()) (unwatch func(), ok bool) {
	hangups.once.Do(startHangups)
	if hangups.epfd < 0 {
		return nil, false
	}
	sc, isSC := c.(syscall.Conn)
	if _, tcp := c.(*net.TCPConn); !tcp || !isSC {
		return nil, false // TLS, or something else: its bytes are not ours to peek
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	hangups.mu.Lock()
	id := hangups.next
	for {
		id++
		if _, used := hangups.m[id]; !used {
			break
		}
	}
	hangups.next = id
	hangups.m[id] = gone
	hangups.mu.Unlock()
	var cerr error
	err = rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: id}
		cerr = unix.EpollCtl(hangups.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil {
		err = cerr
	}
	forget := func() {
		hangups.mu.Lock()
		delete(hangups.m, id)
		hangups.mu.Unlock()
	}
	if err != nil {
		forget()
		return nil, false
	}
	return func() {
		forget()
		_ = rc.Control(func(fd uintptr) {
			_ = unix.EpollCtl(hangups.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		})
	}, true
}

func startHangups() {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		hangups.epfd = -1
		return
	}
	hangups.epfd = fd
	hangups.m = map[int32]func(){}
	go func() {
		events := make([]unix.EpollEvent, 64)
		for {
			n, err := unix.EpollWait(fd, events, -1)
			if err != nil {
				continue // EINTR
			}
			for _, ev := range events[:n] {
				hangups.mu.Lock()
				gone := hangups.m[ev.Fd]
				delete(hangups.m, ev.Fd)
				hangups.mu.Unlock()
				if gone != nil {
					gone()
				}
			}
		}
	}()
}
