//go:build !linux

package gateway

import "net"

// watchHangup is epoll's; elsewhere a goroutine per stream watches.
func watchHangup(net.Conn, func()) (func(), bool) { return nil, false }
