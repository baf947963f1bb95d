package resourceserver

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/internal/base64url"
	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// JOSE headers and JWT claims are small flat objects; anything nested deeper
// than this is hostile.
const (
	maxHeaderDepth = 4
	maxClaimsDepth = 16
)

// errNotJWT reports a token that is not a JWS compact serialization at all,
// so [Multi] can hand it to the opaque-token verifier.
var errNotJWT = errors.New("not a JWS compact serialization")

// jwtHeader is the JOSE header members this package reads (RFC 7515 §4.1).
type jwtHeader struct {
	alg, kid, typ string
}

// jwtClaims is the RFC 9068 §2.2 claim set.
type jwtClaims struct {
	iss, sub, clientID, jti string
	sid                     string
	jkt                     string // cnf.jkt, RFC 9449 section 6.1
	aud                     []string
	exp, nbf, iat           time.Time
	scopes                  []string
	raw                     []byte // the whole validated claim set
}

type parsedJWT struct {
	header jwtHeader
	claims jwtClaims
}

// parseJWT decodes the header and claims of a JWS compact serialization
// (RFC 7515 §7.1) without verifying the signature. Both parts go through the
// jsonx chokepoint: strict UTF-8, bounded depth, duplicate member names
// rejected (RFC 7515 §4 and RFC 7519 §4 say a duplicate MUST be rejected or
// the last one used; rejecting closes the door on parser differentials),
// member names compared case-sensitively.
//
// It returns errNotJWT when the header segment is not base64url JSON, and a
// descriptive error for anything else wrong.
func parseJWT(token string, maxBytes int) (*parsedJWT, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxTokenBytes
	}
	if len(token) > maxBytes {
		return nil, errors.New("token too large")
	}
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errNotJWT
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(sig, '.') >= 0 {
		return nil, errNotJWT
	}
	hdrBytes, err := base64url.Decode(h)
	if err != nil || len(hdrBytes) == 0 || hdrBytes[0] != '{' {
		return nil, errNotJWT
	}
	var p parsedJWT
	if err := parseHeader(hdrBytes, &p.header); err != nil {
		return nil, err
	}
	if sig == "" {
		return nil, errors.New("unsigned token")
	}
	// Every segment, the signature too, in its one spelling (RFC 7515
	// section 2): go-jose's decoder would skip line breaks and ignore
	// trailing bits, so that many strings would verify as one token. The
	// header was decoded so above, the claims are below.
	if !base64url.Canonical(sig) {
		return nil, errors.New("signature is " + base64url.ErrNotCanonical.Error())
	}
	claimBytes, err := base64url.Decode(payload)
	if err != nil {
		return nil, errors.New("claims are " + err.Error())
	}
	if err := parseClaims(claimBytes, &p.claims); err != nil {
		return nil, err
	}
	return &p, nil
}

func parseHeader(b []byte, h *jwtHeader) error {
	members, err := jsonx.ObjectMembers(b, maxHeaderDepth)
	if err != nil {
		return errors.New("header is not a valid JSON object: " + err.Error())
	}
	var hasAlg bool
	for _, m := range members {
		switch m.Key {
		case "alg":
			s, ok := jsonx.String(m.Value)
			if !ok {
				return errors.New(`header "alg" is not a string`)
			}
			h.alg, hasAlg = s, true
		case "kid":
			s, ok := jsonx.String(m.Value)
			if !ok {
				return errors.New(`header "kid" is not a string`)
			}
			h.kid = s
		case "typ":
			s, ok := jsonx.String(m.Value)
			if !ok {
				return errors.New(`header "typ" is not a string`)
			}
			h.typ = s
		case "crit":
			// RFC 7515 §4.1.11: a recipient MUST reject a JWS whose critical
			// extensions it does not understand; it understands none.
			return errors.New(`header "crit" is not supported`)
		case "enc", "zip":
			return errors.New("encrypted or compressed tokens are not supported")
		}
	}
	if !hasAlg || h.alg == "" {
		// RFC 7515 section 4.1.1: "alg" names the algorithm; an empty
		// name names none.
		return errors.New(`header has no "alg"`)
	}
	return nil
}

