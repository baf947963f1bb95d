//go:build !unix

package remote

import "net"

// rawReader reads a connection; here ReadReady takes its buffer before
// waiting.
type rawReader struct{ c net.Conn }

func (r *rawReader) init(c net.Conn) { r.c = c }

func (r *rawReader) Read(p []byte) (int, error) { return r.c.Read(p) }

func (r *rawReader) ReadReady(get func() []byte, put func([]byte), limit int) ([]byte, int, error) {
	return readTaking(r.c, get, limit)
}
