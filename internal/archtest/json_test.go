package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// jsonPlane are the trees whose untrusted JSON must go through the
// chokepoint, internal/jsonx: the messages, the protocol and the MCP plane.
var jsonPlane = []string{"jsonrpc", "mcp", "transport", "gateway"}

// jsonDecoders are the files of jsonPlane that decode with encoding/json
// all the same, and why.
var jsonDecoders = []struct{ file, why string }{
	{"gateway/bridge.go", "server/discover supportedVersions: an array of strings (no member names), found with jsonx"},
	{"gateway/probe.go", "server/discover supportedVersions at start: an array of strings (no member names), found with jsonx"},
	{"gateway/upstream/aggregate/list.go", "a list cursor of the aggregate's own making, base64; every value read from it is checked against the members before use"},
	{"gateway/listen.go", "subscriptions/listen params into a struct; the access policies refuse the case variants and duplicates such a reading would accept (servermsg.ErrBadListen)"},
	{"gateway/vault/discovery.go", "OAuth metadata (RFC 8414, RFC 9728) and registration responses of the upstream's authorization server, not MCP messages"},
	{"gateway/vault/flow.go", "tickets and states the vault sealed itself, read after they opened"},
	{"gateway/vault/vault.go", "tokens the vault sealed itself, read after they opened"},
	{"gateway/upstream/credentials/exchange.go", "the OAuth token-exchange response of the configured authorization server (RFC 8693), not an MCP message"},
	{"gateway/policy/audit/record.go", "records the audit log wrote itself, read back from its store"},
	{"gateway/policy/audit/heads.go", "the chain heads file the audit log writes and signs itself"},
	{"gateway/policy/pinning/store.go", "findings pinning wrote itself, read back from its store"},
	{"gateway/policy/pinning/scan.go", "a tool definition in the canonical form jcs produced, after jsonx validated it"},
	{"gateway/upstream/stdio/internal/testserver/main.go", "the stdio pool's test server, a program of the tests: what it reads comes from the pool under test"},
	{"gateway/policy/internal/policytest/policytest.go", "the policies' test harness: what its own test peers answer"},
	{"gateway/policy/internal/policytest/streams.go", "the policies' test harness: what its own test peers answer"},
}

// decodingFuncs are encoding/json's readers.
var decodingFuncs = map[string]bool{"Unmarshal": true, "NewDecoder": true, "Valid": true}

// TestJSONChokepoint checks that jsonPlane reads JSON through internal/jsonx:
// a file that calls encoding/json's Unmarshal, NewDecoder or Valid must be
// listed in jsonDecoders, and a listed file must still do so. encoding/json
// matches struct fields case-insensitively, lets the last of two equal
// member names win and replaces invalid UTF-8, so a gateway reading with
// it could read a message differently from the server behind it.
func TestJSONChokepoint(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, d := range jsonDecoders {
		listed[d.file] = true
	}
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, tree := range jsonPlane {
		err := filepath.WalkDir(filepath.Join(root, tree), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			if decodesJSON(f) {
				seen[rel] = true
				if !listed[rel] {
					t.Errorf("%s decodes with encoding/json: read untrusted JSON through internal/jsonx, or list the file in jsonDecoders with its reason", rel)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range jsonDecoders {
		if !seen[d.file] {
			t.Errorf("%s is listed in jsonDecoders but no longer decodes with encoding/json: remove it", d.file)
		}
	}
}

// decodesJSON reports whether f calls one of decodingFuncs of encoding/json.
func decodesJSON(f *ast.File) bool {
	name := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "encoding/json" {
			name = "json"
			if imp.Name != nil {
				name = imp.Name.Name
			}
		}
	}
	if name == "" {
		return false
	}
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == name && decodingFuncs[sel.Sel.Name] {
				found = true
			}
		}
		return !found
	})
	return found
}
