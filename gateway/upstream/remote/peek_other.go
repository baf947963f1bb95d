//go:build !unix

package remote

import "net"

// prober cannot look at the socket here: an idle connection is assumed
// open, and a request that meets a closed one fails rather than being
// sent twice.
type prober struct{}

func newProber(net.Conn) *prober { return &prober{} }

func (*prober) idle() bool { return true }
