package pii

import (
	"net/netip"
	"strings"
)

// scanIPs finds IPv4 addresses in dotted-quad form (four decimal octets,
// no leading zeros) and IPv6 addresses (RFC 4291 text forms, compressed or
// not, with an embedded IPv4 tail). What merely looks like an address is
// left alone: a dotted run of five or more numbers, a version ("v1.2.3.4",
// "version 10.0.0.1", "Chrome/120.0.0.0"), a netmask (255.x.x.x), the
// unspecified and loopback addresses (which identify nobody), and colon
// runs with fewer than four hex digits (times, Python slices, C++ scopes).
func scanIPs(s string, out []Finding) []Finding {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isHex(c) && c != ':' {
			continue
		}
		if wordBefore(s, i) || (i > 0 && (s[i-1] == '.' || s[i-1] == ':')) {
			continue
		}
		if end, ok := ipv4At(s, i); ok {
			out = append(out, Finding{Kind: IP, Type: "ipv4", Start: i, End: end})
			i = end - 1
			continue
		}
		if end, ok := ipv6At(s, i); ok {
			out = append(out, Finding{Kind: IP, Type: "ipv6", Start: i, End: end})
			i = end - 1
		}
	}
	return out
}

func ipv4At(s string, i int) (int, bool) {
	j := i
	var oct [4]int
	for k := 0; k < 4; k++ {
		if k > 0 {
			if j >= len(s) || s[j] != '.' {
				return 0, false
			}
			j++
		}
		st := j
		v := 0
		for j < len(s) && isDigit(s[j]) && j-st < 4 {
			v = v*10 + int(s[j]-'0')
			j++
		}
		if n := j - st; n == 0 || n > 3 || v > 255 || (n > 1 && s[st] == '0') {
			return 0, false
		}
		oct[k] = v
	}
	if wordAfter(s, j) || (j+1 < len(s) && s[j] == '.' && isDigit(s[j+1])) {
		return 0, false
	}
	if oct[0] == 0 || oct[0] == 127 || oct[0] == 255 {
		return 0, false
	}
	if versionContext(s, i) {
		return 0, false
	}
	return j, true
}

// versionContext reports whether the dotted number at i is introduced as a
// version or product release.
func versionContext(s string, i int) bool {
	if i > 0 && s[i-1] == '/' && i > 1 && isAlnum(s[i-2]) {
		return true // product/version, as in a User-Agent
	}
	j := i
	for j > 0 && (s[j-1] == ' ' || s[j-1] == ':' || s[j-1] == '=') {
		j--
	}
	k := j
	for k > 0 && isAlpha(s[k-1]) {
		k--
	}
	switch strings.ToLower(s[k:j]) {
	case "version", "ver", "v", "build", "release", "rev", "revision", "firmware", "fw":
		return true
	}
	return false
}

func ipv6At(s string, i int) (int, bool) {
	j := i
	hexDigits, colons := 0, 0
	for j < len(s) && j-i < 45 {
		c := s[j]
		switch {
		case isHex(c):
			hexDigits++
		case c == ':':
			colons++
		case c == '.' && j+1 < len(s) && isDigit(s[j+1]):
		default:
			goto done
		}
		j++
	}
done:
	end := j
	// A trailing single colon belongs to the sentence ("address fe80::1:").
	if end > i+1 && s[end-1] == ':' && s[end-2] != ':' {
		end--
		colons--
	}
	if colons < 2 || hexDigits < 4 || wordAfter(s, end) {
		return 0, false
	}
	a, err := netip.ParseAddr(s[i:end])
	if err != nil || !a.Is6() || a.IsUnspecified() || a.IsLoopback() {
		return 0, false
	}
	return end, true
}
