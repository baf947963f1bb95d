package textcut

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 0, ""},
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"0123456789abc", 10, "0123456789" + Mark},
		{"012345678é", 10, "012345678" + Mark},
		{"ééééé", 3, "é" + Mark},
		{"é", 1, Mark},
		{"abc", 0, Mark},
		{"abc", -1, Mark},
	} {
		if got := Cut(tc.in, tc.n); got != tc.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func FuzzCut(f *testing.F) {
	f.Add("0123456789abc", 10)
	f.Add("ééééé", 3)
	f.Add("\xff\xfe", 1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 1 << 12
		got := Cut(s, n)
		if len(s) <= n {
			if got != s {
				t.Fatalf("Cut(%q, %d) = %q: a short string must stay as is", s, n, got)
			}
			return
		}
		kept, ok := strings.CutSuffix(got, Mark)
		if !ok || len(kept) > max(n, 0) || !strings.HasPrefix(s, kept) {
			t.Fatalf("Cut(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Cut(%q, %d) = %q: valid UTF-8 made invalid", s, n, got)
		}
	})
}
