package pii

// scanCards finds payment card numbers (PANs): 12 to 19 digits, either
// contiguous or in groups separated by one kind of separator (a space or a
// hyphen) in the layouts card issuers print (4-4-4-4, 4-6-5, 4-6-4, ...),
// passing the Luhn check (ISO/IEC 7812-1 Annex B) and starting with an
// issuer prefix of a known scheme. The issuer check is what keeps order
// numbers and other long identifiers that pass Luhn by chance (one in ten)
// out.
func scanCards(s string, out []Finding) []Finding {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || wordBefore(s, i) || (i > 0 && (s[i-1] == '.' || s[i-1] == '-' || s[i-1] == '+')) {
			continue
		}
		var digits [19]byte
		var groups [8]int
		n, g, sep := 0, 0, byte(0)
		j := i
		ok := true
		for j < len(s) {
			c := s[j]
			if isDigit(c) {
				if n == len(digits) {
					ok = false
					break
				}
				digits[n] = c
				n++
				groups[g]++
				j++
				continue
			}
			if (c == ' ' || c == '-') && j+1 < len(s) && isDigit(s[j+1]) && (sep == 0 || sep == c) {
				if g+1 == len(groups) {
					ok = false
					break
				}
				sep = c
				g++
				j++
				continue
			}
			break
		}
		end := j
		if !ok {
			// More than 19 digits: one long number, not a card. Skip it.
			for i < len(s) && (isDigit(s[i]) || s[i] == ' ' || s[i] == '-') {
				i++
			}
			continue
		}
		if n < 12 || wordAfter(s, end) || (end+1 < len(s) && (s[end] == '.' || s[end] == ',') && isDigit(s[end+1])) {
			i = end
			continue
		}
		if !cardLayout(groups[:g+1], n) || !luhn(digits[:n]) {
			i = end
			continue
		}
		brand := cardBrand(digits[:n])
		if brand == "" {
			i = end
			continue
		}
		out = append(out, Finding{Kind: Card, Type: brand, Start: i, End: end})
		i = end
	}
	return out
}

// cardLayout accepts one group (no separators) or the printed layouts:
// groups of four with a shorter last group, and the 4-6-5 / 4-6-4 layout of
// American Express and Diners Club.
func cardLayout(groups []int, n int) bool {
	if len(groups) == 1 {
		return true
	}
	if len(groups) == 3 && groups[0] == 4 && groups[1] == 6 && (groups[2] == 5 || groups[2] == 4) {
		return true
	}
	for i, g := range groups {
		if i < len(groups)-1 && g != 4 {
			return false
		}
		if i == len(groups)-1 && (g < 1 || g > 4) {
			return false
		}
	}
	return n >= 12
}

// luhn is the mod-10 check of ISO/IEC 7812-1.
func luhn(d []byte) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}

func prefixNum(d []byte, n int) int {
	v := 0
	for i := 0; i < n && i < len(d); i++ {
		v = v*10 + int(d[i]-'0')
	}
	return v
}

// cardBrand names the scheme whose issuer identification number range and
// lengths d fits, or "".
func cardBrand(d []byte) string {
	n := len(d)
	p1, p2, p3, p4, p6 := prefixNum(d, 1), prefixNum(d, 2), prefixNum(d, 3), prefixNum(d, 4), prefixNum(d, 6)
	switch {
	case p1 == 4 && (n == 13 || n == 16 || n == 19):
		return "visa"
	case (p2 >= 51 && p2 <= 55 || p4 >= 2221 && p4 <= 2720) && n == 16:
		return "mastercard"
	case (p2 == 34 || p2 == 37) && n == 15:
		return "amex"
	case (p4 == 6011 || p2 == 65 || p3 >= 644 && p3 <= 649 || p6 >= 622126 && p6 <= 622925) && n >= 16 && n <= 19:
		return "discover"
	case p4 >= 3528 && p4 <= 3589 && n >= 16 && n <= 19:
		return "jcb"
	case (p3 >= 300 && p3 <= 305 || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39) && n >= 14 && n <= 19:
		return "diners"
	case p2 == 62 && n >= 16 && n <= 19:
		return "unionpay"
	case p4 >= 2200 && p4 <= 2204 && n >= 16 && n <= 19:
		return "mir"
	case (p4 == 5018 || p4 == 5020 || p4 == 5038 || p4 == 5893 || p4 == 6304 || p4 == 6759 || p4 >= 6761 && p4 <= 6763) && n >= 12 && n <= 19:
		return "maestro"
	}
	return ""
}
