package config

import (
	"strings"
	"testing"
)

func TestTLS(t *testing.T) {
	const server = "servers: [{name: a, http: {url: 'http://u'}}]\n"
	tests := []struct {
		name, yaml string
		publicURL  string // want, if the file is valid
		errs       []string
	}{
		{name: "files", yaml: "listen: 0.0.0.0:8443\nhttp: {tls: {cert_file: tls/crt.pem, key_file: /k.pem}}\n", publicURL: "https://0.0.0.0:8443"},
		{name: "acme on 443", yaml: "listen: ':443'\nhttp: {tls: {acme: {hosts: [mcp.example.com, mcp2.example.com]}}}\n", publicURL: "https://mcp.example.com"},
		{name: "acme other port", yaml: "listen: ':8443'\nhttp: {tls: {acme: {hosts: [mcp.example.com]}}}\n", publicURL: "https://mcp.example.com:8443"},
		{name: "explicit https", yaml: "public_url: https://mcp.example.com\nhttp: {tls: {acme: {hosts: [mcp.example.com]}}}\n", publicURL: "https://mcp.example.com"},
		{name: "http public_url", yaml: "public_url: http://mcp.example.com\nhttp: {tls: {cert_file: c, key_file: k}}\n",
			errs: []string{"public_url: must be https when http.tls is set"}},
		{name: "half a pair", yaml: "http: {tls: {cert_file: c}}\n", errs: []string{"http.tls: set both cert_file and key_file"}},
		{name: "files and acme", yaml: "http: {tls: {cert_file: c, key_file: k, acme: {hosts: [a.example]}}}\n", errs: []string{"http.tls: set cert_file and key_file, or acme, not both"}},
		{name: "acme without hosts", yaml: "http: {tls: {acme: {}}}\n", errs: []string{"http.tls.acme.hosts: at least one host"}},
		{name: "bad acme fields", yaml: "http: {tls: {acme: {directory_url: 'http://ca.example/dir', email: nobody, hosts: ['*.example.com', 'a.example:443', localhost, 10.0.0.1, ok.example]}}}\n",
			errs: []string{"http.tls.acme.directory_url: must be an https URL", "http.tls.acme.email:",
				"http.tls.acme.hosts[0]:", "http.tls.acme.hosts[1]:", "http.tls.acme.hosts[2]:", "http.tls.acme.hosts[3]:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml+server), "/etc/mcpfort")
			if len(tt.errs) > 0 {
				if err == nil {
					t.Fatal("accepted")
				}
				for _, w := range tt.errs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "hosts[4]") {
					t.Errorf("a valid host refused: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.PublicURL != tt.publicURL {
				t.Errorf("public_url = %q, want %q", c.PublicURL, tt.publicURL)
			}
			if !c.HTTP.TLS.Enabled() {
				t.Error("TLS not enabled")
			}
		})
	}

	c, err := Parse([]byte("state: {dir: /var/lib/mcpfort}\nhttp: {tls: {acme: {hosts: [mcp.example.com], ca_file: ca.pem}}}\n"+server), "/etc/mcpfort")
	if err != nil {
		t.Fatal(err)
	}
	if a := c.HTTP.TLS.ACME; a.DirectoryURL != DefaultACMEDirectory || a.CacheDir != "/var/lib/mcpfort/acme" || a.CAFile != "/etc/mcpfort/ca.pem" {
		t.Errorf("acme defaults: %+v", a)
	}
	c, err = Parse([]byte("http: {tls: {cert_file: tls/crt.pem, key_file: /k.pem}}\n"+server), "/etc/mcpfort")
	if err != nil || c.HTTP.TLS.CertFile != "/etc/mcpfort/tls/crt.pem" || c.HTTP.TLS.KeyFile != "/k.pem" {
		t.Errorf("files resolved: %+v %v", c.HTTP.TLS, err)
	}
	if c, err := Parse([]byte(server), "/"); err != nil || c.HTTP.TLS.Enabled() || c.PublicURL != "http://127.0.0.1:8080" {
		t.Errorf("no TLS: %v %v", c.PublicURL, err)
	}
}
