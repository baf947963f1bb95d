package pii

import "strings"

// scanEmails finds addresses of the form local@domain.tld: a local part of
// the characters real addresses use (letters, digits, . _ % + -; no
// leading, trailing or doubled dot) and a DNS name of at least two labels
// whose top-level label is alphabetic (or an "xn--" IDN label). Quoted
// local parts and address literals ("user@[10.0.0.1]"), which RFC 5322
// allows but nobody types, are not detected.
func scanEmails(s string, out []Finding) []Finding {
	from := 0
	for {
		at := strings.IndexByte(s[from:], '@')
		if at < 0 {
			return out
		}
		at += from
		from = at + 1
		start := at
		for start > 0 && isLocalChar(s[start-1]) {
			start--
		}
		for start < at && (s[start] == '.' || s[start] == '\'') {
			start++
		}
		if start == at || s[at-1] == '.' || strings.Contains(s[start:at], "..") || at-start > 64 {
			continue
		}
		end := at + 1
		for end < len(s) && (isAlnum(s[end]) || s[end] == '.' || s[end] == '-') {
			end++
		}
		// A sentence may end right after the address.
		for end > at+1 && (s[end-1] == '.' || s[end-1] == '-') {
			end--
		}
		if end < len(s) && (s[end] == '_' || s[end] >= 0x80) {
			continue // not the end of the domain
		}
		if !validDomain(s[at+1 : end]) {
			continue
		}
		// user@host in a URL ("https://user@host/") or an scp-style
		// remote ("git@github.com:org/repo") names an account on a host,
		// not a mailbox.
		if start >= 3 && s[start-3:start] == "://" {
			continue
		}
		if end+1 < len(s) && s[end] == ':' && (isAlnum(s[end+1]) || s[end+1] == '/' || s[end+1] == '~') {
			continue
		}
		out = append(out, Finding{Kind: Email, Type: "email", Start: start, End: end})
		from = end
	}
}

// isLocalChar accepts the local-part characters addresses use in
// practice, including an apostrophe (o'brien) and UTF-8 bytes (RFC 6531
// internationalised local parts).
func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c == '\'' || c >= 0x80
}

// validDomain checks a host name of two labels or more: labels of 1-63
// letters, digits and inner hyphens, the last alphabetic (at least two
// letters) or an "xn--" label.
func validDomain(d string) bool {
	if len(d) < 4 || len(d) > 253 {
		return false
	}
	labels := 0
	for d != "" {
		label, rest, more := strings.Cut(d, ".")
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		labels++
		if !more {
			if strings.HasPrefix(label, "xn--") {
				return labels >= 2 && len(label) > 4
			}
			if len(label) < 2 {
				return false
			}
			for i := 0; i < len(label); i++ {
				if !isAlpha(label[i]) {
					return false
				}
			}
			return labels >= 2
		}
		d = rest
	}
	return false
}