func parseClaims(b []byte, c *jwtClaims) error {
	members, err := jsonx.ObjectMembers(b, maxClaimsDepth)
	if err != nil {
		return errors.New("claims are not a valid JSON object: " + err.Error())
	}
	c.raw = b
	var scp []string
	var hasScope bool
	var azp string
	for _, m := range members {
		v := m.Value
		var err error
		switch m.Key {
		case "iss":
			c.iss, err = claimString(m.Key, v)
		case "sub":
			c.sub, err = claimString(m.Key, v)
		case "client_id":
			c.clientID, err = claimString(m.Key, v)
		case "azp":
			azp, err = claimString(m.Key, v)
		case "jti":
			c.jti, err = claimString(m.Key, v)
		case "sid":
			c.sid, err = claimString(m.Key, v)
		case "cnf":
			c.jkt, err = cnfJKT(v)
		case "aud":
			c.aud, err = stringOrArray(m.Key, v)
		case "exp":
			c.exp, err = numericDate(m.Key, v)
		case "nbf":
			c.nbf, err = numericDate(m.Key, v)
		case "iat":
			c.iat, err = numericDate(m.Key, v)
		case "scope":
			// RFC 9068 §2.2.3 (RFC 8693 §4.2): a space-separated string.
			var s string
			if s, err = claimString(m.Key, v); err == nil {
				c.scopes, err = ParseScope(s)
				hasScope = true
			}
		case "scp":
			// Not standard, but what Entra ID (a string) and Okta (an
			// array) use.
			if jsonx.IsString(v) {
				var s string
				if s, err = claimString(m.Key, v); err == nil {
					scp, err = ParseScope(s)
				}
			} else if scp, err = stringOrArray(m.Key, v); err == nil {
				for _, s := range scp {
					if !validScopeToken(s) {
						err = errors.New(`claim "scp" holds an invalid scope`)
						break
					}
				}
			}
		}
		if err != nil {
			return err
		}
	}
	if !hasScope {
		c.scopes = dedup(scp)
	}
	if c.clientID == "" {
		c.clientID = azp
	}
	return nil
}

func dedup(in []string) []string {
	var out []string
	for _, s := range in {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// claimString decodes a string claim; null counts as absent.
func claimString(name string, v []byte) (string, error) {
	if jsonx.IsNull(v) {
		return "", nil
	}
	s, ok := jsonx.String(v)
	if !ok {
		return "", errors.New("claim " + strconv.Quote(name) + " is not a string")
	}
	return s, nil
}

// stringOrArray decodes a claim that is a string or an array of strings
// (RFC 7519 §4.1.3 "aud").
func stringOrArray(name string, v []byte) ([]string, error) {
	if jsonx.IsNull(v) {
		return nil, nil
	}
	if s, ok := jsonx.String(v); ok {
		return []string{s}, nil
	}
	var out []string
	bad := false
	err := jsonx.WalkArray(v, func(elem []byte) bool {
		s, ok := jsonx.String(elem)
		if !ok {
			bad = true
			return false
		}
		out = append(out, s)
		return true
	})
	if err != nil || bad {
		return nil, errors.New("claim " + strconv.Quote(name) + " is not a string or an array of strings")
	}
	return out, nil
}

// maxNumericDate is the year 9999: beyond it a date is hostile, and
// time.Unix would still be exact.
const maxNumericDate = 253402300799

// numericDate decodes an RFC 7519 §2 NumericDate: seconds since the epoch,
// possibly fractional; null counts as absent.
func numericDate(name string, v []byte) (time.Time, error) {
	if jsonx.IsNull(v) {
		return time.Time{}, nil
	}
	bad := errors.New("claim " + strconv.Quote(name) + " is not a NumericDate")
	s := strings.TrimSpace(string(v))
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return time.Time{}, bad
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, bad
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// cnfJKT reads "jkt" of a "cnf" claim (RFC 7800 section 3.1, RFC 9449
// section 6.1). A "cnf" naming another confirmation method only is an
// error: the token is bound to something this package cannot check.
func cnfJKT(v []byte) (string, error) {
	members, err := jsonx.ObjectMembers(v, maxHeaderDepth)
	if err != nil {
		return "", errors.New(`claim "cnf" is not an object`)
	}
	for _, m := range members {
		if m.Key == "jkt" {
			s, ok := jsonx.String(m.Value)
			if !ok || s == "" {
				return "", errors.New(`claim "cnf.jkt" is not a string`)
			}
			return s, nil
		}
	}
	return "", errors.New(`claim "cnf" has no "jkt": unsupported confirmation method`)
}
