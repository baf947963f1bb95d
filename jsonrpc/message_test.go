package jsonrpc

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		kind     Kind
		code     int64 // error code when decoding fails
		id       string
		method   string
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, KindRequest, 0, "1", "tools/list"},
		{"string id", `{"jsonrpc":"2.0","id":"a-1","method":"ping","params":{}}`, KindRequest, 0, `"a-1"`, "ping"},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, KindNotification, 0, "null", "notifications/initialized"},
		{"result", `{"jsonrpc":"2.0","id":2,"result":{}}`, KindResponse, 0, "2", ""},
		{"error response", `{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"x"}}`, KindResponse, 0, "2", ""},
		{"escaped method key", `{"jsonrpc":"2.0","id":1,"m\u0065thod":"ping"}`, KindRequest, 0, "1", "ping"},
		{"null id request", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, 0, CodeInvalidRequest, "", ""},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, 0, CodeInvalidRequest, "", ""},
		{"bad version", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, 0, CodeInvalidRequest, "", ""},
		{"missing version", `{"id":1,"method":"ping"}`, 0, CodeInvalidRequest, "", ""},
		{"empty method", `{"jsonrpc":"2.0","id":1,"method":""}`, 0, CodeInvalidRequest, "", ""},
		{"method and result", `{"jsonrpc":"2.0","id":1,"method":"x","result":{}}`, 0, CodeInvalidRequest, "", ""},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`, 0, CodeInvalidRequest, "", ""},
		{"response without id", `{"jsonrpc":"2.0","result":{}}`, 0, CodeInvalidRequest, "", ""},
		{"scalar params", `{"jsonrpc":"2.0","id":1,"method":"x","params":3}`, 0, CodeInvalidRequest, "", ""},
		{"duplicate method", `{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}`, 0, CodeParseError, "", ""},
		{"not json", `{"jsonrpc":`, 0, CodeParseError, "", ""},
		{"not an object", `"hello"`, 0, CodeInvalidRequest, "", ""},
		{"garbage", `hello`, 0, CodeParseError, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.in), Limits{})
			if tt.code != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Code != tt.code {
					t.Fatalf("Decode error = %v, want code %d", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != tt.kind || m.ID.String() != tt.id || m.Method != tt.method {
				t.Fatalf("got kind=%v id=%s method=%q", m.Kind, m.ID, m.Method)
			}
		})
	}
}

func TestDecodeBody(t *testing.T) {
	batch := `[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]`
	ms, isBatch, err := DecodeBody([]byte(batch), true, Limits{})
	if err != nil || !isBatch || len(ms) != 2 || ms[1].Kind != KindNotification {
		t.Fatalf("batch: %v %v %v", ms, isBatch, err)
	}
	if _, _, err := DecodeBody([]byte(batch), false, Limits{}); err == nil {
		t.Fatal("batch accepted where batches are not allowed")
	}
	if _, _, err := DecodeBody([]byte(`[]`), true, Limits{}); err == nil {
		t.Fatal("empty batch accepted")
	}
	if _, _, err := DecodeBody([]byte(`[{"jsonrpc":"2.0","id":1,"method":"a"}, 3]`), true, Limits{}); err == nil {
		t.Fatal("batch with a bad element accepted")
	}
	big := []byte("[")
	for i := 0; i < 3; i++ {
		if i > 0 {
			big = append(big, ',')
		}
		big = append(big, `{"jsonrpc":"2.0","method":"n"}`...)
	}
	big = append(big, ']')
	if _, _, err := DecodeBody(big, true, Limits{MaxBatch: 2}); err == nil {
		t.Fatal("oversized batch accepted")
	}
}

func TestWithIDAndEncoders(t *testing.T) {
	m, err := Decode([]byte(`{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"t"}}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.WithID(Int64ID(42))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Decode(out, Limits{})
	if err != nil || m2.ID.Raw() != "42" || string(m2.Params) != `{"name":"t"}` {
		t.Fatalf("WithID: %s %v", out, err)
	}
	for _, b := range [][]byte{
		AppendResult(nil, StringID("a\"b"), []byte(`{}`)),
		AppendErrorResponse(nil, ID{}, &Error{Code: CodeParseError, Message: "bad \u2028", Data: json.RawMessage(`{"x":1}`)}),
		AppendRequest(nil, Int64ID(1), "ping", nil),
		AppendNotification(nil, "notifications/progress", []byte(`{"progress":1}`)),
	} {
		if !json.Valid(b) {
			t.Fatalf("encoder produced invalid JSON: %s", b)
		}
		if _, err := Decode(b, Limits{}); err != nil {
			t.Fatalf("encoder output does not decode: %s: %v", b, err)
		}
	}
}

