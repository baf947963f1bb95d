// Command gencorpus writes corpus.jsonl, the labelled examples the PII
// detectors are measured against: run it from gateway/policy/pii with
//
//	go run ./testdata/gencorpus > testdata/corpus.jsonl
//
// Each line is {"text": ..., "labels": [{"kind": ..., "value": ...}]}: the
// exact substrings a perfect detector reports. Values with checksums (card
// numbers, IBANs, national ids) are computed, so positives are valid and
// near misses are invalid by construction. The output is deterministic.
package main

import (
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"strings"
)

type label struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

type example struct {
	Text   string  `json:"text"`
	Labels []label `json:"labels"`
	Note   string  `json:"note,omitempty"`
}

var (
	rng = rand.New(rand.NewPCG(8785, 13616))
	out []example
)

func add(text, note string, labels ...label) {
	if labels == nil {
		labels = []label{}
	}
	out = append(out, example{Text: text, Labels: labels, Note: note})
}

func pos(kind, tmpl, value, note string) {
	add(strings.ReplaceAll(tmpl, "{}", value), note, label{kind, value})
}

func neg(tmpl, value, note string) { add(strings.ReplaceAll(tmpl, "{}", value), note) }

var templates = []string{
	"{}",
	"Contact: {}",
	"Please send it to {} before Friday.",
	"customer {} opened a ticket",
	"<{}>",
	"value={}; retry=3",
	`{"field": "{}"}`,
	"(see {})",
	"Row 17: {}, status active",
	"Forwarded from {}\nThanks!",
}

func tmpl() string { return templates[rng.IntN(len(templates))] }

func digits(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(byte('0' + rng.IntN(10)))
	}
	return b.String()
}

