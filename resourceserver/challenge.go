package resourceserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Challenge is one RFC 6750 §3 Bearer challenge, the value of a
// WWW-Authenticate header, with the RFC 9728 §5.1 resource_metadata
// parameter.
type Challenge struct {
	// Realm is the optional protection space (RFC 9110 §11.5).
	Realm string
	// Error is the RFC 6750 §3.1 code; empty when no credentials were sent.
	Error ErrorCode
	// Description is error_description, for developers.
	Description string
	// Scopes is the scope attribute (RFC 6750 §3): the scopes the request
	// needs.
	Scopes []string
	// ResourceMetadata is the URL of the protected resource metadata
	// (RFC 9728 §5.1).
	ResourceMetadata string
	// DPoP makes this a DPoP challenge (RFC 9449 §7.1) rather than a
	// Bearer one, with Algs as its algs attribute.
	DPoP bool
	Algs string
}

// String formats c as a WWW-Authenticate header value. Values are
// sanitized, never escaped: RFC 6750 §3 allows no '"' or '\' (and nothing
// outside %x20-7E) in error, error_description and scope, so such bytes are
// dropped from the description, the realm and the metadata URL, and scopes
// that are not RFC 6749 scope-tokens are left out. The header can therefore
// never be broken or extended by the values it carries.
func (c Challenge) String() string {
	var b strings.Builder
	if c.DPoP {
		b.WriteString("DPoP")
	} else {
		b.WriteString("Bearer")
	}
	sep := " "
	param := func(name, value string) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(value)
		b.WriteByte('"')
		sep = ", "
	}
	if v := sanitizeQuoted(c.Realm); v != "" {
		param("realm", v)
	}
	if v := sanitizeQuoted(c.ResourceMetadata); v != "" {
		param("resource_metadata", v)
	}
	if v := sanitizeQuoted(c.Algs); c.DPoP && v != "" {
		param("algs", v)
	}
	if s := challengeScopes(c.Scopes); s != "" {
		param("scope", s)
	}
	if v := sanitizeQuoted(string(c.Error)); v != "" {
		param("error", v)
	}
	if v := sanitizeQuoted(c.Description); v != "" {
		param("error_description", v)
	}
	return b.String()
}

// sanitizeQuoted keeps the bytes RFC 6750 §3 allows inside its quoted
// attribute values: %x20-21 / %x23-5B / %x5D-7E.
func sanitizeQuoted(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if !quotedSafe(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if quotedSafe(s[i]) {
			b = append(b, s[i])
		}
	}
	return string(b)
}

func quotedSafe(c byte) bool { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' }

func challengeScopes(scopes []string) string {
	var b strings.Builder
	var seen []string
	for _, s := range scopes {
		if !validScopeToken(s) || contains(seen, s) {
			continue
		}
		seen = append(seen, s)
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	return b.String()
}

// ParseChallenge finds the Bearer challenge in a WWW-Authenticate header
// value (RFC 9110 §11.6.1: a comma-separated list of challenges, each a
// scheme and either a token68 or auth-params whose values are tokens or
// quoted-strings) and returns its parameters. Unknown parameters are
// ignored; a parameter repeated within the Bearer challenge is an error
// (RFC 6750 §3: attributes MUST NOT appear more than once).
func ParseChallenge(header string) (Challenge, error) {
	p := challengeParser{s: header}
	for {
		scheme, params, err := p.next()
		if err != nil {
			return Challenge{}, err
		}
		if scheme == "" {
			return Challenge{}, errors.New("no Bearer challenge")
		}
		if !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		var c Challenge
		seen := map[string]bool{}
		for _, kv := range params {
			name := strings.ToLower(kv[0])
			if seen[name] {
				return Challenge{}, errors.New("repeated parameter " + name)
			}
			seen[name] = true
			switch name {
			case "realm":
				c.Realm = kv[1]
			case "error":
				c.Error = ErrorCode(kv[1])
			case "error_description":
				c.Description = kv[1]
			case "scope":
				c.Scopes = strings.Fields(kv[1])
			case "resource_metadata":
				c.ResourceMetadata = kv[1]
			}
		}
		return c, nil
	}
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *challengeParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// next parses one challenge; scheme is empty at the end of the header.
func (p *challengeParser) next() (scheme string, params [][2]string, err error) {
	// Empty list elements are allowed (RFC 9110 §5.6.1).
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
	if p.i >= len(p.s) {
		return "", nil, nil
	}
	scheme = p.token()
	if scheme == "" {
		return "", nil, errors.New("malformed challenge: expected an auth-scheme")
	}
	if p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != '\t' && p.s[p.i] != ',' {
		return "", nil, errors.New("malformed challenge after auth-scheme")
	}
	p.skipOWS()
	// token68: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
	// followed by the end or a comma.
	if j := token68End(p.s, p.i); j > p.i {
		k := j
		for k < len(p.s) && (p.s[k] == ' ' || p.s[k] == '\t') {
			k++
		}
		if k == len(p.s) || p.s[k] == ',' {
			p.i = k
			return scheme, nil, nil
		}
	}
	for {
		p.skipOWS()
		if p.i >= len(p.s) {
			return scheme, params, nil
		}
		save := p.i
		name := p.token()
		if name == "" {
			if p.s[p.i] == ',' {
				p.i++
				continue
			}
			return "", nil, errors.New("malformed auth-param")
		}
		p.skipOWS()
		if p.i >= len(p.s) || p.s[p.i] != '=' {
			// A token not followed by '=' starts the next challenge.
			p.i = save
			return scheme, params, nil
		}
		p.i++
		p.skipOWS()
		var value string
		if p.i < len(p.s) && p.s[p.i] == '"' {
			value, err = p.quoted()
			if err != nil {
				return "", nil, err
			}
		} else {
			value = p.token()
			if value == "" {
				return "", nil, errors.New("malformed auth-param value")
			}
		}
		params = append(params, [2]string{name, value})
		p.skipOWS()
		if p.i < len(p.s) {
			if p.s[p.i] != ',' {
				return "", nil, errors.New("malformed challenge: expected ','")
			}
			p.i++
		}
	}
}

// quoted parses an RFC 9110 §5.6.4 quoted-string at p.i.
func (p *challengeParser) quoted() (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c == '\\':
			if p.i+1 >= len(p.s) || !qdtextOrVChar(p.s[p.i+1]) {
				return "", errors.New("malformed quoted-pair")
			}
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		case qdtextOrVChar(c):
			b.WriteByte(c)
			p.i++
		default:
			return "", errors.New("invalid character in quoted-string")
		}
	}
	return "", errors.New("unterminated quoted-string")
}

// qdtextOrVChar accepts HTAB, SP, VCHAR and obs-text.
func qdtextOrVChar(c byte) bool { return c == '\t' || c >= 0x20 && c != 0x7f }

func token68End(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			j++
			continue
		}
		break
	}
	if j == i {
		return i
	}
	for j < len(s) && s[j] == '=' {
		j++
	}
	return j
}

