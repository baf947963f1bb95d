package load

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// view is a comparable rendering of a message.
type view struct {
	ID, Err, Text, Version string
	Method, Result, IsErr  bool
}

func viewOf(m *message) view {
	return view{ID: string(m.id), Err: string(m.err), Text: string(m.text), Version: string(m.version),
		Method: m.method, Result: m.result, IsErr: m.isError}
}

func TestScanMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want view
	}{
		{"echo result", `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"c1-7"}]}}`,
			view{ID: "7", Text: `"c1-7"`, Result: true}},
		{"members in any order, spaces", " {\n \"result\" : { \"isError\" : false , \"content\" : [ { \"text\" : \"a\" , \"type\" : \"text\" } ] } , \"id\" : \"x\" , \"jsonrpc\" : \"2.0\" } ",
			view{ID: `"x"`, Text: `"a"`, Result: true}},
		{"only the first content item counts", `{"id":1,"result":{"content":[{"type":"image"},{"type":"text","text":"b"}]}}`,
			view{ID: "1", Result: true}},
		{"isError", `{"id":1,"result":{"content":[{"type":"text","text":"boom"}],"isError":true}}`,
			view{ID: "1", Text: `"boom"`, Result: true, IsErr: true}},
		{"error", `{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"nope"}}`,
			view{ID: "3", Err: `{"code":-32601,"message":"nope"}`}},
		{"initialize result", `{"id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{}}}`,
			view{ID: "0", Version: `"2025-11-25"`, Result: true}},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`,
			view{Method: true}},
		{"escaped member names", `{"\u0069d":5,"res\u0075lt":{"cont\u0065nt":[{"t\u0065xt":"q"}]}}`,
			view{ID: "5", Text: `"q"`, Result: true}},
		{"escaped text kept raw", `{"id":1,"result":{"content":[{"text":"a\"b\\c\u00e9"}]}}`,
			view{ID: "1", Text: `"a\"b\\c\u00e9"`, Result: true}},
		{"duplicate result: the last wins", `{"id":1,"result":{"content":[{"text":"old"}]},"result":{}}`,
			view{ID: "1", Result: true}},
		{"duplicate text: the last wins", `{"id":1,"result":{"content":[{"text":"old","text":5}]}}`,
			view{ID: "1", Result: true}},
		{"deep but legal", `{"id":1,"result":{"x":[[[[[[[[[[{"a":{"b":[1.5e-3,-0,true,false,null]}}]]]]]]]]]]}}`,
			view{ID: "1", Result: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m message
			if err := scanMessage([]byte(tt.in), &m); err != nil {
				t.Fatalf("scanMessage: %v", err)
			}
			if diff := cmp.Diff(tt.want, viewOf(&m)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestScanMessageRejects(t *testing.T) {
	deep := bytes.Repeat([]byte("["), maxDepth+1)
	tests := []struct{ name, in string }{
		{"empty", ``},
		{"not an object", `[{"id":1}]`},
		{"truncated", `{"id":1,"result":{"content":[{"text":"a"}]}`},
		{"trailing garbage", `{"id":1} x`},
		{"two messages", `{"id":1}{"id":2}`},
		{"single quotes", `{'id':1}`},
		{"missing colon", `{"id" 1}`},
		{"trailing comma", `{"id":1,}`},
		{"bad literal", `{"id":tru}`},
		{"leading zero", `{"id":01}`},
		{"bare minus", `{"id":-}`},
		{"bad exponent", `{"id":1e}`},
		{"bad escape", `{"id":"\x"}`},
		{"short unicode escape", `{"id":"\u12"}`},
		{"control character", "{\"id\":\"a\x01b\"}"},
		{"unterminated string", `{"id":"abc`},
		{"mismatched brackets", `{"id":[1}`},
		{"too deep", `{"id":` + string(deep)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m message
			if err := scanMessage([]byte(tt.in), &m); err == nil {
				t.Errorf("scanMessage(%q) = nil error, want one", tt.in)
			}
		})
	}
}

func TestStringIs(t *testing.T) {
	tests := []struct {
		raw, want string
		ok        bool
	}{
		{`"c1-7"`, "c1-7", true},
		{`"c1\u002d7"`, "c1-7", true},
		{`"c1-8"`, "c1-7", false},
		{`"`, "", false},
		{`"\"`, `"`, false},
	}
	for _, tt := range tests {
		if got := stringIs([]byte(tt.raw), tt.want); got != tt.ok {
			t.Errorf("stringIs(%s, %q) = %v, want %v", tt.raw, tt.want, got, tt.ok)
		}
	}
}

// nesting returns the deepest bracket nesting in b, ignoring strings.
func nesting(b []byte) int {
	depth, max, inStr := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && (c == '{' || c == '['):
			depth++
			if depth > max {
				max = depth
			}
		case !inStr && (c == '}' || c == ']'):
			depth--
		}
	}
	return max
}

// FuzzScanMessage checks the scanner against encoding/json: it accepts
// exactly the JSON objects encoding/json accepts (within its depth limit),
// and extracts the same members.
func FuzzScanMessage(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"c1-7"}]}}`,
		`{"id":1,"result":{"content":[{"text":"boom"}],"isError":true}}`,
		`{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"nope"}}`,
		`{"id":0,"result":{"protocolVersion":"2025-11-25"}}`,
		`{"method":"x","params":{}}`,
		`{"\u0069d":5,"result":{"content":[{"text":"a\"b"}]},"result":{"content":[]}}`,
		`{"id":[1,2.5e+3,-0.1,true,false,null,{}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m message
		err := scanMessage(b, &m)
		var top map[string]json.RawMessage
		if jerr := json.Unmarshal(b, &top); jerr != nil || top == nil {
			if err == nil {
				t.Fatalf("scanMessage accepted %q; encoding/json: %v (or not an object)", b, jerr)
			}
			return
		}
		if err != nil {
			if nesting(b) < maxDepth-4 {
				t.Fatalf("scanMessage rejected %q (%v); encoding/json accepts it", b, err)
			}
			return
		}
		want := message{}
		if v, ok := top["id"]; ok {
			want.id = v
		}
		_, want.method = top["method"]
		if v, ok := top["error"]; ok {
			want.err = v
		}
		if v, ok := top["result"]; ok {
			want.result = true
			var res map[string]json.RawMessage
			if json.Unmarshal(v, &res) == nil && res != nil {
				want.isError = string(res["isError"]) == "true"
				if pv := res["protocolVersion"]; len(pv) > 0 && pv[0] == '"' {
					want.version = pv
				}
				var content []json.RawMessage
				if json.Unmarshal(res["content"], &content) == nil && len(content) > 0 {
					var item map[string]json.RawMessage
					if json.Unmarshal(content[0], &item) == nil && item != nil {
						if tv := item["text"]; len(tv) > 0 && tv[0] == '"' {
							want.text = tv
						}
					}
				}
			}
		}
		if diff := cmp.Diff(viewOf(&want), viewOf(&m)); diff != "" {
			t.Fatalf("scanMessage(%q) (-encoding/json +scanner):\n%s", b, diff)
		}
	})
}
