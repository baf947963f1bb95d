package jsonx

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tokens lists the tokens of b as kind:text (names and strings unescaped),
// with the depth after each.
func tokens(b []byte, opts Options) ([]string, error) {
	d := NewDecoder(b, opts)
	var out []string
	for {
		k, err := d.Next()
		if err != nil {
			return out, err
		}
		if k == KindEnd {
			return out, nil
		}
		out = append(out, k.String()+":"+d.Text()+":"+strings.Repeat(".", d.Depth()))
	}
}

func TestDecoderTokens(t *testing.T) {
	got, err := tokens([]byte(` {"a" : [1, "x\u00e9", true, false, null, {}], "\u0062":-2.5e3} `), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"object start:{:.", "name:a:.", "array start:[:..", "number:1:..", "string:xé:..", "true:true:..",
		"false:false:..", "null:null:..", "object start:{:...", "object end:}:..", "array end:]:.",
		"name:b:.", "number:-2.5e3:.", "object end:}:",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
}

func TestDecoderSpans(t *testing.T) {
	in := []byte(`{"skip":{"deep":[1,{"x":"}"}]},"k\u0065y" : "v" }`)
	d := NewDecoder(in, Options{})
	if k, _ := d.Next(); k != KindObjectStart {
		t.Fatal(k)
	}
	d.Next() // "skip"
	v, err := d.Skip()
	if err != nil || string(v) != `{"deep":[1,{"x":"}"}]}` {
		t.Fatalf("Skip = %q, %v", v, err)
	}
	if k, _ := d.Next(); k != KindName || !d.TextIs("key") || d.TextIs("kez") || !d.Escaped() || string(d.Raw()) != `"k\u0065y"` || d.Offset() != 31 {
		t.Fatalf("name token %v %q at %d", k, d.Raw(), d.Offset())
	}
	v, err = d.Skip() // after a name: the member's value
	if err != nil || string(v) != `"v"` {
		t.Fatalf("Skip after name = %q, %v", v, err)
	}
	if k, _ := d.Next(); k != KindObjectEnd || d.Offset() != len(in)-1 {
		t.Fatalf("end %v at %d", k, d.Offset())
	}
	if k, err := d.Next(); k != KindEnd || err != nil {
		t.Fatalf("after the value: %v, %v", k, err)
	}
}

func TestDecoderErrorsAreFinal(t *testing.T) {
	d := NewDecoder([]byte(`[1,}`), Options{})
	var err error
	for range 4 {
		_, err = d.Next()
	}
	var se *SyntaxError
	if !errors.As(err, &se) || se.Offset != 3 {
		t.Fatalf("err = %v", err)
	}
	if _, again := d.Next(); again != err {
		t.Fatalf("second error %v", again)
	}
}

func TestIJSON(t *testing.T) {
	for in, ok := range map[string]bool{
		`"\ud83d\ude00"`: true, `"\ud800"`: false, `"\udc00"`: false, `"\ud800\u0041"`: false,
		`"\ud800\ud800"`: false, `{"\udfff":1}`: false, `"\uD83D\uDE00x"`: true,
	} {
		_, err := tokens([]byte(in), Options{IJSON: true})
		if (err == nil) != ok {
			t.Errorf("I-JSON %s: %v, want ok=%v", in, err, ok)
		}
		if _, err := tokens([]byte(in), Options{}); err != nil {
			t.Errorf("RFC 8259 %s: %v", in, err)
		}
	}
	if s, _ := String([]byte(`"\ud800\u0041\udc00"`)); s != "\uFFFDA\uFFFD" {
		t.Errorf("lone surrogates decode to %q", s)
	}
}

func TestDuplicateNames(t *testing.T) {
	var many strings.Builder
	many.WriteString("{")
	for i := range 40 {
		many.WriteString(`"k` + strings.Repeat("x", i) + `":1,`)
	}
	for in, ok := range map[string]bool{
		many.String() + `"k":2}`:         false, // found by the set of a large object
		many.String() + `"new":2}`:       true,
		`{"a":{"a":1},"b":{"a":1}}`:      true, // names are per object
		`{"a":{"b":1,"b":2}}`:            false,
		`{"A":1,"a":2}`:                  true, // case-sensitive
		`{"\u00e9":1,"é":2}`:             false,
		`{"\ud800":1,"\ufffd":2}`:        false, // both read U+FFFD
		`{"a":[{"x":1},{"x":1}],"x":[]}`: true,
	} {
		if err := Validate([]byte(in), 0); (err == nil) != ok {
			t.Errorf("Validate(%.40s…) = %v, want ok=%v", in, err, ok)
		}
	}
}
