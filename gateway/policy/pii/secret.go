package pii

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
)

// secretShape is one provider's credential format: a literal trigger that
// must occur in the text, and the full pattern, anchored at the trigger.
type secretShape struct {
	typ     string
	trigger string
	re      *regexp.Regexp
	// keep is how many leading bytes a mask shows (the public prefix that
	// says what kind of secret it was: "ghp_", "AKIA").
	keep int
	// group, when set, is the submatch that is the secret (the password of
	// a URL, not the whole URL).
	group int
	// check, when set, vets a match the pattern cannot (a JWT header that
	// must decode to JSON).
	check func(string) bool
}

// secretScanner finds credentials by shape. Patterns were written from the
// providers' published token formats; each starts with a distinctive
// literal, so text without any of the literals costs one pass over a
// two-byte table.
type secretScanner struct {
	shapes []secretShape
	// pairs marks the first two bytes of every trigger.
	pairs [1 << 16 / 64]uint64
	// byPair lists the triggers starting with each marked pair.
	byPair map[uint16][]string
}

func newSecretScanner() *secretScanner {
	sc := &secretScanner{shapes: []secretShape{
		{typ: "aws_access_key_id", trigger: "AKIA", re: regexp.MustCompile(`^AKIA[A-Z0-9]{16}`), keep: 4},
		{typ: "aws_access_key_id", trigger: "ASIA", re: regexp.MustCompile(`^ASIA[A-Z0-9]{16}`), keep: 4},
		{typ: "aws_secret_access_key", trigger: "aws_secret_access_key", re: regexp.MustCompile(`^aws_secret_access_key["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})`), group: 1},
		{typ: "aws_secret_access_key", trigger: "AWS_SECRET_ACCESS_KEY", re: regexp.MustCompile(`^AWS_SECRET_ACCESS_KEY["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})`), group: 1},
		{typ: "github_token", trigger: "ghp_", re: regexp.MustCompile(`^ghp_[A-Za-z0-9]{36,251}`), keep: 4},
		{typ: "github_token", trigger: "gho_", re: regexp.MustCompile(`^gho_[A-Za-z0-9]{36,251}`), keep: 4},
		{typ: "github_token", trigger: "ghu_", re: regexp.MustCompile(`^ghu_[A-Za-z0-9]{36,251}`), keep: 4},
		{typ: "github_token", trigger: "ghs_", re: regexp.MustCompile(`^ghs_[A-Za-z0-9]{36,251}`), keep: 4},
		{typ: "github_token", trigger: "ghr_", re: regexp.MustCompile(`^ghr_[A-Za-z0-9]{36,251}`), keep: 4},
		{typ: "github_token", trigger: "github_pat_", re: regexp.MustCompile(`^github_pat_[A-Za-z0-9_]{22,255}`), keep: 11},
		{typ: "gitlab_token", trigger: "glpat-", re: regexp.MustCompile(`^glpat-[A-Za-z0-9_-]{20,}`), keep: 6},
		{typ: "slack_token", trigger: "xox", re: regexp.MustCompile(`^xox[abposr]-[A-Za-z0-9-]{10,}`), keep: 5},
		{typ: "slack_webhook", trigger: "https://hooks.slack.com/services/", re: regexp.MustCompile(`^https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}`), keep: 33},
		{typ: "stripe_key", trigger: "sk_live_", re: regexp.MustCompile(`^sk_live_[A-Za-z0-9]{16,}`), keep: 8},
		{typ: "stripe_key", trigger: "sk_test_", re: regexp.MustCompile(`^sk_test_[A-Za-z0-9]{16,}`), keep: 8},
		{typ: "stripe_key", trigger: "rk_live_", re: regexp.MustCompile(`^rk_live_[A-Za-z0-9]{16,}`), keep: 8},
		{typ: "stripe_key", trigger: "rk_test_", re: regexp.MustCompile(`^rk_test_[A-Za-z0-9]{16,}`), keep: 8},
		{typ: "google_api_key", trigger: "AIza", re: regexp.MustCompile(`^AIza[0-9A-Za-z_-]{35}`), keep: 4},
		{typ: "anthropic_key", trigger: "sk-ant-", re: regexp.MustCompile(`^sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{20,}`), keep: 7},
		{typ: "openai_key", trigger: "sk-proj-", re: regexp.MustCompile(`^sk-proj-[A-Za-z0-9_-]{20,}`), keep: 8},
		{typ: "openai_key", trigger: "sk-svcacct-", re: regexp.MustCompile(`^sk-svcacct-[A-Za-z0-9_-]{20,}`), keep: 11},
		{typ: "openai_key", trigger: "sk-admin-", re: regexp.MustCompile(`^sk-admin-[A-Za-z0-9_-]{20,}`), keep: 9},
		{typ: "openai_key", trigger: "sk-", re: regexp.MustCompile(`^sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}`), keep: 3},
		{typ: "npm_token", trigger: "npm_", re: regexp.MustCompile(`^npm_[A-Za-z0-9]{36}`), keep: 4},
		{typ: "pypi_token", trigger: "pypi-AgEIcHlwaS5vcmc", re: regexp.MustCompile(`^pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}`), keep: 5},
		{typ: "sendgrid_key", trigger: "SG.", re: regexp.MustCompile(`^SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}`), keep: 3},
		{typ: "huggingface_token", trigger: "hf_", re: regexp.MustCompile(`^hf_[A-Za-z]{34}`), keep: 3},
		{typ: "twilio_key", trigger: "SK", re: regexp.MustCompile(`^SK[0-9a-f]{32}`), keep: 2},
		{typ: "digitalocean_token", trigger: "dop_v1_", re: regexp.MustCompile(`^dop_v1_[a-f0-9]{64}`), keep: 7},
		{typ: "shopify_token", trigger: "shpat_", re: regexp.MustCompile(`^shpat_[a-fA-F0-9]{32}`), keep: 6},
		{typ: "private_key", trigger: "-----BEGIN ", re: regexp.MustCompile(`^-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY( BLOCK)?-----`)},
		{typ: "jwt", trigger: "eyJ", re: regexp.MustCompile(`^eyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*`), keep: 3, check: jwtHeader},
		{typ: "bearer_token", trigger: "Bearer ", re: regexp.MustCompile(`^Bearer\s+([A-Za-z0-9._~+/-]{20,}=*)`), group: 1},
		{typ: "bearer_token", trigger: "bearer ", re: regexp.MustCompile(`^bearer\s+([A-Za-z0-9._~+/-]{20,}=*)`), group: 1},
		{typ: "url_password", trigger: "://", re: regexp.MustCompile(`^://[^/\s:@"'<>]{1,128}:([^/\s@"'<>]{1,128})@[A-Za-z0-9.-]+`), group: 1},
	}}
	sc.byPair = map[uint16][]string{}
	for _, sh := range sc.shapes {
		p := uint16(sh.trigger[0])<<8 | uint16(sh.trigger[1])
		sc.pairs[p/64] |= 1 << (p % 64)
		sc.byPair[p] = append(sc.byPair[p], sh.trigger)
	}
	return sc
}

