package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed static
var static embed.FS

// Static returns the static assets (stylesheet), rooted at the static
// directory.
func Static() fs.FS {
	sub, _ := fs.Sub(static, "static")
	return sub
}

// Pages renders the embedded page templates.
type Pages struct {
	pages map[string]*template.Template
}

// Page names accepted by Render.
const (
	PageLogin    = "login"
	PageConsent  = "consent"
	PageError    = "error"
	PageConsents = "consents"
)

// New parses the embedded templates.
func New() (*Pages, error) {
	p := &Pages{pages: map[string]*template.Template{}}
	for _, name := range []string{PageLogin, PageConsent, PageError, PageConsents} {
		t, err := template.New("layout.html").ParseFS(templates, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", name, err)
		}
		p.pages[name] = t
	}
	return p, nil
}

// Render executes the named page with data into w. The page is rendered
// into a buffer first, so a template error never leaves half a page.
func (p *Pages) Render(w io.Writer, page string, data any) error {
	t, ok := p.pages[page]
	if !ok {
		return fmt.Errorf("web: unknown page %q", page)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return fmt.Errorf("web: render %s: %w", page, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Common is what every page shows.
type Common struct {
	ServiceName string // product or deployment name in titles
	StaticPath  string // URL path prefix of the static assets, no trailing slash
	CSRF        string // anti-CSRF token for the page's forms
	UserName    string // signed-in user, if any
	LogoutPath  string // where the sign-out form posts, if signed in
}

// LoginPage asks the user to sign in to continue an authorization.
type LoginPage struct {
	Common
	Action     string // form action for the password form
	Request    string // sealed pending authorization request
	ClientName string
	Username   string // re-filled after a failed attempt
	Error      string
	LocalLogin bool // show the username/password form
	// Upstream, if set, offers sign-in at an upstream identity provider.
	Upstream *UpstreamLogin
}

// UpstreamLogin is a "sign in with ..." button.
type UpstreamLogin struct {
	Name   string
	Action string
}

// ConsentPage asks the user to allow a client access.
type ConsentPage struct {
	Common
	Action     string
	Request    string
	ClientName string
	// ClientHost is the host of a client ID metadata document URL, shown
	// so the user can judge who the client is; empty for registered
	// clients.
	ClientHost   string
	ClientID     string
	RedirectHost string // host the browser is sent back to
	// LocalhostWarning is set for clients whose redirect URIs all point to
	// this computer: any local program could claim to be them.
	LocalhostWarning bool
	Scopes           []Scope
	Resources        []Resource
}

// Scope is a permission in words.
type Scope struct {
	Name        string
	Description string
}

// Resource is a protected resource (an MCP server) the client will reach.
type Resource struct {
	Name string
	URI  string
}

// ErrorPage explains a request that cannot continue and is not sent back
// to the client (for example an unknown client or redirect URI).
type ErrorPage struct {
	Common
	Title   string
	Message string
}

// ConsentsPage lists the clients the user allowed and lets them revoke.
type ConsentsPage struct {
	Common
	Action   string // revoke form action
	Message  string
	Consents []ConsentItem
}

// ConsentItem is one remembered consent.
type ConsentItem struct {
	ClientID   string
	ClientName string
	Scopes     []string
	Resources  []string
	Updated    string
}
