package transport

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOriginPolicy(t *testing.T) {
	p := &OriginPolicy{AllowedOrigins: []string{"https://app.example.com"}, AllowedHosts: []string{"mcp.example.com", "api.example.com:8443"}}
	tests := []struct {
		host, origin string
		ok           bool
	}{
		{"127.0.0.1:8080", "", true},
		{"localhost:3000", "http://localhost:3000", true},
		{"[::1]:9", "http://[::1]:9", true},
		{"evil.example.com", "http://evil.example.com", false},
		{"localhost:8080", "http://evil.example.com", false},
		{"localhost:8080", "null", false},
		{"mcp.example.com", "https://app.example.com", true},
		{"mcp.example.com:443", "", true},
		{"api.example.com:8443", "", true},
		{"api.example.com:9999", "", false},
		{"mcp.example.com", "https://app.example.com.evil.io", false},
		{"", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/mcp", nil)
		r.Host = tt.host
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if err := p.Check(r); (err == nil) != tt.ok {
			t.Errorf("Check(host=%q origin=%q) = %v, want ok=%v", tt.host, tt.origin, err, tt.ok)
		}
	}
}

func TestReadBody(t *testing.T) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", 100)))
	b, err := ReadBody(rec, r, 100)
	if err != nil || len(b) != 100 {
		t.Fatalf("ReadBody = %d bytes, %v", len(b), err)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", 101)))
	if _, err := ReadBody(rec, r, 100); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("oversized body: %v", err)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", 101)))
	r.ContentLength = -1
	if _, err := ReadBody(rec, r, 100); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("oversized chunked body: %v", err)
	}
	// A reader yielding more than its declared length is still bounded.
	r = httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", 101)))
	r.ContentLength = 50
	if _, err := ReadBody(rec, r, 100); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("body longer than declared: %v", err)
	}
	_ = http.StatusOK
}
