package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeAny builds the value the decoder reads, in encoding/json's shapes
// (map[string]any, []any, string, json.Number, bool, nil).
func decodeAny(d *Decoder) (any, error) {
	k, err := d.Next()
	if err != nil {
		return nil, err
	}
	return decodeFrom(d, k)
}

func decodeFrom(d *Decoder, k Kind) (any, error) {
	switch k {
	case KindObjectStart:
		m := map[string]any{}
		for {
			k, err := d.Next()
			if err != nil {
				return nil, err
			}
			if k == KindObjectEnd {
				return m, nil
			}
			name := d.Text()
			v, err := decodeAny(d)
			if err != nil {
				return nil, err
			}
			m[name] = v
		}
	case KindArrayStart:
		a := []any{}
		for {
			k, err := d.Next()
			if err != nil {
				return nil, err
			}
			if k == KindArrayEnd {
				return a, nil
			}
			v, err := decodeFrom(d, k)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
	case KindString:
		return d.Text(), nil
	case KindNumber:
		return json.Number(d.Raw()), nil
	case KindTrue:
		return true, nil
	case KindFalse:
		return false, nil
	case KindNull:
		return nil, nil
	}
	return nil, errors.New("unexpected " + k.String())
}

var fuzzSeeds = []string{
	`{}`, `[]`, `{"a":[1,2,{"b":null}]}`, `"\u00e9"`, `[1e5,-0.1,0,-0,1E+2,1e-2]`, `{"a":1,"a":2}`,
	`{"method":1,"\u006dethod":2}`, `{"A":1,"a":2}`, `"\ud83d\ude00"`, `"\ud800"`, `"\udc00\ud800x"`,
	`"\ud800\u0041"`, "\"\xed\xa0\x80\"", "\"\xff\"", `{"a" : "b" , "c":[true,false,null]}`,
	`[1,]`, `{"a":1,}`, `01`, `1.`, `-`, `"\x"`, `nul`, ` {"k":"v"} `, `{"k":"v"} x`,
	`"\/\b\f\n\r\t\"\\"`, `{"x":{"y":{"z":[[[]]]}}}`, `{"\u0000":0,"":1}`,
}

// FuzzDecoder checks the decoder against encoding/json on arbitrary bytes:
// what it accepts, encoding/json accepts, and it refuses what encoding/json
// accepts only for invalid UTF-8, a duplicate member name or depth; on what
// it accepts, both read the same value, and member lookups, array walks,
// string decoding and edits agree with encoding/json.
func FuzzDecoder(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		err := Validate(b, 0)
		std := json.Valid(b)
		if err == nil && !std {
			t.Fatalf("Validate accepted what encoding/json rejects: %q", b)
		}
		if err != nil {
			var se *SyntaxError
			switch {
			case !std:
			case errors.Is(err, ErrDepth):
			case errors.As(err, &se) && strings.HasPrefix(se.Msg, "duplicate key"):
			case errors.As(err, &se) && se.Msg == "invalid UTF-8 in string" && !utf8.Valid(b):
			default:
				t.Fatalf("Validate rejected valid JSON %q: %v", b, err)
			}
			return
		}
		// The same value.
		got, err := decodeAny(NewDecoder(b, Options{}))
		if err != nil {
			t.Fatalf("decoder failed on what Validate accepted: %q: %v", b, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoder read %#v from %q, encoding/json %#v", got, b, want)
		}
		// I-JSON refuses exactly the lone surrogates.
		if _, err := decodeAny(NewDecoder(b, Options{IJSON: true})); err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Msg != "lone surrogate escape" {
				t.Fatalf("I-JSON refused %q: %v", b, err)
			}
		}
		switch {
		case IsObject(b):
			checkObject(t, b, key, want.(map[string]any))
		case bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("[")):
			var raws []json.RawMessage
			if err := json.Unmarshal(b, &raws); err != nil {
				t.Fatal(err)
			}
			var elems [][]byte
			if err := WalkArray(b, func(e []byte) bool { elems = append(elems, e); return true }); err != nil {
				t.Fatal(err)
			}
			if len(elems) != len(raws) {
				t.Fatalf("WalkArray(%q) = %q, encoding/json %q", b, elems, raws)
			}
			for i := range raws {
				if !bytes.Equal(elems[i], raws[i]) {
					t.Fatalf("WalkArray(%q)[%d] = %q, encoding/json %q", b, i, elems[i], raws[i])
				}
			}
		case IsString(b):
			s, ok := String(b)
			if !ok || s != want.(string) {
				t.Fatalf("String(%q) = %q %v, encoding/json %q", b, s, ok, want)
			}
		}
	})
}

func checkObject(t *testing.T, b []byte, key string, want map[string]any) {
	ms, err := ObjectMembers(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != len(want) {
		t.Fatalf("ObjectMembers(%q): %d members, encoding/json %d", b, len(ms), len(want))
	}
	for _, m := range ms {
		v, ok := Get(b, m.Key)
		if !ok || !bytes.Equal(v, m.Value) {
			t.Fatalf("Get(%q, %q) = %q %v, ObjectMembers %q", b, m.Key, v, ok, m.Value)
		}
		got, err := decodeAny(NewDecoder(v, Options{}))
		if err != nil || !reflect.DeepEqual(got, want[m.Key]) {
			t.Fatalf("member %q of %q reads %#v (%v), encoding/json %#v", m.Key, b, got, err, want[m.Key])
		}
	}
	// Lookups are exact: case-sensitive, after unescaping.
	v, ok := Get(b, key)
	if _, in := want[key]; ok != in {
		t.Fatalf("Get(%q, %q) found=%v, encoding/json found=%v", b, key, ok, in)
	}
	if arr, err := Elements(b, key, func([]byte) bool { return true }); err == nil && arr != nil && !bytes.Equal(arr, v) {
		t.Fatalf("Elements(%q, %q) read %q, Get %q", b, key, arr, v)
	}
	// Edits keep the object valid and do what they say.
	if !utf8.ValidString(key) {
		return
	}
	out, err := Set(b, key, []byte(`[1,"x"]`))
	if err != nil || Validate(out, 0) != nil {
		t.Fatalf("Set(%q, %q) = %q, %v", b, key, out, err)
	}
	if v, ok := Get(out, key); !ok || string(v) != `[1,"x"]` {
		t.Fatalf("Set(%q, %q) = %q: Get reads %q", b, key, out, v)
	}
	out, err = Delete(out, key)
	if err != nil || Validate(out, 0) != nil {
		t.Fatalf("Delete = %q, %v", out, err)
	}
	if _, ok := Get(out, key); ok {
		t.Fatalf("Delete(%q) left the member", key)
	}
}
