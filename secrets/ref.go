package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Schemes of references, one per backend.
const (
	SchemeEnv           = "env"
	SchemeFile          = "file"
	SchemeVault         = "vault"
	SchemeAWSSecrets    = "awssecrets"
	SchemeAWSSSM        = "awsssm"
	SchemeAzureKeyVault = "azurekeyvault"
	SchemeGCPSecrets    = "gcpsecrets"
)

// Schemes lists every scheme a reference may use.
var Schemes = []string{SchemeEnv, SchemeFile, SchemeVault, SchemeAWSSecrets, SchemeAWSSSM, SchemeAzureKeyVault, SchemeGCPSecrets}

// params are the query parameters each remote scheme accepts.
var params = map[string][]string{
	SchemeVault:         {"version"},
	SchemeAWSSecrets:    {"region", "version_stage", "version_id"},
	SchemeAWSSSM:        {"region"},
	SchemeAzureKeyVault: {},
	SchemeGCPSecrets:    {"version"},
}

// Ref is a parsed secret reference. It names a secret and never holds
// one, so it may be logged and shown in errors.
type Ref struct {
	// Scheme is one of Schemes.
	Scheme string
	// Name is what the scheme names: the variable (env), the path
	// (file), MOUNT/PATH (vault), the secret name or ARN (awssecrets), the
	// parameter name (awsssm), VAULT/NAME[/VERSION] (azurekeyvault),
	// PROJECT/SECRET (gcpsecrets).
	Name string
	// Params are the query parameters (version, region, ...).
	Params map[string]string
	// Pointer is the RFC 6901 JSON pointer of the fragment, or "".
	Pointer string
	raw     string
}

// String returns the reference as written.
func (r Ref) String() string { return r.raw }

// IsZero reports whether r is the zero Ref.
func (r Ref) IsZero() bool { return r.raw == "" }

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// LooksLikeRef reports whether s starts with a reference scheme
// ("env:", "file:", "vault://", ...), so that a field accepting literals
// can tell the two apart.
func LooksLikeRef(s string) bool {
	for _, sc := range Schemes {
		sep := "://"
		if sc == SchemeEnv || sc == SchemeFile {
			sep = ":"
		}
		if strings.HasPrefix(s, sc+sep) {
			return true
		}
	}
	return false
}

// ParseRef parses a reference. Its errors quote the reference, which is
// not secret.
func ParseRef(s string) (Ref, error) {
	r := Ref{raw: s}
	if s == "" {
		return r, errors.New("empty secret reference")
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || !slices.Contains(Schemes, scheme) {
		return r, fmt.Errorf("%q is not a secret reference (want env:NAME, file:PATH, vault://, awssecrets://, awsssm://, azurekeyvault:// or gcpsecrets://)", s)
	}
	r.Scheme = scheme
	if scheme == SchemeEnv {
		if !envNameRE.MatchString(rest) {
			return r, fmt.Errorf("%q: env: needs a variable name of letters, digits and _", s)
		}
		r.Name = rest
		return r, nil
	}
	rest, frag, hasFrag := strings.Cut(rest, "#")
	if hasFrag {
		p, err := url.PathUnescape(frag)
		if err != nil || !validPointer(p) {
			return r, fmt.Errorf("%q: the fragment must be an RFC 6901 JSON pointer such as #/token", s)
		}
		r.Pointer = p
	}
	if scheme == SchemeFile {
		if rest == "" {
			return r, fmt.Errorf("%q: file: needs a path", s)
		}
		r.Name = rest
		return r, nil
	}
	if !strings.HasPrefix(rest, "//") {
		return r, fmt.Errorf("%q: want %s://NAME", s, scheme)
	}
	rest, query, _ := strings.Cut(rest[2:], "?")
	name, err := url.PathUnescape(rest)
	if err != nil || name == "" {
		return r, fmt.Errorf("%q: names no secret", s)
	}
	r.Name = name
	q, err := url.ParseQuery(query)
	if err != nil {
		return r, fmt.Errorf("%q: invalid query", s)
	}
	for k, vs := range q {
		if !slices.Contains(params[scheme], k) {
			accepted := strings.Join(params[scheme], ", ")
			if accepted == "" {
				accepted = "none"
			}
			return r, fmt.Errorf("%q: unknown parameter %q (%s accepts %s)", s, k, scheme, accepted)
		}
		if len(vs) != 1 || vs[0] == "" {
			return r, fmt.Errorf("%q: parameter %q needs one value", s, k)
		}
		if r.Params == nil {
			r.Params = map[string]string{}
		}
		r.Params[k] = vs[0]
	}
	if err := r.checkName(); err != nil {
		return r, fmt.Errorf("%q: %w", s, err)
	}
	return r, nil
}

func (r Ref) checkName() error {
	segs := strings.Split(r.Name, "/")
	switch r.Scheme {
	case SchemeVault:
		if len(segs) < 2 || slices.Contains(segs, "") || slices.Contains(segs, "..") {
			return errors.New("vault:// needs MOUNT/PATH")
		}
		if v, ok := r.Params["version"]; ok {
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				return errors.New("version must be a positive integer")
			}
		}
	case SchemeAzureKeyVault:
		if len(segs) < 2 || len(segs) > 3 || slices.Contains(segs, "") {
			return errors.New("azurekeyvault:// needs VAULT/NAME or VAULT/NAME/VERSION")
		}
	case SchemeGCPSecrets:
		if len(segs) != 2 || slices.Contains(segs, "") {
			return errors.New("gcpsecrets:// needs PROJECT/SECRET")
		}
	case SchemeAWSSSM:
		if strings.Contains(r.Name, "//") {
			return errors.New("awsssm:// parameter name has an empty segment")
		}
	}
	return nil
}

