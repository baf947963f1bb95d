package authserver

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestDependencies is the dependency budget of the doc.go files as a test:
// the authorization server and its helpers never import the gateway, the
// resource-server middleware, app or config; go-jose stays in authserver
// and authserver/keys; the SQL drivers stay in their backends.
func TestDependencies(t *testing.T) {
	const (
		mod    = "github.com/mcpfort/mcpfort/"
		gojose = "github.com/go-jose/go-jose/v4"
	)
	budget := map[string][]string{
		".":                            {mod + "oauth", mod + "storage", mod + "web", mod + "authserver/keys", mod + "authserver/cimd", mod + "internal/jsonx", mod + "transport/clientip", gojose, "golang.org/x/crypto/argon2"},
		"keys":                         {mod + "storage", gojose},
		"cimd":                         {mod + "storage", mod + "oauth", mod + "internal/jsonx"},
		"users":                        {mod + "authserver", mod + "storage"},
		"../oauth":                     {mod + "internal/jsonx"},
		"../web":                       nil,
		"../storage":                   {mod + "oauth"},
		"../storage/internal/sqlstore": {mod + "storage"},
		"../storage/sqlite":            {mod + "storage", mod + "storage/internal/sqlstore", mod + "internal/statefile", "modernc.org/sqlite", "modernc.org/sqlite/lib"},
		"../storage/postgres":          {mod + "storage", mod + "storage/internal/sqlstore", "github.com/jackc/pgx/v5", "github.com/jackc/pgx/v5/pgconn", "github.com/jackc/pgx/v5/stdlib"},
		"../storage/backend":           {mod + "storage", mod + "storage/sqlite", mod + "storage/postgres"},
		"../storage/storagetest":       {mod + "storage", mod + "oauth", "github.com/google/go-cmp/cmp", "github.com/google/go-cmp/cmp/cmpopts"},
	}
	for dir, allowed := range budget {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Errorf("%s: no files", dir)
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
				if !slices.Contains(allowed, path) {
					t.Errorf("%s imports %s, outside its budget", f, path)
				}
			}
		}
	}
}
