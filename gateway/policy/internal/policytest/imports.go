package policytest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// CheckImports enforces a policy package's import budget (the layers of
// docs/architecture.md): the non-test files in the current directory import no config, no
// app, no authserver and no other policy (gateway/policy/internal is
// shared and allowed). self is the package's directory under
// gateway/policy ("pii").
func CheckImports(t testing.TB, self string) {
	t.Helper()
	const module = "github.com/mcpfort/mcpfort/"
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
			rest, policy := strings.CutPrefix(path, module+"gateway/policy/")
			own := rest == self || strings.HasPrefix(rest, self+"/")
			switch {
			case path == module+"config", path == module+"app", strings.HasPrefix(path, module+"authserver"),
				policy && !strings.HasPrefix(rest, "internal/") && !own:
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