// AllowName is the name a backend's allow-list is matched against: the
// absolute, cleaned path for file (relative paths resolved against dir),
// the name as written otherwise.
func (r Ref) AllowName(dir string) string {
	if r.Scheme == SchemeFile {
		p := r.Name
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		return filepath.Clean(p)
	}
	return r.Name
}

// Allowed reports whether name matches one of the allow-list entries:
// equal to it; under it when it ends with "/"; or starting with what
// precedes a final "*".
func Allowed(allow []string, name string) bool {
	for _, a := range allow {
		switch {
		case a == name:
			return true
		case strings.HasSuffix(a, "*") && strings.HasPrefix(name, a[:len(a)-1]):
			return true
		case strings.HasSuffix(a, "/") && strings.HasPrefix(name, a) && !strings.Contains(name[len(a):], ".."):
			return true
		}
	}
	return false
}

func validPointer(p string) bool {
	if p == "" {
		return true
	}
	if p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 >= len(p) || (p[i+1] != '0' && p[i+1] != '1')) {
			return false
		}
	}
	return true
}

// ErrPointer reports that a JSON pointer did not select a usable member.
// Its message never includes the secret.
var ErrPointer = errors.New("secret: the JSON pointer selects nothing usable")

// Select applies an RFC 6901 JSON pointer to a secret holding JSON. An
// empty pointer returns b as it is. The selected member must be a string
// (returned unquoted), a number or a boolean (returned as written).
// Errors never quote the secret (json's syntax errors do, so they are
// not wrapped).
func Select(b []byte, pointer string) ([]byte, error) {
	if pointer == "" {
		return b, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, errors.New("secret: the value is not JSON, so the fragment cannot select from it")
	}
	// RFC 6901 section 4: each reference token is unescaped ~1 then ~0.
	for _, tok := range strings.Split(pointer[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch d := doc.(type) {
		case map[string]any:
			v, ok := d[tok]
			if !ok {
				return nil, fmt.Errorf("%w: no member %q", ErrPointer, tok)
			}
			doc = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(d) || (len(tok) > 1 && tok[0] == '0') {
				return nil, fmt.Errorf("%w: no element %q", ErrPointer, tok)
			}
			doc = d[i]
		default:
			return nil, fmt.Errorf("%w: %q is below a string, number or boolean", ErrPointer, tok)
		}
	}
	switch v := doc.(type) {
	case string:
		return []byte(v), nil
	case json.Number:
		return []byte(v.String()), nil
	case bool:
		return []byte(strconv.FormatBool(v)), nil
	}
	return nil, fmt.Errorf("%w: it selects an object, array or null", ErrPointer)
}