// mayContain reports whether b holds a trigger: a cheap test on raw bytes,
// before any decoding.
func (sc *secretScanner) mayContain(b []byte) bool {
	for i := 0; i+1 < len(b); i++ {
		p := uint16(b[i])<<8 | uint16(b[i+1])
		if sc.pairs[p/64]&(1<<(p%64)) == 0 {
			continue
		}
		for _, t := range sc.byPair[p] {
			if bytes.HasPrefix(b[i:], []byte(t)) {
				return true
			}
		}
	}
	return false
}

func (sc *secretScanner) scan(s string, out []Finding) []Finding {
	for i := 0; i+1 < len(s); i++ {
		p := uint16(s[i])<<8 | uint16(s[i+1])
		if sc.pairs[p/64]&(1<<(p%64)) == 0 {
			continue
		}
		for k := range sc.shapes {
			sh := &sc.shapes[k]
			if !strings.HasPrefix(s[i:], sh.trigger) {
				continue
			}
			if sh.trigger != "://" && wordBefore(s, i) && sh.typ != "private_key" {
				continue
			}
			m := sh.re.FindStringSubmatchIndex(s[i:])
			if m == nil {
				continue
			}
			start, end := i+m[0], i+m[1]
			if sh.typ == "private_key" {
				end = pemEnd(s, end)
			} else if wordAfter(s, end) && sh.group == 0 && sh.typ != "jwt" {
				continue // a longer token that merely starts alike
			}
			if sh.check != nil && !sh.check(s[start:end]) {
				continue
			}
			if sh.group > 0 {
				start, end = i+m[2*sh.group], i+m[2*sh.group+1]
			}
			out = append(out, Finding{Kind: Secret, Type: sh.typ, Start: start, End: end})
			i = end - 1
			break
		}
	}
	return out
}

// pemEnd extends a PEM private key from the end of its BEGIN line to the
// end of its END line, or to the end of the text when it was cut short.
func pemEnd(s string, from int) int {
	k := strings.Index(s[from:], "-----END ")
	if k < 0 {
		return len(s)
	}
	e := strings.Index(s[from+k+9:], "-----")
	if e < 0 {
		return len(s)
	}
	return from + k + 9 + e + 5
}

// jwtHeader accepts a compact JWS whose header decodes to a JSON object
// naming an algorithm (RFC 7515 section 4.1.1), so that random dotted
// base64 is not taken for a token.
func jwtHeader(tok string) bool {
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return false
	}
	b = bytes.TrimSpace(b)
	return len(b) > 2 && b[0] == '{' && bytes.Contains(b, []byte(`"alg"`))
}

// secretKeep is how many leading bytes of a secret of type typ a mask may
// show.
func (sc *secretScanner) keep(typ string, value string) int {
	for _, sh := range sc.shapes {
		if sh.typ == typ && strings.HasPrefix(value, sh.trigger) {
			return sh.keep
		}
	}
	return 0
}
