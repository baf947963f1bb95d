package aggregate

import (
	"slices"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/transport"
)

func TestMergedIDRoundTrip(t *testing.T) {
	for _, last := range [][]string{
		{"", ""},
		{"_0", ""},
		{"", "7"},
		{"a.b.c", "1.2.3"},
		{"x/y", "", "m0.1.x"},
	} {
		id := mergedID(last)
		if !transport.ValidEventID(id) {
			t.Fatalf("mergedID(%q) = %q: not a valid event id", last, id)
		}
		got, err := parseMergedID(id, len(last))
		if err != nil || !slices.Equal(got, last) {
			t.Fatalf("parseMergedID(%q) = %q, %v; want %q", id, got, err, last)
		}
	}
	// Too long to be an event id: no id at all.
	if id := mergedID([]string{strings.Repeat("a", 200), strings.Repeat("b", 200)}); id != "" {
		t.Fatalf("oversized merged id %q", id)
	}
}

// FuzzParseMergedID: any Last-Event-ID is parsed without panicking, and
// what parses encodes back to itself.
func FuzzParseMergedID(f *testing.F) {
	f.Add("m0.2._01.3._12")
	f.Add("m")
	f.Add("m0.99.x")
	f.Add("m999.1.x")
	f.Fuzz(func(t *testing.T, s string) {
		last, err := parseMergedID(s, 4)
		if err != nil {
			return
		}
		if len(last) != 4 {
			t.Fatalf("%q: %d members", s, len(last))
		}
		if back := mergedID(last); back != s {
			t.Fatalf("%q parsed to %q, encodes to %q", s, last, back)
		}
	})
}
