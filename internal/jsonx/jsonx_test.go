package jsonx

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		name string
	}{
		{`{}`, true, "empty object"},
		{` {"a":1, "b":[true,false,null,"x",-1.5e+3]} `, true, "mixed"},
		{`"\u00e9\n"`, true, "escapes"},
		{`{"a":1,"a":2}`, false, "duplicate key"},
		{`{"method":1,"\u006dethod":2}`, false, "duplicate key via escape"},
		{`{"a":1,}`, false, "trailing comma"},
		{`[1,]`, false, "trailing comma in array"},
		{`01`, false, "leading zero"},
		{`1.`, false, "bare dot"},
		{`-`, false, "bare minus"},
		{`"` + "\xff" + `"`, false, "invalid utf-8"},
		{"\"a\x01\"", false, "control char"},
		{`"\x"`, false, "bad escape"},
		{`"\u12"`, false, "short unicode escape"},
		{`{"a":1} {}`, false, "trailing value"},
		{``, false, "empty"},
		{`nul`, false, "truncated literal"},
		{`{"a"}`, false, "missing colon"},
		{strings.Repeat("[", 64) + strings.Repeat("]", 64), true, "depth at limit"},
		{strings.Repeat("[", 65) + strings.Repeat("]", 65), false, "depth over limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]byte(tt.in), 0)
			if (err == nil) != tt.ok {
				t.Fatalf("Validate(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
	if err := Validate([]byte(strings.Repeat("[", 65)+strings.Repeat("]", 65)), 0); !errors.Is(err, ErrDepth) {
		t.Fatalf("depth error = %v, want ErrDepth", err)
	}
}

func TestObjectMembersAndGet(t *testing.T) {
	in := []byte(`{"jsonrpc":"2.0", "id" : 7 ,"params":{"x":[1,{"y":2}]},"m\u0065thod":"tools/call"}`)
	ms, err := ObjectMembers(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range ms {
		keys = append(keys, m.Key+"="+string(m.Value))
	}
	want := `jsonrpc="2.0"|id=7|params={"x":[1,{"y":2}]}|method="tools/call"`
	if got := strings.Join(keys, "|"); got != want {
		t.Fatalf("members = %s, want %s", got, want)
	}
	if v, ok := Get(in, "method"); !ok || string(v) != `"tools/call"` {
		t.Fatalf("Get(method) = %s, %v", v, ok)
	}
	if _, ok := Get(in, "missing"); ok {
		t.Fatal("Get(missing) found a value")
	}
}

func TestSetDelete(t *testing.T) {
	tests := []struct {
		name, in, key, val, want string
	}{
		{"replace", `{"a":1,"b":2}`, "a", `"x"`, `{"a":"x","b":2}`},
		{"append", `{"a":1}`, "b", `true`, `{"a":1,"b":true}`},
		{"append with space", `{"a":1 }`, "b", `2`, `{"a":1,"b":2}`},
		{"append to empty", `{ }`, "b", `2`, `{ "b":2}`},
		{"escape key", `{}`, `q"k`, `1`, `{"q\"k":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Set([]byte(tt.in), tt.key, []byte(tt.val))
			if err != nil || string(got) != tt.want {
				t.Fatalf("Set = %s, %v; want %s", got, err, tt.want)
			}
			if err := Validate(got, 0); err != nil {
				t.Fatalf("result invalid: %v", err)
			}
		})
	}
	dels := []struct{ in, key, want string }{
		{`{"a":1,"b":2,"c":3}`, "b", `{"a":1,"c":3}`},
		{`{"a":1,"b":2}`, "b", `{"a":1}`},
		{`{"a":1}`, "a", `{}`},
		{`{"a":1}`, "z", `{"a":1}`},
	}
	for _, tt := range dels {
		got, err := Delete([]byte(tt.in), tt.key)
		if err != nil || string(got) != tt.want {
			t.Errorf("Delete(%s, %s) = %s, %v; want %s", tt.in, tt.key, got, err, tt.want)
		}
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "ctl\x00\x1f\n\t", "é世界", "bad\xffutf8"} {
		var got string
		if err := json.Unmarshal(Quote(s), &got); err != nil {
			t.Fatalf("Quote(%q) = %s: %v", s, Quote(s), err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if got != want {
			t.Fatalf("round trip %q -> %q", s, got)
		}
	}
}
