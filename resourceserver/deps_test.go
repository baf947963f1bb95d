package resourceserver

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestDependencies is the dependency budget of doc.go as a test: the
// standard library, internal/jsonx and go-jose (in jwks.go only, and in the
// resourceservertest harness); never authserver, gateway, app, config or
// storage, so the package keeps working with any authorization server.
func TestDependencies(t *testing.T) {
	const gojose = "github.com/go-jose/go-jose/v4"
	budget := map[string]struct {
		allowed     []string
		gojoseFiles []string
	}{
		".":                  {[]string{"github.com/mcpfort/mcpfort/internal/jsonx", gojose}, []string{"jwks.go"}},
		"resourceservertest": {[]string{gojose}, []string{"issuer.go"}},
	}
	for dir, b := range budget {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				first, _, _ := strings.Cut(path, "/")
				if !strings.Contains(first, ".") {
					continue // standard library
				}
				if !slices.Contains(b.allowed, path) {
					t.Errorf("%s imports %s, outside the budget", f, path)
				}
				if path == gojose && !slices.Contains(b.gojoseFiles, filepath.Base(f)) {
					t.Errorf("%s imports go-jose; it is confined to %v", f, b.gojoseFiles)
				}
			}
		}
	}
}