func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`,
		`[{"jsonrpc":"2.0","method":"n"}]`,
		`{"jsonrpc":"2.0","id":"1","result":{"content":[]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, _, err := DecodeBody(b, true, Limits{})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not a *jsonrpc.Error: %v", err)
			}
			return
		}
		for _, m := range ms {
			if m.Kind == KindInvalid {
				t.Fatal("decoded message with invalid kind")
			}
			checkParamsMembers(t, m)
			if m.Kind == KindRequest {
				out, err := m.WithID(StringID("rewritten"))
				if err != nil {
					t.Fatal(err)
				}
				m2, err := Decode(out, Limits{})
				if err != nil || m2.Method != m.Method || m2.ID != StringID("rewritten") {
					t.Fatalf("WithID broke the message: %s -> %s (%v)", m.Raw, out, err)
				}
			}
		}
	})
}

// TestDecodeAllocations: a message, the members its decoding found and
// the batch of one DecodeBody returns for it are one allocation (an id of
// one character is a constant string).
func TestDecodeAllocations(t *testing.T) {
	call := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},"_meta":{"progressToken":1}}}`)
	if n := testing.AllocsPerRun(100, func() {
		ms, _, err := DecodeBody(call, true, Limits{})
		if err != nil || len(ms) != 1 || ms[0].Method != "tools/call" {
			t.Fatal(ms, err)
		}
		params, meta, ok := ms[0].ParamsMembers()
		if !ok || len(params) != 3 || len(meta) != 1 {
			t.Fatal(params, meta, ok)
		}
	}); n != 1 {
		t.Errorf("DecodeBody: %v allocations, want 1", n)
	}
	reply := []byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`)
	if n := testing.AllocsPerRun(100, func() {
		if m, err := Decode(reply, Limits{}); err != nil || m.Kind != KindResponse {
			t.Fatal(m, err)
		}
	}); n != 1 {
		t.Errorf("Decode: %v allocations, want 1", n)
	}
}

// checkParamsMembers: the members Decode kept for m's params and _meta are
// those a scan of m finds, present (non-nil) exactly when those are
// objects.
func checkParamsMembers(t *testing.T, m *Message) {
	t.Helper()
	levels, err := jsonx.ObjectMembersAlong(m.Raw, 0, "params", "_meta")
	if err != nil {
		t.Fatalf("%q: decoded, but ObjectMembersAlong fails: %v", m.Raw, err)
	}
	params, meta, ok := m.ParamsMembers()
	if ok != (levels[1] != nil) || (params == nil) != (levels[1] == nil) || (meta == nil) != (levels[2] == nil) {
		t.Fatalf("%q: params %v (ok %v), meta %v; scan found %v, %v", m.Raw, params, ok, meta, levels[1], levels[2])
	}
	if !reflect.DeepEqual(params, levels[1]) && len(params)+len(levels[1]) > 0 || !reflect.DeepEqual(meta, levels[2]) && len(meta)+len(levels[2]) > 0 {
		t.Fatalf("%q: params %v, meta %v; scan found %v, %v", m.Raw, params, meta, levels[1], levels[2])
	}
}

// TestParamsMembers: ParamsMembers for params and _meta absent, empty,
// small, and larger than the room kept with the message.
func TestParamsMembers(t *testing.T) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"result":{}}`,
		`{"jsonrpc":"2.0","id":1,"method":"m"}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":[1,2]}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":{}}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":{"_meta":{}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":{"_meta":[]}}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":{"name":"x","arguments":{"a":1},"_meta":{"k":1,"l":2,"m":3}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7}}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":1,"b":2,"c":3,"d":4,"e":5,"_meta":{"x":1,"y":2}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":1,"b":2,"c":3,"d":4,"e":5,"_meta":{}}}`,
	} {
		m, err := Decode([]byte(s), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		checkParamsMembers(t, m)
	}
}
