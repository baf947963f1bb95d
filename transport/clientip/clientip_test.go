package clientip

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestAddr(t *testing.T) {
	r, err := New(Options{TrustedProxies: []string{"10.0.0.0/8", "fd00::1", "::ffff:192.0.2.0/120"}})
	if err != nil {
		t.Fatal(err)
	}
	rf, err := New(Options{TrustedProxies: []string{"10.0.0.0/8"}, Header: Forwarded})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		res    *Resolver
		remote string
		hdr    map[string][]string
		want   string
	}{
		{"direct", r, "203.0.113.9:5000", nil, "203.0.113.9"},
		{"untrusted peer spoofs XFF", r, "203.0.113.9:5000", map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, "203.0.113.9"},
		{"untrusted peer spoofs Forwarded", rf, "203.0.113.9:5000", map[string][]string{"Forwarded": {"for=198.51.100.1"}}, "203.0.113.9"},
		{"trusted peer", r, "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"client prepends a fake hop", r, "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"1.1.1.1, 198.51.100.1"}}, "198.51.100.1"},
		{"chain of proxies", r, "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"1.1.1.1, 198.51.100.1, 10.9.9.9"}}, "198.51.100.1"},
		{"several header lines", r, "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"1.1.1.1", "198.51.100.1"}}, "198.51.100.1"},
		{"header missing", r, "10.1.2.3:5000", nil, "10.1.2.3"},
		{"all hops trusted", r, "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"10.0.0.5, 10.0.0.6"}}, "10.0.0.5"},
		{"garbage hop stops at the last trusted", r, "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"1.1.1.1, nonsense, 10.0.0.6"}}, "10.0.0.6"},
		{"ipv6 trusted peer", r, "[fd00::1]:443", map[string][]string{"X-Forwarded-For": {"2001:db8::7"}}, "2001:db8::7"},
		{"mapped peer", r, "[::ffff:192.0.2.4]:443", map[string][]string{"X-Forwarded-For": {"198.51.100.3"}}, "198.51.100.3"},
		{"hop with port", r, "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"[2001:db8::9]:1234"}}, "2001:db8::9"},
		{"XFF ignored when Forwarded is configured", rf, "10.1.2.3:5000", map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, "10.1.2.3"},
		{"Forwarded ignored when XFF is configured", r, "10.1.2.3:5000", map[string][]string{"Forwarded": {"for=198.51.100.1"}}, "10.1.2.3"},
		{"Forwarded", rf, "10.1.2.3:5000", map[string][]string{"Forwarded": {`for=1.1.1.1, for="[2001:db8::1]:80";proto=https`}}, "2001:db8::1"},
		{"Forwarded obfuscated", rf, "10.1.2.3:5000", map[string][]string{"Forwarded": {`for=1.1.1.1, for=_hidden, for=10.0.0.2`}}, "10.0.0.2"},
		{"Forwarded element without for", rf, "10.1.2.3:5000", map[string][]string{"Forwarded": {`for=1.1.1.1, proto=https`}}, "10.1.2.3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := &http.Request{RemoteAddr: tt.remote, Header: http.Header(tt.hdr)}
			if got := tt.res.String(req); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	var zero *Resolver
	if got := zero.String(&http.Request{RemoteAddr: "10.1.2.3:1", Header: http.Header{"X-Forwarded-For": {"1.1.1.1"}}}); got != "10.1.2.3" {
		t.Errorf("nil resolver: %s", got)
	}
	if got := r.String(&http.Request{RemoteAddr: "pipe"}); got != "pipe" {
		t.Errorf("non-address peer: %s", got)
	}
}

func TestNewRejects(t *testing.T) {
	for _, s := range []string{"10.0.0.1/8", "nope", "10.0.0.0/33", "fe80::1%eth0", ""} {
		if _, err := New(Options{TrustedProxies: []string{s}}); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if _, err := New(Options{Header: 7}); err == nil {
		t.Error("unknown header accepted")
	}
}

func TestBucket(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":           "192.0.2.1/32",
		"::ffff:192.0.2.1":    "192.0.2.1/32",
		"2001:db8:1:2:3::4":   "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::": "2001:db8:1:2::/64",
	} {
		if got := Bucket(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("Bucket(%s) = %s, want %s", in, got, want)
		}
	}
}

// FuzzAddr: for any forwarding header from a trusted peer, the answer is a
// valid address that is either the peer or one of the header's hops, and an
// untrusted peer is always its own client.
func FuzzAddr(f *testing.F) {
	for _, s := range []string{"198.51.100.1", "1.1.1.1, 10.0.0.1", `for="[2001:db8::1]:80";proto=https, for=_x`, `for="\"", for=1.2.3.4`, ",,,", "[::1]", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	x, _ := New(Options{TrustedProxies: []string{"10.0.0.0/8"}})
	fw, _ := New(Options{TrustedProxies: []string{"10.0.0.0/8"}, Header: Forwarded})
	f.Fuzz(func(t *testing.T, h string) {
		for _, r := range []*Resolver{x, fw} {
			hdr := http.Header{"X-Forwarded-For": {h}, "Forwarded": {h}}
			a, ok := r.Addr(&http.Request{RemoteAddr: "10.0.0.1:1", Header: hdr})
			if !ok || !a.IsValid() || a.Zone() != "" || a.Is4In6() {
				t.Fatalf("%q: %v %v", h, a, ok)
			}
			if a, _ := r.Addr(&http.Request{RemoteAddr: "203.0.113.1:1", Header: hdr}); a != netip.MustParseAddr("203.0.113.1") {
				t.Fatalf("%q: untrusted peer became %v", h, a)
			}
		}
	})
}
