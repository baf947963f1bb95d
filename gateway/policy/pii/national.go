package pii

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// NationalIDPattern is one national identifier format to detect.
type NationalIDPattern struct {
	// Name names the format in findings and audit notes ("us_ssn").
	// Without a Pattern it must name a preset (see NationalIDPresets).
	Name string
	// Pattern is an RE2 regular expression (Go regexp syntax, linear time)
	// matching the identifier. Empty: the preset Name, with its checksum.
	Pattern string
	// Rule overrides the national_id rule for this format; zero fields
	// inherit it.
	Rule Rule
}

// preset is a built-in national identifier: a pattern and the checksum or
// range rules that separate real identifiers from lookalikes.
type preset struct {
	pattern string
	valid   func(m string) bool
	doc     string
}

var presets = map[string]preset{
	"us_ssn": {
		pattern: `\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b`,
		valid:   validSSN,
		doc:     "United States Social Security number, hyphenated (area not 000, 666 or 9xx; group not 00; serial not 0000)",
	},
	"uk_nino": {
		pattern: `\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b`,
		valid:   validNINO,
		doc:     "United Kingdom National Insurance number (prefixes BG, GB, NK, KN, NT, TN, ZZ excluded)",
	},
	"es_dni": {
		pattern: `\b(?:[0-9]{8}|[XYZ][0-9]{7})-?[A-Z]\b`,
		valid:   validDNI,
		doc:     "Spanish DNI or NIE with its mod-23 check letter",
	},
	"nl_bsn": {
		pattern: `\b[0-9]{9}\b`,
		valid:   validBSN,
		doc:     "Dutch citizen service number (BSN) passing the 11-test",
	},
	"in_aadhaar": {
		pattern: `\b[2-9][0-9]{3} ?[0-9]{4} ?[0-9]{4}\b`,
		valid:   validAadhaar,
		doc:     "Indian Aadhaar number with its Verhoeff check digit",
	},
}

// NationalIDPresets lists the built-in national identifier formats with a
// sentence each.
func NationalIDPresets() map[string]string {
	m := make(map[string]string, len(presets))
	for k, p := range presets {
		m[k] = p.doc
	}
	return m
}

type nationalDetector struct {
	name  string
	re    *regexp.Regexp
	valid func(string) bool
	// minDigits is a trigger: a string with fewer digits cannot match.
	minDigits int
	set       int // index of this pattern's rule
}

func compileNational(ps []NationalIDPattern) ([]*nationalDetector, error) {
	var out []*nationalDetector
	var errs []string
	seen := map[string]bool{}
	for i, p := range ps {
		if p.Name == "" {
			errs = append(errs, fmt.Sprintf("national_ids[%d]: name is required", i))
			continue
		}
		if seen[p.Name] {
			errs = append(errs, fmt.Sprintf("national_ids[%d]: duplicate name %q", i, p.Name))
		}
		seen[p.Name] = true
		d := &nationalDetector{name: p.Name, set: i}
		if p.Pattern == "" {
			pr, ok := presets[p.Name]
			if !ok {
				names := make([]string, 0, len(presets))
				for k := range presets {
					names = append(names, k)
				}
				slices.Sort(names)
				errs = append(errs, fmt.Sprintf("national_ids[%d]: %q is not a preset (%s); give a pattern", i, p.Name, strings.Join(names, ", ")))
				continue
			}
			d.re = regexp.MustCompile(pr.pattern)
			d.valid = pr.valid
			d.minDigits = 6
		} else {
			re, err := regexp.Compile(p.Pattern)
			if err != nil {
				errs = append(errs, fmt.Sprintf("national_ids[%d] (%s): %v", i, p.Name, err))
				continue
			}
			if re.MatchString("") {
				errs = append(errs, fmt.Sprintf("national_ids[%d] (%s): pattern matches the empty string", i, p.Name))
				continue
			}
			d.re = re
		}
		out = append(out, d)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("pii: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

func (d *nationalDetector) scan(s string, t triggers, out []Finding) []Finding {
	if t.digits < d.minDigits {
		return out
	}
	for _, m := range d.re.FindAllStringIndex(s, 64) {
		if m[0] == m[1] || (d.valid != nil && !d.valid(s[m[0]:m[1]])) {
			continue
		}
		if d.valid != nil && insideNumber(s, m[0], m[1]) {
			continue
		}
		out = append(out, Finding{Kind: NationalID, Type: d.name, Start: m[0], End: m[1]})
	}
	return out
}

// insideNumber reports whether s[start:end] is only part of a longer
// token: glued to a hyphen or dot and more of the token, or one group of a
// longer run of digit groups (a card number, a UUID).
func insideNumber(s string, start, end int) bool {
	if start > 0 && (s[start-1] == '-' || s[start-1] == '.' || s[start-1] == '/') {
		return true
	}
	if start > 1 && s[start-1] == ' ' && isDigit(s[start-2]) {
		return true
	}
	if end+1 < len(s) && (s[end] == '-' || s[end] == '.' || s[end] == ' ' || s[end] == '/') && isDigit(s[end+1]) {
		return true
	}
	return false
}

func digitsOf(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			b = append(b, s[i]-'0')
		}
	}
	return b
}

// validSSN applies the Social Security Administration's never-issued
// ranges.
func validSSN(m string) bool {
	area, group, serial := m[0:3], m[4:6], m[7:11]
	return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000"
}

func validNINO(m string) bool {
	p := m[:2]
	switch p {
	case "BG", "GB", "NK", "KN", "TN", "NT", "ZZ":
		return false
	}
	return true
}

func validDNI(m string) bool {
	m = strings.ReplaceAll(m, "-", "")
	letter := m[len(m)-1]
	num := m[:len(m)-1]
	switch num[0] {
	case 'X':
		num = "0" + num[1:]
	case 'Y':
		num = "1" + num[1:]
	case 'Z':
		num = "2" + num[1:]
	}
	n := 0
	for i := 0; i < len(num); i++ {
		n = n*10 + int(num[i]-'0')
	}
	return "TRWAGMYFPDXBNJZSQVHLCKE"[n%23] == letter
}

// validBSN is the Dutch 11-test: 9*d1 + 8*d2 + ... + 2*d8 - d9 is a
// multiple of 11 (and the number is not all zeros).
func validBSN(m string) bool {
	d := digitsOf(m)
	sum := 0
	for i := 0; i < 8; i++ {
		sum += (9 - i) * int(d[i])
	}
	sum -= int(d[8])
	return sum%11 == 0 && sum != 0
}

// The Verhoeff dihedral-group tables.
var (
	verhoeffD = [10][10]byte{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5}, {2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
		{3, 4, 0, 1, 2, 8, 9, 5, 6, 7}, {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3}, {8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
		{9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	verhoeffP = [8][10]byte{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4}, {5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
		{8, 9, 1, 6, 0, 4, 3, 5, 2, 7}, {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
	}
)

func validAadhaar(m string) bool {
	d := digitsOf(m)
	if len(d) != 12 {
		return false
	}
	c := byte(0)
	for i := 0; i < len(d); i++ {
		c = verhoeffD[c][verhoeffP[i%8][d[len(d)-1-i]]]
	}
	return c == 0
}
