package headers

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHeaders(t *testing.T) {
	html := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<p>hi</p>")
	}
	sniffedHTML := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<!DOCTYPE html><p>hi</p>") }
	jsonBody := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{}`)
	}
	ownPolicy := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.WriteHeader(http.StatusOK)
	}
	all := []string{"Strict-Transport-Security", "X-Content-Type-Options", "Referrer-Policy", "Cache-Control", "Content-Security-Policy", "X-Frame-Options"}
	tests := []struct {
		name    string
		opts    Options
		handler http.HandlerFunc
		req     func(*http.Request)
		want    map[string]string
	}{
		{"plain HTTP JSON, anonymous", Options{}, jsonBody, nil,
			map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}},
		{"TLS", Options{}, jsonBody, func(r *http.Request) { r.TLS = &tls.ConnectionState{} },
			map[string]string{"Strict-Transport-Security": "max-age=31536000", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}},
		{"HSTS options", Options{HSTSMaxAge: 3600e9, HSTSIncludeSubdomains: true, HSTSPreload: true}, jsonBody, func(r *http.Request) { r.TLS = &tls.ConnectionState{} },
			map[string]string{"Strict-Transport-Security": "max-age=3600; includeSubDomains; preload", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}},
		{"forwarded proto ignored unless trusted", Options{}, jsonBody, func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https") },
			map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}},
		{"trusted X-Forwarded-Proto", Options{TrustForwardedProto: true}, jsonBody, func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "HTTPS, http") },
			map[string]string{"Strict-Transport-Security": "max-age=31536000", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}},
		{"trusted Forwarded", Options{TrustForwardedProto: true}, jsonBody, func(r *http.Request) { r.Header.Set("Forwarded", `for="[2001:db8::1]:4711";proto=https, proto=http`) },
			map[string]string{"Strict-Transport-Security": "max-age=31536000", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}},
		{"trusted proxy saying http", Options{TrustForwardedProto: true}, jsonBody, func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "http") },
			map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}},
		{"bearer request is never cached", Options{}, ownPolicy, func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") },
			map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "Content-Security-Policy": "default-src 'self'"}},
		{"cookie request defaults to no-store", Options{}, jsonBody, func(r *http.Request) { r.Header.Set("Cookie", "s=1") },
			map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}},
		{"cookie request keeps an explicit choice", Options{}, ownPolicy, func(r *http.Request) { r.Header.Set("Cookie", "s=1") },
			map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "public, max-age=60", "Content-Security-Policy": "default-src 'self'"}},
		{"HTML gets the strict CSP", Options{}, html, nil,
			map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Content-Security-Policy": DefaultCSP, "X-Frame-Options": "DENY"}},
		{"sniffed HTML too", Options{}, sniffedHTML, nil,
			map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Content-Security-Policy": DefaultCSP, "X-Frame-Options": "DENY"}},
		{"SVG documents too", Options{}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/svg+xml")
			io.WriteString(w, "<svg/>")
		}, nil,
			map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Content-Security-Policy": DefaultCSP, "X-Frame-Options": "DENY"}},
		{"custom values", Options{CSP: "default-src 'none'", ReferrerPolicy: "same-origin", Authenticated: func(*http.Request) bool { return true }}, html, nil,
			map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY", "Cache-Control": "no-store"}},
		{"everything off", Options{InsecureDisableHSTS: true, InsecureDisableNoSniff: true, InsecureDisableReferrerPolicy: true, InsecureDisableCacheControl: true, InsecureDisableCSP: true}, html,
			func(r *http.Request) { r.TLS = &tls.ConnectionState{}; r.Header.Set("Authorization", "Bearer x") }, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			if tt.req != nil {
				tt.req(r)
			}
			w := httptest.NewRecorder()
			h.Wrap(tt.handler).ServeHTTP(w, r)
			got := map[string]string{}
			for _, k := range all {
				if v := w.Result().Header.Get(k); v != "" {
					got[k] = v
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	_, err := New(Options{HSTSMaxAge: 1, ReferrerPolicy: "sometimes", CSP: "a\r\nb"})
	if err == nil {
		t.Fatal("New succeeded")
	}
	for _, want := range []string{"max age", "referrer policy", "one line"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestStreamingFlushes checks that an SSE handler behind the wrapper
// still delivers each event as it is flushed: the handler waits for the
// client to have read the first event before it sends the second.
func TestStreamingFlushes(t *testing.T) {
	h, _ := New(Options{})
	read := make(chan struct{})
	srv := httptest.NewServer(h.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Error(err)
			return
		}
		<-read
		io.WriteString(w, "data: two\n\n")
	})))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event %q, %v", line, err)
	}
	close(read)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

func TestForwardedProto(t *testing.T) {
	for in, want := range map[string]string{
		"proto=https":                       "https",
		`for=1.2.3.4;Proto="HTTPS"`:         "https",
		`for="a,b";proto=http, proto=https`: "http",
		`for="x\";proto=https";proto=http`:  "http",
		"":                                  "",
		"for=1.2.3.4":                       "",
		`proto`:                             "",
	} {
		if got := forwardedProto(in); got != want {
			t.Errorf("forwardedProto(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzForwardedProto: the Forwarded header is client input (when the
// proxy passes it through); its parser must never panic, and only a proto
// parameter of the first element may say https.
func FuzzForwardedProto(f *testing.F) {
	for _, s := range []string{`for=1.2.3.4;proto=https`, `proto="https"`, `for="\"";proto=https,`, `;;==,"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := forwardedProto(v)
		if got == "https" && !strings.Contains(strings.ToLower(v), "https") {
			t.Fatalf("forwardedProto(%q) = https", v)
		}
	})
}

// The values set on every response are shared between responses: a
// handler adding to one of those fields must not change another
// response's, before or after.
func TestSharedValuesStayPut(t *testing.T) {
	h, err := New(Options{TrustForwardedProto: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := h.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("add"); v != "" {
			for _, k := range []string{"Referrer-Policy", "X-Content-Type-Options", "Strict-Transport-Security"} {
				w.Header().Add(k, v)
			}
		}
	}))
	serve := func(target string) http.Header {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		srv.ServeHTTP(rec, req)
		return rec.Header()
	}
	a := serve("/?add=a")
	b := serve("/?add=b")
	plain := serve("/")
	for _, k := range []string{"Referrer-Policy", "X-Content-Type-Options", "Strict-Transport-Security"} {
		if got := a[k]; len(got) != 2 || got[1] != "a" {
			t.Fatalf("first response's %s: %q", k, got)
		}
		if got := b[k]; len(got) != 2 || got[1] != "b" {
			t.Fatalf("second response's %s: %q", k, got)
		}
		if got := plain[k]; len(got) != 1 {
			t.Fatalf("plain response's %s: %q", k, got)
		}
	}
}
