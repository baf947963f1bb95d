package pii

// scanPhones finds telephone numbers in the forms people write them:
//
//   - international: '+', a country code and 8 to 15 digits in all (ITU-T
//     E.164), contiguous or separated by spaces, hyphens, dots or a
//     parenthesised area code;
//   - North American: (555) 555-0123, 555-555-0123, 555.555.0123, with an
//     optional leading 1;
//   - national numbers with a trunk prefix 0, in two to five groups:
//     020 7946 0958, 07700 900123, 01 23 45 67 89.
//
// Contiguous digit runs without '+' are not phone numbers here (they are as
// often order numbers, timestamps or ids), nor are dates, dotted quads or
// anything glued to letters.
func scanPhones(s string, out []Finding) []Finding {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || c == '+' || c == '(') {
			continue
		}
		if wordBefore(s, i) || (i > 0 && (s[i-1] == '.' || s[i-1] == '-' || s[i-1] == '+' || s[i-1] == '/' || s[i-1] == ',')) {
			continue
		}
		end, ok := phoneAt(s, i)
		if ok {
			out = append(out, Finding{Kind: Phone, Type: "phone", Start: i, End: end})
			i = end - 1
		} else if end > i {
			i = end - 1 // the run is not a number; do not retry inside it
		}
	}
	return out
}

// phoneAt reads the run of phone characters at i and reports where it ends
// and whether it is a phone number.
func phoneAt(s string, i int) (int, bool) {
	j := i
	plus := false
	if s[j] == '+' {
		plus = true
		j++
		if j >= len(s) || !isDigit(s[j]) || s[j] == '0' {
			return j, false
		}
	}
	var groups [12]int
	g, digits := 0, 0
	var seps [12]byte
	parens, openParen := 0, false
	firstDigit, secondDigit := byte(0), byte(0)
	lastDigit := j
	for j < len(s) && j-i < 32 {
		c := s[j]
		switch {
		case isDigit(c):
			if firstDigit == 0 {
				firstDigit = c
			} else if secondDigit == 0 {
				secondDigit = c
			}
			digits++
			groups[g]++
			lastDigit = j + 1
		case c == '(' && !openParen && groups[g] == 0:
			openParen = true
			parens++
		case c == ')' && openParen && groups[g] > 0:
			openParen = false
			seps[g] = ')'
			g++
			if g == len(groups) {
				return j, false
			}
			if j+1 < len(s) && s[j+1] == ' ' {
				j++
			}
		case (c == ' ' || c == '-' || c == '.') && groups[g] > 0 && j+1 < len(s) && (isDigit(s[j+1]) || s[j+1] == '('):
			seps[g] = c
			g++
			if g == len(groups) {
				return j, false
			}
		default:
			goto done
		}
		j++
	}
done:
	end := lastDigit
	if openParen && groups[g] == 0 {
		openParen = false // a parenthesis after the number, as in "0958 (ask for Sam)"
	}
	if openParen || digits == 0 {
		return end, false
	}
	if groups[g] == 0 {
		g--
	}
	n := g + 1
	if wordAfter(s, end) || (end+1 < len(s) && (s[end] == '.' || s[end] == '-' || s[end] == ':' || s[end] == '/') && isDigit(s[end+1])) {
		return end, false
	}
	gs := groups[:n]
	// A dotted run of small groups is an address or a version, not a number.
	allDots := n > 1
	for k := 0; k < n-1; k++ {
		if seps[k] != '.' {
			allDots = false
		}
	}
	if plus {
		if digits < 8 || digits > 15 {
			return end, false
		}
		for _, l := range gs {
			if l > 12 {
				return end, false
			}
		}
		return end, true
	}
	if n < 2 {
		return end, false
	}
	// North American Numbering Plan: [1] NXX NXX XXXX.
	nanp := gs
	if len(nanp) == 4 && nanp[0] == 1 && firstDigit == '1' {
		nanp = nanp[1:]
	}
	if len(nanp) == 3 && nanp[0] == 3 && nanp[1] == 3 && nanp[2] == 4 {
		return end, true
	}
	// National numbers with a trunk prefix.
	// "00" is an international prefix, never a trunk prefix and area code.
	if firstDigit == '0' && secondDigit != '0' && digits >= 9 && digits <= 11 && n <= 5 && !allDots {
		for _, l := range gs {
			if l < 2 || l > 8 {
				return end, false
			}
		}
		return end, true
	}
	return end, false
}
