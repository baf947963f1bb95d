package headers

import (
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/transport/clientip"
)

// DefaultCSP is the Content-Security-Policy of HTML responses that set
// none: nothing loads but same-origin styles and images, no script runs,
// forms post only to the origin, and no page may frame it.
const DefaultCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Options configures the headers. The zero value turns everything on with
// the documented defaults.
type Options struct {
	// HSTSMaxAge is Strict-Transport-Security's max-age. If zero, one year
	// (365 days); it must be at least one second.
	HSTSMaxAge time.Duration
	// HSTSIncludeSubdomains adds includeSubDomains (RFC 6797 section
	// 6.1.2): every subdomain must then be served over TLS too, so it is
	// opt-in.
	HSTSIncludeSubdomains bool
	// HSTSPreload adds the preload token browsers' preload lists ask for.
	HSTSPreload bool
	// TrustForwardedProto counts a request as served over TLS when
	// X-Forwarded-Proto or Forwarded (RFC 7239) says https. Set it only
	// behind a proxy that terminates TLS and sets these headers itself,
	// so that a client cannot choose.
	TrustForwardedProto bool
	// ReferrerPolicy is the Referrer-Policy value. If empty, no-referrer.
	ReferrerPolicy string
	// CSP is the Content-Security-Policy of HTML responses that set none.
	// If empty, DefaultCSP.
	CSP string
	// Authenticated reports whether a request carries credentials, so
	// that its response gets Cache-Control: no-store. If nil, a request
	// with an Authorization header or a Cookie is authenticated.
	Authenticated func(*http.Request) bool

	// InsecureDisableHSTS, InsecureDisableNoSniff,
	// InsecureDisableReferrerPolicy, InsecureDisableCacheControl and
	// InsecureDisableCSP turn the corresponding header off. Each logs a
	// warning at New.
	InsecureDisableHSTS           bool
	InsecureDisableNoSniff        bool
	InsecureDisableReferrerPolicy bool
	InsecureDisableCacheControl   bool
	InsecureDisableCSP            bool

	// Logger receives the start-up warnings. If nil, nothing is logged.
	Logger *slog.Logger
}

// Headers is the policy. It is immutable and safe for concurrent use.
type Headers struct {
	hsts     string // "" when off
	trustFwd bool
	nosniff  bool
	referrer string // "" when off
	cache    bool
	csp      string // "" when off
	authn    func(*http.Request) bool

	// The values set on every response, made once: one-element slices of
	// capacity one, never modified (an Add to the field copies them).
	vHSTS, vNoSniff, vReferrer []string
}

// one is a header value slice that an append cannot write through.
func one(v string) []string { return []string{v}[:1:1] }

// referrerPolicies are the W3C Referrer Policy tokens.
var referrerPolicies = map[string]bool{
	"no-referrer": true, "no-referrer-when-downgrade": true, "same-origin": true, "origin": true,
	"strict-origin": true, "origin-when-cross-origin": true, "strict-origin-when-cross-origin": true, "unsafe-url": true,
}

// New validates opts and returns the policy.
func New(opts Options) (*Headers, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Headers{trustFwd: opts.TrustForwardedProto, nosniff: !opts.InsecureDisableNoSniff, cache: !opts.InsecureDisableCacheControl, authn: opts.Authenticated}
	var errs []error
	if !opts.InsecureDisableHSTS {
		age := opts.HSTSMaxAge
		if age == 0 {
			age = 365 * 24 * time.Hour
		}
		if age < time.Second {
			errs = append(errs, errors.New("hsts max age must be at least one second"))
		}
		h.hsts = "max-age=" + strconv.FormatInt(int64(age/time.Second), 10)
		if opts.HSTSIncludeSubdomains {
			h.hsts += "; includeSubDomains"
		}
		if opts.HSTSPreload {
			h.hsts += "; preload"
		}
	}
	if !opts.InsecureDisableReferrerPolicy {
		h.referrer = opts.ReferrerPolicy
		if h.referrer == "" {
			h.referrer = "no-referrer"
		}
		if !referrerPolicies[h.referrer] {
			errs = append(errs, fmt.Errorf("unknown referrer policy %q", h.referrer))
		}
	}
	if !opts.InsecureDisableCSP {
		h.csp = opts.CSP
		if h.csp == "" {
			h.csp = DefaultCSP
		}
		if strings.ContainsAny(h.csp, "\r\n\x00") {
			errs = append(errs, errors.New("csp must be one line"))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("headers: %w", errors.Join(errs...))
	}
	h.vHSTS, h.vNoSniff, h.vReferrer = one(h.hsts), one("nosniff"), one(h.referrer)
	if h.authn == nil {
		h.authn = func(r *http.Request) bool {
			return first(r.Header["Authorization"]) != "" || first(r.Header["Cookie"]) != ""
		}
	}
	for _, off := range []struct {
		set  bool
		name string
	}{
		{opts.InsecureDisableHSTS, "Strict-Transport-Security"},
		{opts.InsecureDisableNoSniff, "X-Content-Type-Options"},
		{opts.InsecureDisableReferrerPolicy, "Referrer-Policy"},
		{opts.InsecureDisableCacheControl, "Cache-Control: no-store on authenticated responses"},
		{opts.InsecureDisableCSP, "Content-Security-Policy on HTML"},
	} {
		if off.set {
			log.Warn("security header disabled by configuration", "header", off.name)
		}
	}
	return h, nil
}

// Wrap adds the headers to every response of next.
func (h *Headers) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Set by canonical name, as Header.Set would after canonicalizing.
		hdr := w.Header()
		if h.hsts != "" && h.servedOverTLS(r) {
			hdr["Strict-Transport-Security"] = h.vHSTS
		}
		if h.nosniff {
			hdr["X-Content-Type-Options"] = h.vNoSniff
		}
		if h.referrer != "" {
			hdr["Referrer-Policy"] = h.vReferrer
		}
		auth := h.cache && h.authn(r)
		if h.csp == "" && !auth {
			next.ServeHTTP(w, r)
			return
		}
		// Cache-Control and CSP depend on what the handler sets, so they
		// are decided when it starts its response.
		next.ServeHTTP(&writer{ResponseWriter: w, h: h, auth: auth, bearer: first(r.Header["Authorization"]) != ""}, r)
	})
}