// isTchar reports whether c is an RFC 9110 §5.6.2 tchar.
func isTchar(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// errorBody is the JSON body of every error response: the RFC 6749 §5.2
// error object shape, so clients that read bodies see the same code as the
// challenge.
type errorBody struct {
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

// WriteError writes err as the RFC 6750 §3 response: status 400, 401 or 403
// by code, a WWW-Authenticate Bearer challenge carrying resourceMetadata
// (RFC 9728 §5.1), scope and error, and a JSON body
// {"error": ..., "error_description": ...}; never plain text.
//
// err may be any error: an *[Error] is written as is; an error matching
// [ErrUnavailable] becomes 503 with Retry-After and no challenge (the token
// was not judged); anything else becomes 401 invalid_token, its text not
// sent. defaultScopes is the scope attribute when err carries no Scopes
// (for 401, the scopes a new token should have; may be nil).
func WriteError(w http.ResponseWriter, err error, resourceMetadata string, defaultScopes []string) {
	writeError(w, err, resourceMetadata, "", defaultScopes, nil)
}

// dpopChallenge says which challenges a resource that knows DPoP sends:
// algs for its algs attribute, and whether Bearer is refused.
type dpopChallenge struct {
	algs     string
	required bool
}

func writeError(w http.ResponseWriter, err error, resourceMetadata, realm string, defaultScopes []string, dc *dpopChallenge) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	var e *Error
	if !errors.As(err, &e) {
		if errors.Is(err, ErrUnavailable) {
			h.Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"token validation is temporarily unavailable"}`))
			return
		}
		e = &Error{Code: InvalidToken, Description: "the access token is invalid"}
	}
	scopes := e.Scopes
	if len(scopes) == 0 {
		scopes = defaultScopes
	}
	c := Challenge{
		Realm:            realm,
		Error:            e.Code,
		Description:      e.Description,
		Scopes:           scopes,
		ResourceMetadata: resourceMetadata,
	}
	if e.Code == "" {
		// RFC 6750 §3.1: a request without credentials gets no error code
		// "or other error information" in the challenge.
		c.Description = ""
	}
	switch {
	case dc == nil:
		h.Set("WWW-Authenticate", c.String())
	case e.DPoP || dc.required:
		// RFC 9449 §7.1: the DPoP scheme's challenge, with algs.
		c.DPoP, c.Algs = true, dc.algs
		h.Set("WWW-Authenticate", c.String())
	default:
		// Both schemes are accepted: the error is about the Bearer
		// request; the DPoP challenge only advertises the scheme.
		h.Set("WWW-Authenticate", c.String())
		h.Add("WWW-Authenticate", Challenge{Realm: realm, ResourceMetadata: resourceMetadata, Scopes: scopes, DPoP: true, Algs: dc.algs}.String())
	}
	if e.Nonce != "" {
		h.Set("DPoP-Nonce", e.Nonce)
	}
	w.WriteHeader(e.Status())
	body := errorBody{Error: string(e.Code), Description: sanitizeQuoted(e.Description)}
	if e.Code == InsufficientScope {
		body.Scope = challengeScopes(e.Scopes)
	}
	b, _ := json.Marshal(body)
	_, _ = w.Write(b)
}
