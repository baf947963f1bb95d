package gateway

import "testing"

// TestUndeclaredInput: which declared client capabilities cover which
// input requests (2025-11-25 client/elicitation, client/sampling,
// client/roots "Capabilities"; 2026-07-28 basic/patterns/mrtr).
func TestUndeclaredInput(t *testing.T) {
	for _, tc := range []struct {
		caps, method, params, need string
	}{
		{`{"elicitation":{}}`, "elicitation/create", `{"message":"m"}`, ``},
		{`{"elicitation":{"form":{}}}`, "elicitation/create", `{"mode":"form"}`, ``},
		{`{"elicitation":{"url":{}}}`, "elicitation/create", `{"message":"m"}`, `{"elicitation":{"form":{}}}`},
		{`{"elicitation":{"form":{},"url":{}}}`, "elicitation/create", `{"mode":"url","url":"https://x"}`, ``},
		{`{"elicitation":{}}`, "elicitation/create", `{"mode":"url","url":"https://x"}`, `{"elicitation":{"url":{}}}`},
		{`{"sampling":{}}`, "elicitation/create", `{}`, `{"elicitation":{"form":{}}}`},
		{`{"elicitation":true}`, "elicitation/create", `{}`, `{"elicitation":{"form":{}}}`},
		{``, "elicitation/create", ``, `{"elicitation":{"form":{}}}`},
		{`{"sampling":{}}`, "sampling/createMessage", `{"messages":[]}`, ``},
		{`{"sampling":{}}`, "sampling/createMessage", `{"messages":[],"tools":[]}`, `{"sampling":{"tools":{}}}`},
		{`{"sampling":{"tools":{}}}`, "sampling/createMessage", `{"messages":[],"tools":[]}`, ``},
		{`{"roots":{}}`, "sampling/createMessage", `{}`, `{"sampling":{}}`},
		{`{"roots":{"listChanged":true}}`, "roots/list", ``, ``},
		{`{"elicitation":{},"sampling":{}}`, "roots/list", ``, `{"roots":{}}`},
		{`{"Roots":{}}`, "roots/list", ``, `{"roots":{}}`},
	} {
		if got := string(undeclaredInput([]byte(tc.caps), tc.method, []byte(tc.params))); got != tc.need {
			t.Errorf("caps %s, %s %s: need %q, want %q", tc.caps, tc.method, tc.params, got, tc.need)
		}
	}
}

// FuzzUndeclaredInput: any capabilities and params, as a client and an
// upstream send them, give an answer without panicking.
func FuzzUndeclaredInput(f *testing.F) {
	f.Add([]byte(`{"elicitation":{"url":{}}}`), "elicitation/create", []byte(`{"mode":"url"}`))
	f.Add([]byte(`{"sampling":{"tools":{}}}`), "sampling/createMessage", []byte(`{"tools":[]}`))
	f.Add([]byte(`{"roots":1}`), "roots/list", []byte(`null`))
	f.Fuzz(func(t *testing.T, caps []byte, method string, params []byte) {
		_ = undeclaredInput(caps, method, params)
	})
}
