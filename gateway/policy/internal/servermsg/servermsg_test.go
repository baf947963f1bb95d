package servermsg

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/mcpfort/mcpfort/jsonrpc"
)

func TestUpdatedURI(t *testing.T) {
	for _, tc := range []struct {
		msg     string
		uri     string
		ok, bad bool
	}{
		{`{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"test://a"}}`, "test://a", true, false},
		{`{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"test://\u0061"}}`, "test://a", true, false},
		{`{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"URI":"test://a"}}`, "", true, true},
		{`{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":7}}`, "", true, true},
		{`{"jsonrpc":"2.0","method":"notifications/resources/updated"}`, "", true, true},
		{`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`, "", false, false},
		{`{"jsonrpc":"2.0","id":1,"method":"notifications/resources/updated","params":{"uri":"test://a"}}`, "", false, false},
	} {
		m, err := jsonrpc.Decode([]byte(tc.msg), jsonrpc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if !MayBeUpdated([]byte(tc.msg)) && tc.ok {
			t.Errorf("%s: MayBeUpdated is false", tc.msg)
		}
		uri, ok, err := UpdatedURI(m)
		if uri != tc.uri || ok != tc.ok || (err != nil) != tc.bad {
			t.Errorf("%s: %q %v %v", tc.msg, uri, ok, err)
		}
	}
}

func TestListenURIs(t *testing.T) {
	for _, tc := range []struct {
		params string
		uris   []string
		bad    bool
	}{
		{`{"notifications":{"toolsListChanged":true}}`, nil, false},
		{`{"notifications":{"resourceSubscriptions":null}}`, nil, false},
		{`{"notifications":{"resourceSubscriptions":["a","b\u0063"]}}`, []string{"a", "bc"}, false},
		{`{"notifications":{"resourceSubscriptions":["a",1]}}`, nil, true},
		{`{"notifications":{"resourceSubscriptions":"a"}}`, nil, true},
		{`{"notifications":{"resourceSubscriptions":{"0":"a"}}}`, nil, true},
		{`{}`, nil, false},
	} {
		uris, err := ListenURIs([]byte(tc.params))
		if !slices.Equal(uris, tc.uris) || (err != nil) != tc.bad {
			t.Errorf("%s: %q %v", tc.params, uris, err)
		}
	}
}

// FuzzListenURIs checks the URIs read from listen params against
// encoding/json's reading of the same bytes (the reading of a Go upstream
// and of the gateway's own bridge): whenever ListenURIs accepts params, it
// read the same URIs.
func FuzzListenURIs(f *testing.F) {
	for _, s := range []string{
		`{"notifications":{"resourceSubscriptions":["test://a","test://b"]}}`,
		`{"notifications":{"resourceSubscriptions":["\u0074est://a"]}}`,
		`{"notifications":{"resourceSubscriptions":[1]}}`,
		`{"notifications":{"resourceSubscriptions":null}}`,
		`{"notifications":{}}`,
		`{"notifications":{"resourceSubscriptions":["a"],"resourceSubscriptions":["b"]}}`,
		`{"Notifications":{"resourceSubscriptions":["a"]}}`,
		`{"notifications":{"resourceSubscriptions":["a"]},"notifications":{"ResourceSubscriptions":["b"]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, params []byte) {
		if !json.Valid(params) {
			return // the gateway decodes messages before policies see them
		}
		uris, err := ListenURIs(params)
		if err != nil {
			return // refused
		}
		var ref struct {
			Notifications *struct {
				ResourceSubscriptions []string `json:"resourceSubscriptions"`
			} `json:"notifications"`
		}
		if json.Unmarshal(params, &ref) != nil || ref.Notifications == nil {
			if len(uris) > 0 {
				t.Fatalf("%s: %q, encoding/json reads none", params, uris)
			}
			return
		}
		if got, want := uris, ref.Notifications.ResourceSubscriptions; !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Fatalf("%s: %q, encoding/json reads %q", params, got, want)
		}
	})
}

// FuzzUpdatedURI checks the URI read from a resources/updated
// notification against encoding/json's reading (a Go client's): when
// UpdatedURI names one, the client reads the same.
func FuzzUpdatedURI(f *testing.F) {
	for _, s := range []string{
		`{"uri":"test://a"}`, `{"URI":"test://a"}`, `{"uri":"test://a","Uri":"test://b"}`, `{"uri":1}`, `{}`, `{"uri":"\u0074"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, params []byte) {
		if !json.Valid(params) {
			return
		}
		raw := jsonrpc.AppendNotification(nil, "notifications/resources/updated", params)
		m, err := jsonrpc.Decode(raw, jsonrpc.Limits{})
		if err != nil {
			return
		}
		uri, ok, err := UpdatedURI(m)
		if !ok {
			t.Fatalf("%s: not recognized", raw)
		}
		if err != nil {
			return // dropped
		}
		var ref struct {
			URI string `json:"uri"`
		}
		if json.Unmarshal(params, &ref) != nil || ref.URI != uri {
			t.Fatalf("%s: %q, encoding/json reads %q", params, uri, ref.URI)
		}
	})
}
