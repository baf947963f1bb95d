package pii

import (
	"strings"
)

// redaction is the text that replaces a redacted value.
func redaction(k Kind) string { return "[REDACTED:" + k.String() + "]" }

// maskValue hides most of v, a value of finding f, keeping its shape and
// what identifies nobody: separators, an e-mail's first letter and domain,
// a card's or IBAN's last four characters, a phone number's last two
// digits, an IP address's network half, a secret's public type prefix.
func (d *detector) maskValue(f Finding, v string) string {
	switch f.Kind {
	case Email:
		at := strings.LastIndexByte(v, '@')
		if at <= 0 {
			return "***"
		}
		return v[:1] + "***" + v[at:]
	case Card, IBAN:
		keepFirst := 0
		if f.Kind == IBAN {
			keepFirst = 2
		}
		return starAlnum(v, keepFirst, 4)
	case Phone:
		return starAlnum(v, 0, 2)
	case NationalID:
		return starAlnum(v, 0, 2)
	case IP:
		if f.Type == "ipv4" {
			parts := strings.SplitN(v, ".", 4)
			if len(parts) == 4 {
				return parts[0] + "." + parts[1] + ".*.*"
			}
			return "*.*.*.*"
		}
		// Keep the first two groups (a /32 routing prefix at most).
		if i := strings.IndexByte(v, ':'); i >= 0 {
			if j := strings.IndexByte(v[i+1:], ':'); j > 0 {
				return v[:i+1+j] + ":*"
			}
			return v[:i] + ":*"
		}
		return "*"
	case Secret:
		if f.Type == "private_key" {
			head := "-----BEGIN PRIVATE KEY-----"
			if len(v) > 11 {
				if i := strings.Index(v[11:], "-----"); i >= 0 {
					head = v[:11+i+5]
				}
			}
			tail := ""
			if j := strings.LastIndex(v, "-----END "); j > 0 {
				tail = v[j:]
			}
			return head + "\n****\n" + tail
		}
		k := d.secrets.keep(f.Type, v)
		if k > len(v)/2 {
			k = 0
		}
		return v[:k] + "****"
	}
	return redaction(f.Kind)
}

// starAlnum replaces letters and digits with '*', except the first keepFirst
// and the last keepLast of them.
func starAlnum(v string, keepFirst, keepLast int) string {
	total := 0
	for i := 0; i < len(v); i++ {
		if isAlnum(v[i]) {
			total++
		}
	}
	if keepFirst+keepLast >= total {
		keepFirst, keepLast = 0, 0
	}
	b := []byte(v)
	seen := 0
	for i, c := range b {
		if !isAlnum(c) {
			continue
		}
		if seen >= keepFirst && seen < total-keepLast {
			b[i] = '*'
		}
		seen++
	}
	return string(b)
}
