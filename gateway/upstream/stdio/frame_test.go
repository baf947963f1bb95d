package stdio

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpfort/mcpfort/jsonrpc"
)

func readLines(r io.Reader, max int) ([]string, error) {
	lr := newLineReader(r, max)
	var out []string
	for {
		l, err := lr.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(l))
	}
}

func TestLineReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []string
		err  error
	}{
		{"lines", "a\nbb\n\nccc\n", 10, []string{"a", "bb", "", "ccc"}, nil},
		{"crlf", "a\r\nb\r\n", 10, []string{"a", "b"}, nil},
		{"bare CR is not a line end", "{\"a\":\r1}\r\r\n", 10, []string{"{\"a\":\r1}\r"}, nil},
		{"U+2028 and U+2029 are not line ends", "\"a\u2028b\u2029\"\n", 20, []string{"\"a\u2028b\u2029\""}, nil},
		{"no final newline", "a\nb", 10, []string{"a", "b"}, nil},
		{"exactly max", "12345\n", 5, []string{"12345"}, nil},
		{"exactly max at eof", "12345", 5, []string{"12345"}, nil},
		{"over max", "123456\n", 5, nil, errLineTooLong},
		{"over max at eof", "123456", 5, nil, errLineTooLong},
		{"long lines within max", strings.Repeat("x", 100000) + "\n" + "y\n", 200000, []string{strings.Repeat("x", 100000), "y"}, nil},
		{"long line over max", strings.Repeat("x", 200001) + "\n", 200000, nil, errLineTooLong},
		{"long line just over max", "ok\n" + strings.Repeat("x", 70000), 69999, []string{"ok"}, errLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				got, err := readLines(r, tt.max)
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				if d := cmp.Diff(tt.want, got); d != "" {
					t.Errorf("lines (-want +got):\n%s", d)
				}
			}
		})
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		kinds []jsonrpc.Kind
		bad   bool
	}{
		{"blank", "  ", nil, false},
		{"response", `{"jsonrpc":"2.0","id":1,"result":{}}`, []jsonrpc.Kind{jsonrpc.KindResponse}, false},
		{"batch", `[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","id":"x","method":"b"}]`, []jsonrpc.Kind{jsonrpc.KindNotification, jsonrpc.KindRequest}, false},
		{"garbage", `hello`, nil, true},
		{"not json-rpc", `{"a":1}`, nil, true},
		{"bad utf-8", "{\"jsonrpc\":\"2.0\",\"method\":\"\xff\"}", nil, true},
		{"empty batch", `[]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := parseLine([]byte(tt.in))
			if (err != nil) != tt.bad {
				t.Fatalf("error %v, bad %v", err, tt.bad)
			}
			var kinds []jsonrpc.Kind
			for _, m := range ms {
				kinds = append(kinds, m.Kind)
			}
			if d := cmp.Diff(tt.kinds, kinds); d != "" {
				t.Errorf("kinds (-want +got):\n%s", d)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	in := []byte("{\r\n\"a\" :\n\t\"x\\ny\"\n}")
	got := oneLine(in, false)
	if bytes.ContainsAny(got, "\r\n") {
		t.Errorf("newline left in %q", got)
	}
	if string(in) != "{\r\n\"a\" :\n\t\"x\\ny\"\n}" {
		t.Errorf("input modified though not owned")
	}
	if m, err := jsonrpc.Decode([]byte(`{"jsonrpc":"2.0","method":"m","params":`+string(got)+`}`), jsonrpc.Limits{}); err != nil || string(m.Params) != "{  \"a\" : \t\"x\\ny\" }" {
		t.Errorf("meaning changed: %q %v", got, err)
	}
	same := []byte(`{"a":1}`)
	if got := oneLine(same, false); &got[0] != &same[0] {
		t.Errorf("a line without newlines was copied")
	}
}

// FuzzLineReader: whatever a process writes, lines never exceed the limit,
// and below the limit the lines are the input, split.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nb\r\n\n"), 4)
	f.Add([]byte(strings.Repeat("x", 40)+"\n"), 16)
	f.Add([]byte("\r\r\n\n\r"), 1)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max <= 0 || max > 1<<16 {
			return
		}
		lines, err := readLines(bytes.NewReader(in), max)
		if err != nil && !errors.Is(err, errLineTooLong) {
			t.Fatal(err)
		}
		for _, l := range lines {
			if len(l) > max {
				t.Fatalf("line of %d bytes, max %d", len(l), max)
			}
			if strings.Contains(l, "\n") {
				t.Fatalf("line contains a newline: %q", l)
			}
		}
		if err == nil {
			// Rebuild the input (up to the CRs trimmed before newlines).
			norm := strings.ReplaceAll(string(in), "\r\n", "\n")
			norm = strings.TrimSuffix(norm, "\n")
			if !strings.HasSuffix(string(in), "\n") && strings.HasSuffix(norm, "\r") && len(lines) > 0 {
				norm = strings.TrimSuffix(norm, "\r") // a final CR at EOF is trimmed too
			}
			if got := strings.Join(lines, "\n"); len(in) > 0 && got != norm {
				t.Fatalf("lines %q do not rebuild %q", lines, in)
			}
		}
	})
}

func TestParseNumber(t *testing.T) {
	for _, tt := range []struct {
		in string
		n  int64
		ok bool
	}{
		{"1", 1, true},
		{`"42"`, 42, true},
		{"0", 0, false},
		{"-1", 0, false},
		{"1.0", 0, false},
		{"1e3", 0, false},
		{`""`, 0, false},
		{`"4`, 0, false},
		{"999999999999999999", 999999999999999999, true},
		{"9999999999999999999", 0, false},
	} {
		n, ok := parseNumber([]byte(tt.in))
		if n != tt.n || ok != tt.ok {
			t.Errorf("parseNumber(%s) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.ok)
		}
	}
}
