//go:build !jsonxcount

package jsonx

// tally counts the bytes a decoder passed over in builds with the
// jsonxcount tag (see tally_count.go); in every other build it does
// nothing and compiles away.
func tally(*Decoder) {}
