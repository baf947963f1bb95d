package cimd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage/sqlite"
)

// docServer is a local TLS server publishing metadata documents. Its
// handler table maps a path to a function writing the response; the
// document's client_id is the full URL.
type docServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newDocServer(t *testing.T, routes map[string]func(w http.ResponseWriter, self string)) *docServer {
	d := &docServer{}
	d.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.hits.Add(1)
		fn, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		fn(w, d.URL+r.URL.Path)
	}))
	t.Cleanup(d.Close)
	return d
}

func doc(self string, extra string) string {
	return fmt.Sprintf(`{"client_id":%q,"client_name":"Test","redirect_uris":["http://127.0.0.1/cb"]%s}`, self, extra)
}

func newFetcher(t *testing.T, d *docServer, mod func(*Options)) *Fetcher {
	t.Helper()
	store, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "c.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	o := Options{Cache: store, InsecureAllowLoopback: true, Timeout: 2 * time.Second}
	if d != nil {
		o.RootCAs = d.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	}
	if mod != nil {
		mod(&o)
	}
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFetch(t *testing.T) {
	big := strings.Repeat("x", 6000)
	d := newDocServer(t, map[string]func(http.ResponseWriter, string){
		"/ok": func(w http.ResponseWriter, self string) {
			w.Header().Set("Cache-Control", "max-age=600")
			fmt.Fprint(w, doc(self, `,"unknown_member":{"nested":[1]}`))
		},
		"/mismatch": func(w http.ResponseWriter, self string) { fmt.Fprint(w, doc(self+"x", "")) },
		"/secret":   func(w http.ResponseWriter, self string) { fmt.Fprint(w, doc(self, `,"client_secret":"s"`)) },
		"/basicauth": func(w http.ResponseWriter, self string) {
			fmt.Fprint(w, doc(self, `,"token_endpoint_auth_method":"client_secret_basic"`))
		},
		"/big": func(w http.ResponseWriter, self string) { fmt.Fprint(w, doc(self, `,"x":"`+big+`"`)) },
		"/redirect": func(w http.ResponseWriter, self string) {
			w.Header().Set("Location", strings.TrimSuffix(self, "/redirect")+"/ok")
			w.WriteHeader(http.StatusFound)
		},
		"/created": func(w http.ResponseWriter, self string) { w.WriteHeader(201); fmt.Fprint(w, doc(self, "")) },
		"/notjson": func(w http.ResponseWriter, self string) { fmt.Fprint(w, "<html>") },
		"/duplicate": func(w http.ResponseWriter, self string) {
			fmt.Fprintf(w, `{"client_id":%q,"client_id":%q}`, self, self)
		},
	})
	f := newFetcher(t, d, nil)
	tests := []struct {
		path    string
		wantErr string
	}{
		{"/ok", ""},
		{"/mismatch", "does not match"},
		{"/secret", "client secret"},
		{"/basicauth", "token_endpoint_auth_method"},
		{"/big", "larger than"},
		{"/redirect", "HTTP 302"},
		{"/created", "HTTP 201"},
		{"/missing", "HTTP 404"},
		{"/notjson", "not a valid JSON"},
		{"/duplicate", "not a valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			m, err := f.Fetch(context.Background(), d.URL+tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if m.ClientName != "Test" {
					t.Errorf("client_name %q", m.ClientName)
				}
				return
			}
			var fe *Error
			if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want *Error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCaching(t *testing.T) {
	var fail atomic.Bool
	d := newDocServer(t, map[string]func(http.ResponseWriter, string){
		"/cached": func(w http.ResponseWriter, self string) {
			w.Header().Set("Cache-Control", "public, max-age=600")
			fmt.Fprint(w, doc(self, ""))
		},
		"/nostore": func(w http.ResponseWriter, self string) {
			w.Header().Set("Cache-Control", "max-age=600, no-store")
			fmt.Fprint(w, doc(self, ""))
		},
		"/flaky": func(w http.ResponseWriter, self string) {
			if fail.Load() {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			fmt.Fprint(w, doc(self, ""))
		},
	})
	now := time.Date(2026, 7, 28, 0, 0, 0, 0, time.UTC)
	f := newFetcher(t, d, func(o *Options) {
		o.Now = func() time.Time { return now }
		o.MinTTL = time.Minute
		o.MaxTTL = time.Hour
	})
	ctx := context.Background()
	fetchN := func(path string, n int) int64 {
		before := d.hits.Load()
		for range n {
			_, _ = f.Fetch(ctx, d.URL+path)
		}
		return d.hits.Load() - before
	}
	if got := fetchN("/cached", 3); got != 1 {
		t.Errorf("max-age document fetched %d times, want 1", got)
	}
	// no-store gets the operator's minimum lifetime, not zero: a burst of
	// authorizations must not become a burst of fetches.
	if got := fetchN("/nostore", 3); got != 1 {
		t.Errorf("no-store document fetched %d times within MinTTL", got)
	}
	now = now.Add(2 * time.Minute)
	if got := fetchN("/nostore", 1); got != 1 {
		t.Errorf("no-store document not refetched after MinTTL")
	}
	if got := fetchN("/cached", 1); got != 0 {
		t.Errorf("max-age=600 document refetched after 2 minutes")
	}
	now = now.Add(2 * time.Hour) // past MaxTTL
	if got := fetchN("/cached", 1); got != 1 {
		t.Errorf("document served past MaxTTL")
	}
	// Errors are never cached.
	fail.Store(true)
	if got := fetchN("/flaky", 2); got != 2 {
		t.Errorf("error fetched %d times, want 2 (errors must not be cached)", got)
	}
	fail.Store(false)
	if _, err := f.Fetch(ctx, d.URL+"/flaky"); err != nil {
		t.Errorf("recovered document: %v", err)
	}
}

func TestValidateHookNotCached(t *testing.T) {
	d := newDocServer(t, map[string]func(http.ResponseWriter, string){
		"/c": func(w http.ResponseWriter, self string) {
			w.Header().Set("Cache-Control", "max-age=600")
			fmt.Fprint(w, doc(self, ""))
		},
	})
	f := newFetcher(t, d, func(o *Options) {
		o.Validate = func(m *oauth.ClientMetadata) error { return errors.New("redirect not allowed") }
	})
	for range 2 {
		if _, err := f.Fetch(context.Background(), d.URL+"/c"); err == nil {
			t.Fatal("hook rejection ignored")
		}
	}
	if d.hits.Load() != 2 {
		t.Errorf("rejected document cached (%d hits)", d.hits.Load())
	}
}

// TestLoopbackRefused: without the test-only exception, the fetcher refuses
// loopback both as a literal and after resolving a name.
func TestLoopbackRefused(t *testing.T) {
	d := newDocServer(t, map[string]func(http.ResponseWriter, string){
		"/c": func(w http.ResponseWriter, self string) { fmt.Fprint(w, doc(self, "")) },
	})
	f := newFetcher(t, d, func(o *Options) { o.InsecureAllowLoopback = false })
	port := d.URL[strings.LastIndex(d.URL, ":")+1:]
	for _, u := range []string{d.URL + "/c", "https://localhost:" + port + "/c", "https://[::1]:" + port + "/c"} {
		_, err := f.Fetch(context.Background(), u)
		if err == nil || !strings.Contains(err.Error(), "special-use") {
			t.Errorf("%s: err = %v, want special-use refusal", u, err)
		}
	}
	if d.hits.Load() != 0 {
		t.Errorf("server reached %d times", d.hits.Load())
	}
}

func TestTimeout(t *testing.T) {
	d := newDocServer(t, nil)
	d.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	f := newFetcher(t, d, func(o *Options) { o.Timeout = 200 * time.Millisecond })
	start := time.Now()
	_, err := f.Fetch(context.Background(), d.URL+"/slow")
	if err == nil {
		t.Fatal("hanging server did not time out")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("timeout took %v", el)
	}
}

func TestDomainPolicy(t *testing.T) {
	f := newFetcher(t, nil, func(o *Options) {
		o.AllowDomains = []string{"example.com", "clients.example.org"}
		o.DenyDomains = []string{"evil.example.com"}
	})
	for host, want := range map[string]bool{
		"example.com": true, "a.example.com": true, "evil.example.com": false, "x.evil.example.com": false,
		"notexample.com": false, "clients.example.org": true, "example.org": false,
	} {
		if got := f.domainAllowed(host); got != want {
			t.Errorf("%s: allowed=%v, want %v", host, got, want)
		}
	}
	if _, err := New(Options{DenyDomains: []string{"https://x"}}); err == nil {
		t.Error("URL accepted as a domain")
	}
}

func TestValidateClientIDURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://client.example/metadata.json":                true,
		"https://client.example:8443/m":                       true,
		"https://client.example/a/b/c":                        true,
		"http://client.example/m":                             false,
		"https://client.example":                              false,
		"https://client.example/":                             false,
		"https://client.example/m#f":                          false,
		"https://client.example/m?x=1":                        false,
		"https://client.example/m?":                           false,
		"https://user@client.example/m":                       false,
		"https://client.example/a/../m":                       false,
		"https://client.example/a/./m":                        false,
		"https://client.example/a/%2E%2E/m":                   false,
		"https:///m":                                          false,
		"https://client.example:0/m":                          false,
		"https://client.example:99999/m":                      false,
		"https://client.example/" + strings.Repeat("a", 2100): false,
	} {
		if err := ValidateClientIDURL(u); (err == nil) != ok {
			t.Errorf("%s: err = %v, want ok=%v", u, err, ok)
		}
	}
}

func TestAddrPolicy(t *testing.T) {
	p := newAddrPolicy(false)
	for a, ok := range map[string]bool{
		"93.184.215.14": true, "2606:2800:21f:cb07:6820:80da:af6b:8b2c": true, "8.8.8.8": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "255.255.255.255": false, "224.0.0.1": false, "192.0.2.1": false,
		"198.18.0.1": false, "::1": false, "::": false, "fe80::1": false, "fc00::1": false, "fd00:ec2::254": false,
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "::ffff:8.8.8.8": true, "64:ff9b::a00:1": false,
		"2002:7f00:1::": false, "2001:0:4136:e378::1": false, "2001:db8::1": false, "ff02::1": false,
	} {
		if got := p.allowed(netip.MustParseAddr(a)); got != ok {
			t.Errorf("%s: allowed=%v, want %v", a, got, ok)
		}
	}
	if !newAddrPolicy(true).allowed(netip.MustParseAddr("127.0.0.1")) {
		t.Error("loopback exception not applied")
	}
	if newAddrPolicy(true).allowed(netip.MustParseAddr("10.0.0.1")) {
		t.Error("loopback exception opened private ranges")
	}
}

func TestCacheTTL(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	for name, tt := range map[string]struct {
		h    http.Header
		want time.Duration
	}{
		"none":           {h(), 0},
		"max-age":        {h("Cache-Control", "max-age=60"), time.Minute},
		"no-store after": {h("Cache-Control", "max-age=60, no-store"), 0},
		"no-cache":       {h("Cache-Control", "no-cache"), 0},
		"bad max-age":    {h("Cache-Control", "max-age=-1"), 0},
		"expires":        {h("Expires", now.Add(time.Hour).Format(http.TimeFormat), "Date", now.Format(http.TimeFormat)), time.Hour},
		"past expires":   {h("Expires", now.Add(-time.Hour).Format(http.TimeFormat)), 0},
		"bad expires":    {h("Expires", "0"), 0},
	} {
		if got := cacheTTL(tt.h, now); got != tt.want {
			t.Errorf("%s: %v, want %v", name, got, tt.want)
		}
	}
}

func FuzzParseDocument(f *testing.F) {
	const id = "https://c.example/m"
	f.Add([]byte(doc(id, "")))
	f.Add([]byte(`{"client_id":"https://c.example/m","jwks":{"keys":[{"kty":"EC"}]}}`))
	f.Add([]byte(`{"client_id":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseDocument(id, b)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if m.ClientID != id || m.HasClientSecret {
			t.Fatalf("accepted document %+v", m)
		}
	})
}

func FuzzValidateClientIDURL(f *testing.F) {
	for _, s := range []string{"https://a.example/m", "https://a/../b", "http://x/y", "https://[::1]:80/m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateClientIDURL(s) == nil && !strings.HasPrefix(s, "https://") {
			t.Fatalf("accepted %q", s)
		}
	})
}