func luhnDigit(body string) byte {
	sum := 0
	double := true
	for i := len(body) - 1; i >= 0; i-- {
		v := int(body[i] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

func card(prefix string, n int) string {
	body := prefix + digits(n-len(prefix)-1)
	return body + string(luhnDigit(body))
}

func group(s string, sizes []int, sep string) string {
	var parts []string
	for _, n := range sizes {
		if len(s) <= n {
			break
		}
		parts = append(parts, s[:n])
		s = s[n:]
	}
	parts = append(parts, s)
	return strings.Join(parts, sep)
}

func ibanCheck(country, bban string) string {
	s := bban + country + "00"
	var num strings.Builder
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			fmt.Fprintf(&num, "%d", c-'A'+10)
		} else {
			num.WriteRune(c)
		}
	}
	n, _ := new(big.Int).SetString(num.String(), 10)
	r := new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return fmt.Sprintf("%s%02d%s", country, 98-r, bban)
}

func alnumUpper(n int) string {
	const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b strings.Builder
	for range n {
		b.WriteByte(a[rng.IntN(len(a))])
	}
	return b.String()
}

func randFrom(alphabet string, n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

const (
	alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upAlnu = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b64url = alnum + "-_"
	hexLow = "0123456789abcdef"
)

func emails() {
	for _, e := range []string{
		"john.doe@example.com", "jane_smith+newsletter@mail.example.org", "a.b-c@sub.domain.co.uk",
		"USER@EXAMPLE.COM", "x123@corp-mail.io", "first.last@university.edu", "o'brien@example.ie",
		"support@xn--bcher-kva.example", "maria.garcia@correo.es", "li.wei@company.cn",
		"info@my-shop.photography", "admin@localhost.localdomain", "test.user%tag@example.net",
		"noreply@github.com", "alerts@status.aws.amazon.com", "j@x.io", "someone@example.museum",
		"very.long.local.part.with.many.dots@long-subdomain.example-company.com",
		"pierre-andré@example.fr", "\"john doe\"@example.com", "user@[192.0.2.10]", "用户@例子.广告",
	} {
		note := ""
		switch e {
		case "o'brien@example.ie":
			note = "apostrophe in the local part: RFC 5322 allows it, the detector does not"
		case "pierre-andré@example.fr":
			note = "non-ASCII local part (EAI), not detected"
		case "\"john doe\"@example.com":
			note = "quoted local part, not detected"
		case "user@[192.0.2.10]":
			note = "address literal, not detected as e-mail"
		case "用户@例子.广告":
			note = "internationalised address, not detected"
		}
		if e == "user@[192.0.2.10]" {
			add("Send to "+e, note, label{"email", e}, label{"ip", "192.0.2.10"})
			continue
		}
		for range 2 {
			pos("email", tmpl(), e, note)
		}
	}
	add("mailto:alice@example.com?subject=hi", "mailto link", label{"email", "alice@example.com"})
	add("cc: bob@example.com, carol@example.org", "two addresses", label{"email", "bob@example.com"}, label{"email", "carol@example.org"})
	add("Reply to dave@example.com.", "sentence-final dot", label{"email", "dave@example.com"})
	add("https://example.com/unsubscribe?email=erin@example.com&x=1", "in a query string", label{"email", "erin@example.com"})
	for _, n := range []string{
		"@username mentioned you", "user@localhost", "foo@bar", "a@b.c", "lodash@4.17.21", "npm i @scope/pkg@2.0.0",
		"@Override public void run()", "@media screen and (max-width: 600px)", "name@domain", "email at example dot com",
		"me@127.0.0.1", "x@y.z1", "@@@", "user@.com", "user@example..com", "user@-example.com", ".@example.com",
		"price: 3 @ $4.99", "meet @ 10am", "git@github.com:org/repo.git", "docker pull nginx@sha256:0123456789abcdef",
		"user@example.c", "user@123.456", "email:@example.com", "@example.com", "hello@ world.com",
	} {
		note := "near miss"
		if n == "git@github.com:org/repo.git" {
			note = "an SSH remote is user@host, not a mailbox"
		}
		neg(tmpl(), n, note)
	}
}

func phones() {
	ps := []string{
		"+1 415 555 2671", "+14155552671", "+44 20 7946 0958", "+44 7700 900123", "+33 1 23 45 67 89",
		"+49 30 1234567", "+49-89-636-48018", "+81 3-1234-5678", "+61 2 9374 4000", "+91 98765 43210",
		"+1 (555) 123-4567", "+1-800-555-0199", "+34 912 345 678", "+39 06 6982 1234", "+31 20 794 0958",
		"(555) 123-4567", "555-123-4567", "555.123.4567", "1-800-555-0199", "1 (800) 555-0199",
		"020 7946 0958", "07700 900123", "01 23 45 67 89", "030 1234567", "(020) 7946 0958",
		"+44 (0) 20 7946 0958", "+86 10 1234 5678", "+7 495 123-45-67", "+55 11 91234-5678", "+27 21 123 4567",
	}
	for _, p := range ps {
		pos("phone", tmpl(), p, "")
		pos("phone", "Call me on "+"{}", p, "")
	}
	add("tel:+14155552671", "tel URI", label{"phone", "+14155552671"})
	add("server 192.168.100.200 answered", "an address, not a phone number", label{"ip", "192.168.100.200"})
	add("listening on 10.0.0.1:8080", "an address and port, not a phone number", label{"ip", "10.0.0.1"})
	for _, p := range []struct{ v, note string }{
		{"5551234567", "ten digits without separators: not detected (as often an id)"},
		{"0044 20 7946 0958", "00 international prefix: not detected"},
		{"555-1234", "seven-digit local number: not detected"},
		{"+44.20.7946.0958", "dots after a country code"},
	} {
		pos("phone", "phone {} (ask for Sam)", p.v, p.note)
	}
	for _, n := range []string{
		"2024-01-15", "15.01.2024", "01/15/2024", "12:30:45", "ISBN 978-3-16-148410-0", "Order 123456789",
		"timestamp 1700000000", "+5 points", "version 1.2.3.4", "zip 90210-1234",
		"total 1,234,567.89", "+100.5%", "48.8566, 2.3522", "ranges 10-20-30", "123e4567-e89b-12d3-a456-426614174000",
		"ID 0123 4567", "Room 101", "0x1234567890", "years 2023 2024 2025", "1 000 000 inhabitants",
		"+1 234", "score 3-2", "build 20240115.1", "SKU 4006381333931", "step 1 2 3 4 5 6 7 8 9 10",
		"lat/long 40.7128,-74.0060", "2024-01-15T10:30:00Z", "ticket #123-456-789",
		"PO-2024-000123", "chapter 12.3.4", "+0 00 00 00 00", "call 555 tomorrow", "8 800 people", "1.234.567",
		"45 12 88 99", "A1B2C3D4E5", "(1) (2) (3) (4)", "1-2-3-4-5-6-7-8",
	} {
		neg(tmpl(), n, "near miss")
	}
}

func cards() {
	brands := []struct {
		name, prefix string
		n            int
		layout       []int
	}{
		{"visa", "4", 16, []int{4, 4, 4}}, {"visa", "4", 13, nil}, {"visa", "4", 19, []int{4, 4, 4, 4}},
		{"mastercard", "51", 16, []int{4, 4, 4}}, {"mastercard", "55", 16, []int{4, 4, 4}}, {"mastercard", "2221", 16, []int{4, 4, 4}},
		{"mastercard", "2720", 16, []int{4, 4, 4}}, {"amex", "34", 15, []int{4, 6}}, {"amex", "37", 15, []int{4, 6}},
		{"discover", "6011", 16, []int{4, 4, 4}}, {"discover", "65", 16, []int{4, 4, 4}}, {"jcb", "3530", 16, []int{4, 4, 4}},
		{"diners", "36", 14, []int{4, 6}}, {"unionpay", "62", 16, []int{4, 4, 4}}, {"maestro", "6759", 16, []int{4, 4, 4}},
		{"mir", "2200", 16, []int{4, 4, 4}},
	}
	for _, b := range brands {
		for k := range 3 {
			c := card(b.prefix, b.n)
			v := c
			switch k {
			case 1:
				if b.layout != nil {
					v = group(c, b.layout, " ")
				}
			case 2:
				if b.layout != nil {
					v = group(c, b.layout, "-")
				}
			}
			pos("card", tmpl(), v, b.name)
			// Near miss: the same number with a wrong check digit.
			last := c[len(c)-1]
			bad := c[:len(c)-1] + string('0'+(last-'0'+1)%10)
			if k == 0 {
				neg(tmpl(), bad, "invalid Luhn check digit")
			} else if b.layout != nil {
				neg(tmpl(), group(bad, b.layout, " "), "invalid Luhn check digit, grouped")
			}
		}
	}
	for _, c := range []string{"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "3530111333300000", "30569309025904", "4012888888881881"} {
		pos("card", "test card {} exp 12/29", c, "well-known test number")
	}
	c := card("4", 16)
	pos("card", "card {} (mixed separators)", c[:4]+"-"+c[4:8]+" "+c[8:12]+"-"+c[12:], "mixed separators: not detected")
	c = card("4", 16)
	pos("card", "card {}", group(c, []int{4, 4, 4}, "."), "dot separators: not detected")
	for range 8 {
		// Long numbers that pass Luhn but belong to no card scheme.
		neg(tmpl(), card("1", 16), "passes Luhn, no issuer")
		neg(tmpl(), card("9", 16), "passes Luhn, no issuer")
	}
	for _, n := range []string{
		card("4", 12), card("4", 20), "1Z999AA10123456784", "1700000000000", card("4", 15), "4111 1111 1111 111",
		"12345678901234567890123", "order 0000 0000 0000 0000", "account 1234 5678", "3.14159265358979",
		"serial 4929 0000 0000", "9780201633610", "tracking 9400 1000 0000 0000 0000 00",
	} {
		neg(tmpl(), n, "near miss")
	}
}

var ibanCountries = map[string]string{
	// country -> BBAN shape: n digits, a letters, c alphanumerics
	"DE": "18n", "GB": "4a14n", "FR": "10n11c2n", "NL": "4a10n", "BE": "12n", "ES": "20n", "IT": "1a10n12c",
	"CH": "5n12c", "AT": "16n", "PL": "24n", "PT": "21n", "IE": "4a14n", "NO": "11n", "SE": "20n",
	"DK": "14n", "FI": "14n", "LU": "3n13c", "CZ": "20n", "SA": "2n18c", "BR": "23n1a1c", "MT": "4a5n18c",
}

func bban(shape string) string {
	var b strings.Builder
	n := 0
	for _, c := range shape {
		if c >= '0' && c <= '9' {
			n = n*10 + int(c-'0')
			continue
		}
		switch c {
		case 'n':
			b.WriteString(digits(n))
		case 'a':
			b.WriteString(randFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZ", n))
		case 'c':
			b.WriteString(alnumUpper(n))
		}
		n = 0
	}
	return b.String()
}

func ibans() {
	countries := []string{"DE", "GB", "FR", "NL", "BE", "ES", "IT", "CH", "AT", "PL", "PT", "IE", "NO", "SE", "DK", "FI", "LU", "CZ", "SA", "BR", "MT"}
	for _, cc := range countries {
		iban := ibanCheck(cc, bban(ibanCountries[cc]))
		pos("iban", tmpl(), iban, cc)
		pos("iban", "IBAN: {}", group(iban, []int{4, 4, 4, 4, 4, 4, 4}, " "), cc+" printed")
		// Near misses: a changed digit breaks mod-97.
		bad := []byte(iban)
		for i := len(bad) - 1; i > 4; i-- {
			if bad[i] >= '0' && bad[i] <= '9' {
				bad[i] = '0' + (bad[i]-'0'+3)%10
				break
			}
		}
		neg(tmpl(), string(bad), "wrong IBAN checksum")
		neg("IBAN: {}", string(bad[:len(bad)-1]), "IBAN one character short")
	}
	for _, v := range []string{"GB82 WEST 1234 5698 7654 32", "DE89 3704 0044 0532 0130 00", "FR14 2004 1010 0505 0001 3M02 606", "NL91ABNA0417164300", "BE68539007547034", "CH9300762011623852957"} {
		pos("iban", "Pay to {} by Monday", v, "published example")
	}
	pos("iban", "iban {}", strings.ToLower(ibanCheck("DE", bban("18n"))), "lower case: not detected")
	pos("iban", "IBAN {}", group(ibanCheck("NL", bban("4a10n")), []int{4, 4, 4, 4}, "-"), "hyphen separators: not detected")
	for _, n := range []string{
		"XX12" + digits(16), "AB12CDEF34567890", "ISO 8601", "DE12-ABC", "ABCD-EFGH-IJKL", "SN12345678",
		"NL-1234-AB", "GB" + digits(20), "US1234567890123456", "part no. FR12 AB", "DE00" + digits(18), "Product key " + alnumUpper(25),
	} {
		neg(tmpl(), n, "near miss")
	}
}

func ips() {
	for _, v := range []string{
		"203.0.113.42", "198.51.100.7", "192.168.1.1", "10.0.0.254", "172.16.254.1", "8.8.8.8", "1.1.1.1",
		"2001:db8::8a2e:370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "fe80::1ff:fe23:4567:890a",
		"::ffff:192.0.2.128", "2606:4700:4700::1111", "2a00:1450:4007:80e::200e", "fd12:3456:789a:1::1",
	} {
		pos("ip", tmpl(), v, "")
		pos("ip", "client IP {} blocked", v, "")
	}
	add("GET http://10.1.2.3:8080/health", "in a URL with a port", label{"ip", "10.1.2.3"})
	add("route 192.168.0.0/16 via 10.0.0.1", "CIDR and next hop", label{"ip", "192.168.0.0"}, label{"ip", "10.0.0.1"})
	add("connect to [2001:db8::1]:443", "bracketed v6 with port", label{"ip", "2001:db8::1"})
	add("iface fe80::1%eth0 up", "zone id", label{"ip", "fe80::1"})
	add("peer 203.0.113.9.", "sentence-final dot", label{"ip", "203.0.113.9"})
	pos("ip", "from {} today", "192.168.001.001", "leading zeros: not detected")
	for _, n := range []string{
		"v1.2.3.4", "version 10.0.19041.1", "Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36", "1.2.3.4.5", "256.1.1.1",
		"127.0.0.1", "0.0.0.0", "255.255.255.0", "12:30:45", "00:1A:2B:3C:4D:5E", "std::vector<int>", "x[1::2]",
		"pi is 3.14", "2024.01.15", "semver 1.2.3", "123e4567-e89b-12d3-a456-426614174000", "::", "::1",
		"ratio 1:2:3", "build 4.2.1.0", "time 10:00:00.123", "a::b", "de:ad:be:ef", "1.2.3.4a", "IP: 999.999.999.999",
		"Section 4.2.1.3 of the standard", "libfoo.so.1.2.3", "localhost:8080", "deadbeef::", "Node::Value",
	} {
		note := "near miss"
		if n == "Section 4.2.1.3 of the standard" {
			note = "section numbers are valid dotted quads; expected false positive"
		}
		neg(tmpl(), n, note)
	}
}

func secrets() {
	pemBody := func() string {
		var lines []string
		for range 4 {
			lines = append(lines, randFrom(alnum+"+/", 64))
		}
		return strings.Join(lines, "\n")
	}
	vals := []struct{ typ, v string }{
		{"aws", "AKIA" + randFrom(upAlnu, 16)}, {"aws", "ASIA" + randFrom(upAlnu, 16)}, {"aws", "AKIA" + randFrom(upAlnu, 16)},
		{"github", "ghp_" + randFrom(alnum, 36)}, {"github", "gho_" + randFrom(alnum, 36)}, {"github", "ghs_" + randFrom(alnum, 36)},
		{"github", "github_pat_" + randFrom(alnum+"_", 82)}, {"gitlab", "glpat-" + randFrom(alnum+"_-", 20)},
		{"slack", "xoxb-" + digits(11) + "-" + digits(12) + "-" + randFrom(alnum, 24)}, {"slack", "xoxp-" + digits(11) + "-" + randFrom(alnum, 30)},
		{"stripe", "sk_live_" + randFrom(alnum, 24)}, {"stripe", "rk_live_" + randFrom(alnum, 24)}, {"stripe", "sk_test_" + randFrom(alnum, 24)},
		{"google", "AIza" + randFrom(alnum+"_-", 35)}, {"google", "AIza" + randFrom(alnum+"_-", 35)},
		{"openai", "sk-proj-" + randFrom(b64url, 48)}, {"openai", "sk-" + randFrom(alnum, 20) + "T3BlbkFJ" + randFrom(alnum, 20)},
		{"anthropic", "sk-ant-api03-" + randFrom(b64url, 93)}, {"npm", "npm_" + randFrom(alnum, 36)},
		{"pypi", "pypi-AgEIcHlwaS5vcmc" + randFrom(b64url, 60)}, {"sendgrid", "SG." + randFrom(b64url, 22) + "." + randFrom(b64url, 43)},
		{"huggingface", "hf_" + randFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 34)},
		{"twilio", "SK" + randFrom(hexLow, 32)}, {"digitalocean", "dop_v1_" + randFrom(hexLow, 64)}, {"shopify", "shpat_" + randFrom(hexLow, 32)},
		{"slack webhook", "https://hooks.slack.com/services/T" + randFrom(upAlnu, 8) + "/B" + randFrom(upAlnu, 8) + "/" + randFrom(alnum, 24)},
	}
	for _, s := range vals {
		for range 2 {
			pos("secret", tmpl(), s.v, s.typ)
		}
	}
	for _, kind := range []string{"RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY"} {
		key := "-----BEGIN " + kind + "-----\n" + pemBody() + "\n-----END " + kind + "-----"
		pos("secret", "here is the key:\n{}\nkeep it safe", key, "PEM "+kind)
	}
	cut := "-----BEGIN RSA PRIVATE KEY-----\n" + pemBody()
	pos("secret", "{}", cut, "PEM cut short")
	jwt := func(header string) string {
		return header + "." + "eyJ" + randFrom(b64url, 40) + "." + randFrom(b64url, 43)
	}
	for _, h := range []string{"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0", "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9"} {
		v := jwt(h)
		pos("secret", tmpl(), v, "JWT")
		pos("secret", "token={}&state=abc", v, "JWT in a query")
	}
	for range 3 {
		tok := randFrom(alnum+"._-", 40)
		add("Authorization: Bearer "+tok, "bearer token", label{"secret", tok})
	}
	add("DATABASE_URL=postgres://app:s3cr3t-Pa55@db.internal.example:5432/app", "password in a URL", label{"secret", "s3cr3t-Pa55"})
	add("git clone https://deploy:ghx7Yt2q@git.example.com/repo.git", "password in a URL", label{"secret", "ghx7Yt2q"})
	awsSecret := randFrom(alnum+"/+", 40)
	add("aws_secret_access_key = "+awsSecret, "AWS secret with its key name", label{"secret", awsSecret})
	awsSecret = randFrom(alnum+"/+", 40)
	add(`AWS_SECRET_ACCESS_KEY="`+awsSecret+`"`, "AWS secret in an env file", label{"secret", awsSecret})
	pos("secret", "key {}", "AIza"+randFrom(alnum, 20), "truncated Google key: not detected")
	for _, n := range []string{
		"AKIA" + randFrom(upAlnu, 15), "ghp_" + randFrom(alnum, 10), "sk-learn is a library", "scikit-learn sk-learn",
		"eyJhbGciOiJIUzI1NiJ9", "eyJ" + randFrom(b64url, 20) + ".eyJ" + randFrom(b64url, 20) + "." + randFrom(b64url, 10),
		"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
		"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
		"commit " + randFrom(hexLow, 40), "id 123e4567-e89b-12d3-a456-426614174000", "the bearer of bad news",
		"https://example.com/path?q=1", "pk_live_" + randFrom(alnum, 24), "SKU12345", "sha256:" + randFrom(hexLow, 64),
		"xoxo - love, mom", "password: (see vault)", "AIDA" + randFrom(upAlnu, 16), "Bearer realm=\"mcp\"",
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + randFrom(alnum, 40) + " user@host", "npm_config_cache=/tmp",
		"skip-tests", "ASIAN cuisine", "https://user@example.com/", "hf_hub_download", "SG.1234", "ftp://ftp.example.com/pub",
	} {
		note := "near miss"
		if strings.HasPrefix(n, "ssh-ed25519") {
			note = "public key; the trailing user@host is an e-mail lookalike"
		}
		neg(tmpl(), n, note)
	}
}

func ssn() string {
	for {
		a, g, s := 1+rng.IntN(899), 1+rng.IntN(99), 1+rng.IntN(9999)
		if a == 666 {
			continue
		}
		return fmt.Sprintf("%03d-%02d-%04d", a, g, s)
	}
}

func dni() string {
	n := rng.IntN(100000000)
	return fmt.Sprintf("%08d%c", n, "TRWAGMYFPDXBNJZSQVHLCKE"[n%23])
}

func bsn() string {
	for {
		d := digits(8)
		sum := 0
		for i := range 8 {
			sum += (9 - i) * int(d[i]-'0')
		}
		for last := range 10 {
			if (sum-last)%11 == 0 && sum-last != 0 {
				return d + string(byte('0'+last))
			}
		}
	}
}

var (
	vd   = [10][10]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5}, {2, 3, 4, 0, 1, 7, 8, 9, 5, 6}, {3, 4, 0, 1, 2, 8, 9, 5, 6, 7}, {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1}, {6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3}, {8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}}
	vp   = [8][10]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4}, {5, 8, 0, 3, 7, 9, 6, 1, 4, 2}, {8, 9, 1, 6, 0, 4, 3, 5, 2, 7}, {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1}, {2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8}}
	vinv = [10]int{0, 4, 3, 2, 1, 5, 6, 7, 8, 9}
)