// servedOverTLS reports whether the client reached us over TLS.
func (h *Headers) servedOverTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !h.trustFwd {
		return false
	}
	if v := first(r.Header["X-Forwarded-Proto"]); v != "" {
		first, _, _ := strings.Cut(v, ",")
		return strings.EqualFold(strings.TrimSpace(first), "https")
	}
	if v := first(r.Header["Forwarded"]); v != "" {
		return forwardedProto(v) == "https"
	}
	return false
}

// forwardedProto returns the proto parameter of the first element of a
// Forwarded header (RFC 7239 section 4: elements are comma-separated, each
// a semicolon-separated list of token=value pairs, values tokens or
// quoted strings), lowercased; "" if absent or malformed.
func forwardedProto(v string) string {
	first := clientip.SplitUnquoted(v, ',')[0]
	for _, pair := range clientip.SplitUnquoted(first, ';') {
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(name, "proto") {
			continue
		}
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		return strings.ToLower(value)
	}
	return ""
}

// writer decides the response-dependent headers when the handler starts
// its response.
type writer struct {
	http.ResponseWriter
	h      *Headers
	auth   bool // the request carried credentials
	bearer bool // ... in an Authorization header
	done   bool
}

func (w *writer) decide(sniff []byte) {
	if w.done {
		return
	}
	w.done = true
	hdr := w.ResponseWriter.Header()
	if w.auth && (w.bearer || first(hdr["Cache-Control"]) == "") {
		// A bearer token's response is never stored, whatever the handler
		// said; a cookie-authenticated page keeps an explicit choice.
		hdr.Set("Cache-Control", "no-store")
	}
	if w.h.csp != "" && first(hdr["Content-Security-Policy"]) == "" {
		ct := first(hdr["Content-Type"])
		if ct == "" && sniff != nil && hdr["Content-Type"] == nil {
			ct = http.DetectContentType(sniff)
		}
		// Documents a browser renders and runs script in: HTML, XHTML and
		// SVG (an SVG opened directly can carry script).
		if mt := mediaType(ct); mt == "text/html" || mt == "application/xhtml+xml" || mt == "image/svg+xml" {
			hdr.Set("Content-Security-Policy", w.h.csp)
			if first(hdr["X-Frame-Options"]) == "" {
				hdr.Set("X-Frame-Options", "DENY")
			}
		}
	}
}

// WriteHeader implements http.ResponseWriter.
func (w *writer) WriteHeader(code int) {
	if code >= 200 {
		w.decide(nil)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *writer) Write(b []byte) (int, error) {
	w.decide(b)
	return w.ResponseWriter.Write(b)
}

// FlushError flushes through (SSE streams), as http.ResponseController
// asks of wrappers.
func (w *writer) FlushError() error {
	w.decide(nil)
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher for code that asserts it directly.
func (w *writer) Flush() { _ = w.FlushError() }

// Unwrap gives http.ResponseController the underlying writer (deadlines,
// hijacking).
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// first is Header.Get for a name already in canonical form (a constant):
// the field's first value, without canonicalizing the name on every call.
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// mediaType is mime.ParseMediaType's media type, without parsing (and
// allocating) for the types the gateway answers with.
func mediaType(ct string) string {
	switch ct {
	case "application/json", "text/event-stream":
		return ct
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt
}
