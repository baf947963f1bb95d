package pii

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type found struct {
	Kind  string
	Type  string
	Value string
}

func findings(p *Policy, s string) []found {
	var out []found
	for _, f := range p.Scan(s) {
		out = append(out, found{f.Kind.String(), f.Type, s[f.Start:f.End]})
	}
	return out
}

func TestDetectors(t *testing.T) {
	p := allPresets(t)
	tests := []struct {
		name string
		in   string
		want []found
	}{
		{"email in a sentence", "write to jane.doe+x@mail.example.org.", []found{{"email", "email", "jane.doe+x@mail.example.org"}}},
		{"email without TLD", "root@localhost", nil},
		{"npm version is no email", "lodash@4.17.21", nil},
		{"URL userinfo is no email", "https://user@example.com/", nil},
		{"visa grouped", "card 4111 1111 1111 1111 exp", []found{{"card", "visa", "4111 1111 1111 1111"}}},
		{"amex 4-6-5", "3782-822463-10005", []found{{"card", "amex", "3782-822463-10005"}}},
		{"bad Luhn", "4111 1111 1111 1112", nil},
		{"Luhn but no issuer", "1234567812345670", nil},
		{"card inside a longer number", "41111111111111110000", nil},
		{"IBAN printed", "GB82 WEST 1234 5698 7654 32", []found{{"iban", "iban", "GB82 WEST 1234 5698 7654 32"}}},
		{"IBAN electronic", "x NL91ABNA0417164300 y", []found{{"iban", "iban", "NL91ABNA0417164300"}}},
		{"IBAN bad checksum", "GB83 WEST 1234 5698 7654 32", nil},
		{"IPv4", "from 203.0.113.5:443", []found{{"ip", "ipv4", "203.0.113.5"}}},
		{"version is no IP", "version 1.2.3.4", nil},
		{"five parts is no IP", "1.2.3.4.5", nil},
		{"IPv6", "peer 2001:db8::1 up", []found{{"ip", "ipv6", "2001:db8::1"}}},
		{"time is no IPv6", "at 12:30:45", nil},
		{"MAC is no IPv6", "00:1a:2b:3c:4d:5e", nil},
		{"phone E.164", "call +44 20 7946 0958 now", []found{{"phone", "phone", "+44 20 7946 0958"}}},
		{"phone NANP", "(555) 123-4567", []found{{"phone", "phone", "(555) 123-4567"}}},
		{"date is no phone", "2024-01-15", nil},
		{"ISBN is no phone", "978-3-16-148410-0", nil},
		{"github token", "token ghp_" + strings.Repeat("a1B2", 9), []found{{"secret", "github_token", "ghp_" + strings.Repeat("a1B2", 9)}}},
		{"aws key id", "AKIAIOSFODNN7EXAMPLE", []found{{"secret", "aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"}}},
		{"jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.abc_DEF-123", []found{{"secret", "jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.abc_DEF-123"}}},
		{"url password", "postgres://app:hunter2@db.example.com/x", []found{{"secret", "url_password", "hunter2"}}},
		{"pem", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----", []found{{"secret", "private_key", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----"}}},
		{"public key is no secret", "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----", nil},
		{"ssn", "SSN 536-22-1234", []found{{"national_id", "us_ssn", "536-22-1234"}}},
		{"never-issued ssn", "SSN 666-22-1234", nil},
		{"dni", "DNI 12345678Z", []found{{"national_id", "es_dni", "12345678Z"}}},
		{"uuid", "123e4567-e89b-12d3-a456-426614174000", nil},
		{
			"several kinds", "jo@example.com paid with 5555555555554444 from 198.51.100.1",
			[]found{{"email", "email", "jo@example.com"}, {"card", "mastercard", "5555555555554444"}, {"ip", "ipv4", "198.51.100.1"}},
		},
		{"secret wins over email", "https://bob:pa55w0rd@mail.example.com", []found{{"secret", "url_password", "pa55w0rd"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, findings(p, tt.in)); diff != "" {
				t.Errorf("findings of %q (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestMaskAndRedact(t *testing.T) {
	p, err := New(Options{
		Detectors: map[Kind]Rule{IP: {Results: Redact}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"mail jane.doe@example.com now", "mail j***@example.com now"},
		{"card 4111 1111 1111 1111", "card **** **** **** 1111"},
		{"IBAN GB82 WEST 1234 5698 7654 32", "IBAN GB** **** **** **** **54 32"},
		{"call +44 20 7946 0958", "call +** ** **** **58"},
		{"key AKIAIOSFODNN7EXAMPLE!", "key AKIA****!"},
		{"ip 203.0.113.5", "ip [REDACTED:ip]"},
		{"-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----\n****\n-----END RSA PRIVATE KEY-----"},
		{"nothing here", "nothing here"},
	}
	for _, tt := range tests {
		got, _ := p.Text(Results, tt.in)
		if got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := p.LogString("mail jane.doe@example.com"); got != "mail [REDACTED:email]" {
		t.Errorf("LogString = %q", got)
	}
}

func TestBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"unknown preset", Options{NationalIDs: []NationalIDPattern{{Name: "xx_id"}}}, "not a preset"},
		{"bad pattern", Options{NationalIDs: []NationalIDPattern{{Name: "emp", Pattern: "EMP-("}}}, "missing closing )"},
		{"empty match", Options{NationalIDs: []NationalIDPattern{{Name: "emp", Pattern: "x*"}}}, "empty string"},
		{"no name", Options{NationalIDs: []NationalIDPattern{{Pattern: "EMP-[0-9]+"}}}, "name is required"},
		{"bad kind", Options{Detectors: map[Kind]Rule{Kind(42): {}}}, "unknown detector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestCustomNationalID(t *testing.T) {
	p, err := New(Options{NationalIDs: []NationalIDPattern{{Name: "employee", Pattern: `\bEMP-[0-9]{6}\b`, Rule: Rule{Results: Redact}}}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := p.Text(Results, "badge EMP-123456 issued")
	if got != "badge [REDACTED:national_id] issued" {
		t.Fatalf("got %q", got)
	}
	got, _ = p.Text(Arguments, "badge EMP-123456 issued")
	if got != "badge ***-****56 issued" {
		t.Fatalf("got %q", got)
	}
}

func TestParse(t *testing.T) {
	for _, k := range Kinds() {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%s) = %v, %v", k, got, err)
		}
	}
	if _, err := ParseKind("ssn"); err == nil {
		t.Error("ParseKind accepted an unknown kind")
	}
	for _, a := range []Action{Off, Mask, Redact, Block} {
		got, err := ParseAction(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAction(%s) = %v, %v", a, got, err)
		}
	}
	if _, err := ParseAction("hide"); err == nil {
		t.Error("ParseAction accepted an unknown action")
	}
}
