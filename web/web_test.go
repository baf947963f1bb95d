package web

import (
	"bytes"
	"io/fs"
	"strings"
	"testing"
)

func TestRenderEscapesAndHasNoScript(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	evil := `<script>alert(1)</script>`
	pages := map[string]any{
		PageLogin:    LoginPage{Common: Common{ServiceName: "svc", CSRF: "tok"}, ClientName: evil, LocalLogin: true, Upstream: &UpstreamLogin{Name: evil, Action: "/u"}},
		PageConsent:  ConsentPage{Common: Common{ServiceName: "svc", UserName: evil}, ClientName: evil, ClientHost: evil, LocalhostWarning: true, Scopes: []Scope{{Name: evil, Description: evil}}},
		PageError:    ErrorPage{Common: Common{ServiceName: "svc"}, Title: "t", Message: evil},
		PageConsents: ConsentsPage{Common: Common{ServiceName: "svc"}, Consents: []ConsentItem{{ClientID: evil, ClientName: evil, Scopes: []string{evil}}}},
	}
	for name, data := range pages {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := p.Render(&buf, name, data); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if strings.Contains(out, "<script") {
				t.Errorf("unescaped or inline script in %s", name)
			}
			if strings.Contains(out, " on") && strings.Contains(out, "=\"") && strings.Contains(out, "onclick") {
				t.Errorf("inline event handler in %s", name)
			}
			if !strings.Contains(out, "&lt;script&gt;") {
				t.Errorf("%s did not render the escaped value", name)
			}
		})
	}
	if err := p.Render(&bytes.Buffer{}, "nope", nil); err == nil {
		t.Error("unknown page rendered")
	}
}

func TestStatic(t *testing.T) {
	if _, err := fs.ReadFile(Static(), "mcpfort.css"); err != nil {
		t.Fatal(err)
	}
}
