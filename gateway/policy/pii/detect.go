package pii

import "slices"

// Finding is one detected value in a string.
type Finding struct {
	Kind Kind
	// Type refines the kind: the card brand ("visa"), the secret's shape
	// ("github_token"), the IP version ("ipv4"), the national id's name.
	Type string
	// Start and End are byte offsets of the value in the scanned string.
	Start, End int
}

// kindSet selects the detectors a scan runs.
type kindSet uint16

func (s kindSet) has(k Kind) bool { return s&(1<<k) != 0 }

// detector finds every value of its kinds in s.
type detector struct {
	national []*nationalDetector
	secrets  *secretScanner
}

func newDetector(national []*nationalDetector) *detector {
	return &detector{national: national, secrets: newSecretScanner()}
}

// triggers are cheap facts about a string that decide which scanners can
// possibly match, so that ordinary text costs one pass over its bytes.
type triggers struct {
	digits   int
	upper    int
	at       bool
	digitDot int // digits followed by '.' (an IPv4 address has three)
	colons   int // ':' between hex digits or colons (IPv6)
}

func scanTriggers[T string | []byte](s T) triggers {
	var t triggers
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			t.digits++
			if i+1 < len(s) && s[i+1] == '.' {
				t.digitDot++
			}
		case c >= 'A' && c <= 'Z':
			t.upper++
		case c == '@':
			t.at = true
		case c == ':':
			if hexOrColonAround(s, i) {
				t.colons++
			}
		}
	}
	return t
}

// hexOrColonAround reports whether the ':' at i sits between hex digits or
// colons, as in an IPv6 address (and not as in a JSON member).
func hexOrColonAround[T string | []byte](s T, i int) bool {
	return i > 0 && i+1 < len(s) && (isHex(s[i-1]) || s[i-1] == ':') && (isHex(s[i+1]) || s[i+1] == ':')
}

// scan appends the findings of the kinds in set, overlaps resolved, in
// order of position.
func (d *detector) scan(s string, set kindSet, out []Finding) []Finding {
	base := len(out)
	t := scanTriggers(s)
	if set.has(Secret) && len(s) >= 8 {
		out = d.secrets.scan(s, out)
	}
	if set.has(Card) && t.digits >= 12 {
		out = scanCards(s, out)
	}
	if set.has(IBAN) && t.digits >= 2 && t.upper >= 2 && len(s) >= 15 {
		out = scanIBANs(s, out)
	}
	if set.has(NationalID) {
		for _, n := range d.national {
			out = n.scan(s, t, out)
		}
	}
	if set.has(Email) && t.at {
		out = scanEmails(s, out)
	}
	if set.has(Phone) && t.digits >= 8 {
		out = scanPhones(s, out)
	}
	if set.has(IP) && (t.digitDot >= 3 || t.colons >= 2) {
		out = scanIPs(s, out)
	}
	if len(out)-base > 1 {
		out = append(out[:base], resolve(out[base:])...)
	}
	return out
}

// resolve orders findings by position and drops those overlapping a
// finding of a higher priority kind (or, within a kind, a longer one).
func resolve(fs []Finding) []Finding {
	byPriority := slices.Clone(fs)
	slices.SortStableFunc(byPriority, func(a, b Finding) int {
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		return (b.End - b.Start) - (a.End - a.Start)
	})
	kept := byPriority[:0:0]
	for _, f := range byPriority {
		overlaps := false
		for _, k := range kept {
			if f.Start < k.End && k.Start < f.End {
				overlaps = true
				break
			}
		}
		if !overlaps {
			kept = append(kept, f)
		}
	}
	slices.SortFunc(kept, func(a, b Finding) int { return a.Start - b.Start })
	return kept
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlpha(c byte) bool { return isUpper(c) || isLower(c) }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// wordBefore reports whether s[i-1] continues a word (so a value cannot
// start at i).
func wordBefore(s string, i int) bool { return i > 0 && (isAlnum(s[i-1]) || s[i-1] == '_') }

// wordAfter reports whether s[i] continues a word (so a value cannot end
// at i).
func wordAfter(s string, i int) bool { return i < len(s) && (isAlnum(s[i]) || s[i] == '_') }
