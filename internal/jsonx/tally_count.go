//go:build jsonxcount

package jsonx

import "sync/atomic"

// scanned is the number of bytes every scan so far passed over. It exists
// only in builds with the jsonxcount tag, which tests use to count how
// often the gateway reads a message (go test -tags jsonxcount).
var scanned atomic.Int64

func tally(d *Decoder) { scanned.Add(int64(d.i)) }

// Scanned returns the bytes scanned since the process started, in builds
// with the jsonxcount tag.
func Scanned() int64 { return scanned.Load() }
