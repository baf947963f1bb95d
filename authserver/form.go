package authserver

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcpfort/mcpfort/oauth"
)

// maxFormBytes bounds form bodies on the token, introspection and
// revocation endpoints and the sign-in and consent pages: a subject token
// plus a client assertion fit with room to spare.
const maxFormBytes = 32 << 10

// form is a parsed application/x-www-form-urlencoded body.
type form url.Values

// get returns the single value of a parameter, "" if absent. RFC 6749
// section 3.1: "Parameters sent without a value MUST be treated as if
// they were omitted from the request."
func (f form) get(k string) string {
	if v := f[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// all returns the non-empty values of a repeatable parameter.
func (f form) all(k string) []string {
	var out []string
	for _, v := range f[k] {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// repeatable parameters: RFC 8707 section 2 "resource" and RFC 8693
// section 2.1 "audience" may appear several times.
var repeatable = map[string]bool{"resource": true, "audience": true}

// readForm parses a POST body of at most maxFormBytes. It refuses other
// media types, bodies that are too large or malformed, and parameters sent
// more than once ("Request and response parameters MUST NOT be included
// more than once", RFC 6749 section 3.1). The URL query is ignored:
// credentials belong in the body.
func readForm(w http.ResponseWriter, r *http.Request) (form, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, oauth.NewError(oauth.InvalidRequest, "request body must be application/x-www-form-urlencoded")
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, oauth.NewError(oauth.InvalidRequest, "request body too large")
		}
		return nil, oauth.Wrap(oauth.InvalidRequest, "request body unreadable", err)
	}
	return parseParams(string(b))
}

// parseParams parses URL-encoded parameters with the duplicate rule.
func parseParams(raw string) (form, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, oauth.NewError(oauth.InvalidRequest, "malformed parameters")
	}
	for k, vals := range v {
		if len(vals) > 1 && !repeatable[k] {
			return nil, oauth.NewError(oauth.InvalidRequest, "parameter "+safeName(k)+" is repeated")
		}
	}
	return form(v), nil
}

// safeName quotes a parameter name for an error_description, which allows
// only printable ASCII without '"' and '\' (RFC 6749 section 5.2).
func safeName(k string) string {
	if len(k) > 40 {
		k = k[:40]
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}
