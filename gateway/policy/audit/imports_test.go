package audit_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports enforces the package's import budget (doc.go): no config,
// no app, no other policy.
func TestImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			rest, policy := strings.CutPrefix(path, "github.com/mcpfort/mcpfort/gateway/policy/")
			switch {
			case path == "github.com/mcpfort/mcpfort/config", path == "github.com/mcpfort/mcpfort/app",
				strings.HasPrefix(path, "github.com/mcpfort/mcpfort/authserver"),
				policy && !strings.HasPrefix(rest, "internal/") && !strings.HasPrefix(rest, "audit"):
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
