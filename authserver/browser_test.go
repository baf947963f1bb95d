package authserver

import (
	"context"
	"encoding/json"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChromiumLoginAndConsent: a real browser (the Debian chromium
// package, headless, JavaScript off) completes sign-in and consent on the
// real pages, under their real CSP, and lands on the client's redirect
// URI with a code that redeems. Screenshots of both pages are checked to
// be rendered (and kept in $MCPFORT_SCREENSHOTS if set).
func TestChromiumLoginAndConsent(t *testing.T) {
	chrome := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chrome = p
			break
		}
	}
	node, err := exec.LookPath("node")
	if chrome == "" || err != nil {
		t.Skip("chromium or node is not installed (apt-get install chromium)")
	}
	dir := filepath.Join("testdata", "browser")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		ci := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		ci.Dir = dir
		if out, err := ci.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	shots := os.Getenv("MCPFORT_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if shots, err = filepath.Abs(shots); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	v, c := pkce()
	authURL := e.url(e.srv.endpoints.authorize) + "?" + authzParams(c).Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "login.mjs", chrome, authURL, userName, userPass, shots)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, stderr.String())
	}
	var res struct {
		Final         string   `json:"final"`
		ConsoleErrors []string `json:"consoleErrors"`
		ConsentText   string   `json:"consentText"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("browser said %q: %v", out, err)
	}
	if len(res.ConsoleErrors) > 0 {
		t.Errorf("console errors (CSP violations?): %v", res.ConsoleErrors)
	}
	for _, want := range []string{"Allow CLI access?", "127.0.0.1:4567", "Use the tools", "Signed in as alice"} {
		if !strings.Contains(strings.Join(strings.Fields(res.ConsentText), " "), want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	final, err := url.Parse(res.Final)
	if err != nil || !strings.HasPrefix(res.Final, "http://127.0.0.1:4567/callback?") {
		t.Fatalf("browser ended at %q", res.Final)
	}
	if final.Query().Get("iss") != e.srv.issuer || final.Query().Get("state") != "xyz" {
		t.Errorf("final redirect %s", final)
	}
	if tok := e.redeem(final.Query().Get("code"), v, nil); tok.status != 200 {
		t.Fatalf("code from the browser did not redeem: %s", tok.raw)
	}
	for _, name := range []string{"login.png", "consent.png"} {
		checkScreenshot(t, filepath.Join(shots, name))
	}
}

// checkScreenshot asserts that a screenshot decodes, has a sensible size
// and is not blank (the stylesheet and text rendered).
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() < 400 || b.Dy() < 300 {
		t.Errorf("%s: %v too small", path, b)
	}
	colors := map[[3]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[[3]uint32{r >> 12, g >> 12, bl >> 12}] = true
		}
	}
	if len(colors) < 5 {
		t.Errorf("%s looks blank (%d colours)", path, len(colors))
	}
}
