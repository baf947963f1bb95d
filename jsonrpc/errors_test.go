package jsonrpc

import (
	"encoding/json"
	"strconv"
	"testing"
)

func TestDecodeError(t *testing.T) {
	tests := []struct {
		in      string
		code    int64
		message string
		data    string
		ok      bool
	}{
		{`{"code":-32602,"message":"Invalid params"}`, -32602, "Invalid params", "", true},
		{`{"code":1,"message":"m\u00e9","data":{"k":[1,2]}}`, 1, "mé", `{"k":[1,2]}`, true},
		{`{"code":null,"message":null,"data":null}`, 0, "", "", true},
		{`{}`, 0, "", "", true},
		{`{"Code":5,"code":7,"MESSAGE":"x"}`, 7, "", "", true}, // names match exactly
		{`{"code":1.5}`, 0, "", "", false},
		{`{"code":"1"}`, 0, "", "", false},
		{`{"code":1e3}`, 0, "", "", false},
		{`{"message":5}`, 0, "", "", false},
		{`{"code":1,"code":2}`, 0, "", "", false},
		{`[1]`, 0, "", "", false},
		{`{"code":1`, 0, "", "", false},
	}
	for _, tt := range tests {
		e, err := DecodeError([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("DecodeError(%s) = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err == nil && (e.Code != tt.code || e.Message != tt.message || string(e.Data) != tt.data) {
			t.Errorf("DecodeError(%s) = %+v", tt.in, e)
		}
	}
}

// FuzzDecodeError checks that what DecodeError reads from any bytes is
// what encoding/json reads under the same (exact) member names.
func FuzzDecodeError(f *testing.F) {
	for _, s := range []string{`{"code":-32602,"message":"x","data":[1]}`, `{"code":null}`, `{"Code":1}`, `{"code":1.0}`, `{"message":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := DecodeError(raw)
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", raw, err)
		}
		var code int64
		if v, ok := m["code"]; ok && string(v) != "null" {
			if code, err = strconv.ParseInt(string(v), 10, 64); err != nil {
				t.Fatalf("code %q of %q", v, raw)
			}
		}
		var msg string
		if v, ok := m["message"]; ok {
			json.Unmarshal(v, &msg)
		}
		if e.Code != code || e.Message != msg {
			t.Fatalf("DecodeError(%q) = %d %q; encoding/json %d %q", raw, e.Code, e.Message, code, msg)
		}
	})
}
