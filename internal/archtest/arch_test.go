package archtest

import (
	"errors"
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const mod = "github.com/mcpfort/mcpfort/"

// imports lists, for every package of the module, the module packages it
// imports directly (test files excluded).
//
// It reads the sources with go/build rather than running go list, so that
// the test cache notices every file it depends on.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		if path != root {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // a module of its own (examples)
			}
		}
		p, err := build.ImportDir(path, 0)
		if err != nil {
			var noGo *build.NoGoError
			if errors.As(err, &noGo) {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, _ := filepath.Rel(root, path)
		pkg := filepath.ToSlash(rel)
		m[pkg] = nil
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, mod) {
				m[pkg] = append(m[pkg], strings.TrimPrefix(imp, mod))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) < 20 {
		t.Fatalf("found only %d packages under %s", len(m), root)
	}
	return m
}

func under(pkg, prefix string) bool { return pkg == prefix || strings.HasPrefix(pkg, prefix+"/") }

// TestImportRules enforces the layers of docs/architecture.md: imports point down only;
// gateway and authserver never import each other; resourceserver never
// imports authserver (it must work with any authorization server); policies
// never import each other; only app and cmd read config; nothing imports
// app or cmd.
func TestImportRules(t *testing.T) {
	rules := []struct {
		name   string
		from   func(string) bool
		to     func(string) bool
		except func(from, to string) bool
	}{
		{"only app and cmd import config",
			func(p string) bool {
				return !under(p, "app") && !under(p, "cmd") && !under(p, "config") && !under(p, "bench")
			},
			func(p string) bool { return under(p, "config") }, nil},
		{"nothing imports app or cmd",
			func(p string) bool { return !under(p, "cmd") && !under(p, "bench") },
			func(p string) bool { return under(p, "app") || under(p, "cmd") },
			func(from, _ string) bool { return under(from, "app") }},
		{"gateway never imports authserver",
			func(p string) bool { return under(p, "gateway") },
			func(p string) bool { return under(p, "authserver") }, nil},
		{"authserver never imports gateway",
			func(p string) bool { return under(p, "authserver") },
			func(p string) bool { return under(p, "gateway") }, nil},
		{"resourceserver never imports authserver",
			func(p string) bool { return under(p, "resourceserver") },
			func(p string) bool { return under(p, "authserver") }, nil},
		{"policies never import each other",
			func(p string) bool { return under(p, "gateway/policy") },
			func(p string) bool { return under(p, "gateway/policy") },
			func(from, to string) bool {
				// A policy's own subpackages and the shared internal helpers.
				return under(to, "gateway/policy/internal") || policyOf(from) == policyOf(to)
			}},
		{"the wire layers stay below the gateway",
			func(p string) bool {
				return under(p, "jsonrpc") || under(p, "mcp") || under(p, "transport") || under(p, "internal/jsonx") || under(p, "oauth")
			},
			func(p string) bool {
				return under(p, "gateway") || under(p, "authserver") || under(p, "resourceserver") || under(p, "storage")
			}, nil},
		{"upstream implementations do not import the gateway",
			func(p string) bool { return under(p, "gateway/upstream") },
			func(p string) bool {
				return p == "gateway" || under(p, "gateway/policy") || under(p, "gateway/session")
			}, nil},
	}
	for pkg, imps := range imports(t) {
		for _, imp := range imps {
			for _, r := range rules {
				if r.from(pkg) && r.to(imp) && (r.except == nil || !r.except(pkg, imp)) {
					t.Errorf("%s imports %s: %s", pkg, imp, r.name)
				}
			}
		}
	}
}

func policyOf(p string) string {
	rest := strings.TrimPrefix(p, "gateway/policy/")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i]
	}
	return rest
}
