package glob

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern string
		name    string
		want    bool
	}{
		{"echo", "echo", true},
		{"echo", "Echo", false},
		{"echo", "echo2", false},
		{"*", "", true},
		{"*", "anything/at all", true},
		{"get_*", "get_user", true},
		{"get_*", "get_", true},
		{"get_*", "list_users", false},
		{"*_delete", "user_delete", true},
		{"*_delete", "user_delete_all", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"a*b*c", "abcabc", true},
		{"a**c", "ac", true},
		{"?", "é", true},
		{"?", "ab", false},
		{"??", "é", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*?", "é", true},
		{"*??", "é", false},
		{"*??", "aé", true},
		{"x*?y*z", "x1y2z", true},
		{"x*?y*z", "xyz", false},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`a\?`, "a?", true},
		{`a\?`, "ab", false},
		{`a\\b`, `a\b`, true},
		{"file:///public/*", "file:///public/a/b.txt", true},
		{"file:///public/*", "file:///private/a", false},
		{"admin.tools.*", "admin.tools.list", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.name, func(t *testing.T) {
			p, err := Compile(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Match(tt.name); got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.name, got, tt.want)
			}
			if got := reference(t, tt.pattern).MatchString(tt.name); got != tt.want {
				t.Errorf("reference disagrees with the table: %v", got)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, bad := range []string{"", `abc\`, "\xff", strings.Repeat("a", MaxPatternLen+1)} {
		t.Run(bad, func(t *testing.T) {
			if _, err := Compile(bad); !errors.Is(err, ErrSyntax) {
				t.Errorf("Compile(%q) = %v, want ErrSyntax", bad, err)
			}
		})
	}
	if _, err := CompileList([]string{"ok", "", "also*ok", `bad\`}); err == nil || strings.Count(err.Error(), "invalid pattern") != 2 {
		t.Errorf("CompileList reports %v, want both errors", err)
	}
}

func TestList(t *testing.T) {
	l, err := CompileList([]string{"echo", "get_*", "exact?"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"echo": true, "get_x": true, "exact1": true, "exact": false, "other": false} {
		if got := l.Match(name); got != want {
			t.Errorf("Match(%q) = %v, want %v", name, got, want)
		}
	}
	if (List{}).Match("x") || !(List{}).Empty() || l.Empty() {
		t.Error("empty list semantics")
	}
	var zero Pattern
	if zero.Match("") || zero.Match("x") {
		t.Error("the zero Pattern must match nothing")
	}
}

// TestLinearTime checks that a pathological pattern and name finish
// quickly (a backtracking matcher would take exponential time).
func TestLinearTime(t *testing.T) {
	p := MustCompile(strings.Repeat("a*", 50) + "b")
	name := strings.Repeat("a", 100_000)
	if p.Match(name) {
		t.Fatal("matched")
	}
}

// reference builds the regexp a pattern means.
func reference(t testing.TB, pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '\\':
			_, size := utf8.DecodeRuneInString(pattern[i+1:])
			b.WriteString(regexp.QuoteMeta(pattern[i+1 : i+1+size]))
			i += size
		default:
			_, size := utf8.DecodeRuneInString(pattern[i:])
			b.WriteString(regexp.QuoteMeta(pattern[i : i+size]))
			i += size - 1
		}
	}
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String())
}

// FuzzMatch checks that Compile and Match never panic and agree with the
// regular expression the pattern stands for.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"a*b", "axxb"}, {"?é*", "éé"}, {`\*x`, "*x"}, {"**", ""}, {"a?*?b", "a12b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		p, err := Compile(pattern)
		if err != nil {
			return
		}
		got := p.Match(name)
		if !utf8.ValidString(name) {
			return // names reach policies from validated JSON only
		}
		if want := reference(t, pattern).MatchString(name); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference %v", pattern, name, got, want)
		}
	})
}