func aadhaar() string {
	d := string(byte('2'+rng.IntN(8))) + digits(10)
	c := 0
	for i := 0; i < len(d); i++ {
		c = vd[c][vp[(i+1)%8][int(d[len(d)-1-i]-'0')]]
	}
	return d + string(byte('0'+vinv[c]))
}

func national() {
	for range 8 {
		pos("national_id", tmpl(), ssn(), "us_ssn")
		pos("national_id", "DNI {}", dni(), "es_dni")
		pos("national_id", "BSN {}", bsn(), "nl_bsn")
		a := aadhaar()
		pos("national_id", tmpl(), group(a, []int{4, 4}, " "), "in_aadhaar")
	}
	for _, v := range []string{"AB 12 34 56 C", "JG103759A", "PZ 12 34 56 D", "CE123456B"} {
		pos("national_id", "NI number {}", v, "uk_nino")
	}
	for _, n := range []string{
		"000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000", // never-issued SSN ranges
		"BG 12 34 56 A", "GB123456A", "QQ 12 34 56 C", // invalid NINO prefixes
		"2024-01-15",
	} {
		neg(tmpl(), n, "near miss")
	}
	for range 4 {
		d := dni()
		bad := d[:8] + string("TRWAGMYFPDXBNJZSQVHLCKE"[(strings.IndexByte("TRWAGMYFPDXBNJZSQVHLCKE", d[8])+1)%23])
		neg("DNI {}", bad, "wrong DNI letter")
		b := bsn()
		neg("BSN {}", b[:8]+string('0'+(b[8]-'0'+1)%10), "fails the 11-test")
		a := aadhaar()
		neg(tmpl(), a[:11]+string('0'+(a[11]-'0'+1)%10), "wrong Verhoeff digit")
	}
}

