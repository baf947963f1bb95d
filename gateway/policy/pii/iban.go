package pii

// ibanLengths is the IBAN length of each country in the SWIFT IBAN
// registry.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
	"BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
	"EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
	"GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
	"IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
	"LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
	"NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
	"RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
	"SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// scanIBANs finds International Bank Account Numbers (ISO 13616): a
// country code, two check digits and the country's fixed-length account
// number, in the electronic form (no spaces) or the printed one (groups of
// four separated by single spaces), upper case, whose mod-97 checksum is 1.
func scanIBANs(s string, out []Finding) []Finding {
	for i := 0; i+15 <= len(s); i++ {
		if !isUpper(s[i]) || !isUpper(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || wordBefore(s, i) {
			continue
		}
		want, ok := ibanLengths[s[i:i+2]]
		if !ok {
			continue
		}
		var compact [34]byte
		n := 0
		j := i
		spaced := false
		for j < len(s) && n < want {
			c := s[j]
			if isUpper(c) || isDigit(c) {
				compact[n] = c
				n++
				j++
				continue
			}
			// A single space is allowed after each group of four.
			if c == ' ' && n%4 == 0 && (n == 4 || spaced) && j+1 < len(s) && (isUpper(s[j+1]) || isDigit(s[j+1])) {
				spaced = true
				j++
				continue
			}
			break
		}
		if n != want || wordAfter(s, j) {
			continue
		}
		if !ibanChecksum(compact[:n]) {
			continue
		}
		out = append(out, Finding{Kind: IBAN, Type: "iban", Start: i, End: j})
		i = j - 1
	}
	return out
}

// ibanChecksum moves the first four characters to the end, reads letters as
// 10-35, and checks that the number is 1 modulo 97 (ISO 7064 MOD 97-10).
func ibanChecksum(b []byte) bool {
	r := 0
	add := func(c byte) {
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			v := int(c-'A') + 10
			r = (r*100 + v) % 97
		}
	}
	for _, c := range b[4:] {
		add(c)
	}
	for _, c := range b[:4] {
		add(c)
	}
	return r == 1
}
