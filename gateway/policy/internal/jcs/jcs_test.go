package jcs

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRFC8785Examples runs the examples of RFC 8785 sections 3.2.2 and
// 3.2.3.
func TestRFC8785Examples(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{
			name: "3.2.2 serialization of primitive data types",
			in: `{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
			want: `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{
			name: "3.2.3 sorting of object properties",
			in: `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
			want: "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
		{
			name: "nested and whitespace",
			in:   " { \"b\" : [ 1 , { \"z\":1, \"a\" : [] } ] , \"a\":{} } ",
			want: `{"a":{},"b":[1,{"a":[],"z":1}]}`,
		},
		{
			name: "string escapes",
			in:   `"\b\f\n\r\t\u0001\u001f\u007f\u2028\/"`,
			want: "\"\\b\\f\\n\\r\\t\\u0001\\u001f\u007f\u2028/\"",
		},
		{name: "negative zero", in: `-0.0`, want: `0`},
		{name: "integer exponent", in: `1e2`, want: `100`},
		{name: "big integer loses precision as a double", in: `9007199254740993`, want: `9007199254740992`},
		{name: "scalar literal", in: `true`, want: `true`},
		{name: "empty containers", in: `[{},[],""]`, want: `[{},[],""]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("canonical form (-want +got):\n%s", diff)
			}
			again, err := Canonicalize(got)
			if err != nil || string(again) != string(got) {
				t.Errorf("canonical form is not a fixed point: %s, %v", again, err)
			}
		})
	}
}

// TestRFC8785Numbers checks the samples of RFC 8785 Appendix B.
func TestRFC8785Numbers(t *testing.T) {
	tests := []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"},
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	}
	for _, tt := range tests {
		got, err := AppendNumber(nil, math.Float64frombits(tt.bits))
		if err != nil || string(got) != tt.want {
			t.Errorf("%016x: got %s, %v; want %s", tt.bits, got, err, tt.want)
		}
	}
	for _, bits := range []uint64{0x7fffffffffffffff, 0x7ff0000000000000, 0xfff0000000000000} {
		if _, err := AppendNumber(nil, math.Float64frombits(bits)); !errors.Is(err, ErrNumber) {
			t.Errorf("%016x: err = %v, want ErrNumber", bits, err)
		}
	}
}

// TestNumbersAgainstECMAScript compares with String(x) as Node.js computed
// it for thousands of doubles (testdata/gen_numbers.js writes the file).
func TestNumbersAgainstECMAScript(t *testing.T) {
	f, err := os.Open("testdata/numbers.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		hexBits, want, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		raw, err := hex.DecodeString(hexBits)
		if err != nil || len(raw) != 8 {
			t.Fatalf("bad bits %q", hexBits)
		}
		x := math.Float64frombits(binary.BigEndian.Uint64(raw))
		got, err := AppendNumber(nil, x)
		if err != nil || string(got) != want {
			t.Errorf("%s: got %s, %v; want %s", hexBits, got, err, want)
		}
		// Parsing ECMAScript's text and canonicalising gives it back.
		if c, err := Canonicalize([]byte(want)); err != nil || string(c) != want {
			t.Errorf("Canonicalize(%s) = %s, %v", want, c, err)
		}
		n++
	}
	if n < 5000 {
		t.Fatalf("only %d samples", n)
	}
}

func TestRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ``},
		{"trailing", `{} x`},
		{"two values", `1 2`},
		{"duplicate key", `{"a":1,"a":2}`},
		{"duplicate key after unescaping", `{"a":1,"\u0061":2}`},
		{"lone high surrogate", `"\ud800"`},
		{"lone high surrogate then char", `"\ud800x"`},
		{"high then high", `"\ud800\ud800"`},
		{"lone low surrogate", `"\udc00"`},
		{"invalid UTF-8", "\"\xff\""},
		{"UTF-8 encoded surrogate", "\"\xed\xa0\x80\""},
		{"control character", "\"a\nb\""},
		{"overflow", `1e400`},
		{"negative overflow", `-1e400`},
		{"leading zero", `01`},
		{"bare minus", `-`},
		{"dot without digits", `1.`},
		{"exponent without digits", `1e`},
		{"NaN", `NaN`},
		{"single quotes", `'a'`},
		{"trailing comma", `[1,]`},
		{"unterminated", `{"a":1`},
		{"bad escape", `"\x"`},
		{"short unicode escape", `"\u12"`},
		{"too deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Canonicalize([]byte(tt.in)); err == nil {
				t.Fatalf("accepted: %s", got)
			}
		})
	}
}

func TestUnderflowIsZero(t *testing.T) {
	// 1e-400 is below the smallest subnormal: a double reads it as 0, which
	// is still a finite I-JSON number.
	got, err := Canonicalize([]byte(`[1e-400,-1e-400]`))
	if err != nil || string(got) != `[0,0]` {
		t.Fatalf("got %s, %v", got, err)
	}
}

func TestCompareUTF16(t *testing.T) {
	// U+1F600 is D83D DE00 in UTF-16, below U+FB33; in UTF-8 and code points
	// it sorts above.
	if CompareUTF16([]byte("😀"), []byte("\ufb33")) >= 0 {
		t.Error("U+1F600 must sort before U+FB33")
	}
	if CompareUTF16([]byte("a"), []byte("ab")) >= 0 || CompareUTF16([]byte("ab"), []byte("a")) <= 0 {
		t.Error("prefix must sort first")
	}
	if CompareUTF16([]byte("😀x"), []byte("😀x")) != 0 {
		t.Error("equal strings")
	}
	if CompareUTF16([]byte("😀"), []byte("😁")) >= 0 {
		t.Error("low surrogates compare")
	}
}

func BenchmarkCanonicalizeArguments(b *testing.B) {
	in := []byte(`{"query":"weather in Paris","limit":10,"filter":{"field":"country","value":"FR"},"mode":"fast"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonicalize(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCanonicalizeDefinition is a tool definition as pinning hashes
// it: nested schema objects, escapes, numbers to reformat.
func BenchmarkCanonicalizeDefinition(b *testing.B) {
	in := []byte(`{"name":"search","description":"Searches the \"index\"; naïve matching.\n","inputSchema":{"type":"object","$defs":{"filter":{"type":"object","properties":{"field":{"type":"string"},"value":{"type":"string","maxLength":64}},"required":["field"],"additionalProperties":false}},"properties":{"query":{"type":"string","minLength":1,"maxLength":500},"limit":{"type":"integer","minimum":1,"maximum":50,"default":1.0E1},"mode":{"enum":["fast","full"]},"filter":{"$ref":"#/$defs/filter"}},"required":["query"],"additionalProperties":false},"annotations":{"readOnlyHint":true}}`)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonicalize(in); err != nil {
			b.Fatal(err)
		}
	}
}