func clean() {
	for _, s := range []string{
		"The quick brown fox jumps over the lazy dog.",
		"Build succeeded in 4.2 seconds with 0 warnings.",
		"SELECT id, name FROM users WHERE created_at > '2024-01-01' LIMIT 50;",
		`{"status":"ok","count":42,"items":["a","b"]}`,
		"func main() { fmt.Println(\"hello\") }",
		"Meeting moved to 3pm on 2024-03-15 in room B-204.",
		"Temperature: 21.5°C, humidity 48%, wind 12 km/h.",
		"Release notes for v2.3.1: fixed a crash when the list is empty.",
		"The invoice total is EUR 1,250.00, due in 30 days.",
		"Use kubectl get pods -n kube-system to list system pods.",
		"HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: 1234",
		"Error: ENOENT: no such file or directory, open '/tmp/x.json'",
		"Population of the city: 2 148 000 (2020 census).",
		"Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
		"Coordinates: 51.5074° N, 0.1278° W",
		"The patch applies cleanly to commits a1b2c3d..e4f5a6b.",
		"Run `go test ./... -count=1` before pushing.",
		"Docker image nginx:1.25.3-alpine pulled in 3.1s",
		"Weather in Paris: partly cloudy, 18 degrees.",
		"Answer: 42. Reason: because the tests say so.",
		"Step 1: open the settings. Step 2: choose Privacy.",
		"color: #ff8800; margin: 0 auto; padding: 12px 24px;",
		"The ratio was 16:9 and the frame rate 29.97 fps.",
		"ID card photo uploaded; awaiting review by the team.",
		"Your order has shipped and should arrive within 3-5 business days.",
		"matrix[2][3] = 7; vector::size() returns 4",
		"Python 3.12.1 (main, Dec  8 2023, 14:00:00) [GCC 13.2.0] on linux",
		"Battery at 87%, charging, 1:45 until full",
		"Chapter 7, section 3, paragraph 2 covers this.",
		"Tickets cost $25.00 for adults and $12.50 for children.",
	} {
		neg("{}", s, "ordinary text")
	}
}

func main() {
	emails()
	phones()
	cards()
	ibans()
	ips()
	secrets()
	national()
	clean()
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	for _, e := range out {
		if err := enc.Encode(e); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
