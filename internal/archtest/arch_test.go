package archtest

import (
	"errors"
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const mod = "github.com/mcpfort/mcpfort/"

// Sides of the system. A package on a side may import the common packages
// and its own side below it, never another side's: the gateway works
// without knowing which authorization server issued its callers' tokens,
// and the authorization server knows nothing of the gateway.
const (
	common      = ""                     // usable from every side above
	gatewaySide = "gateway"              // the MCP plane
	asSide      = "authorization server" // the embedded OAuth 2.1 server
	rsSide      = "resource server"      // token validation for any issuer
	conformance = "conformance target"   // the test MCP server, run as a program
	wiring      = "*"                    // sees every side
)

// unit is a tree of packages placed in a layer: the package at tree and
// its subpackages, which import one another freely. A tree ending in "/*"
// makes each child tree a unit of its own (each policy).
type unit struct {
	tree string
	side string
}

// layers are mcpfort's packages from the bottom up: the one statement of
// the import rules, which docs/architecture.md describes. A package may
// import a package of a lower layer that is common or on its own side;
// within a layer, only its own unit. Anything else must be listed in
// sideways, with its reason. Every package of the module must be placed.
var layers = []struct {
	name  string
	units []unit
}{
	// Below everything: the canonical decoder of outside base64url, which
	// the sealed values of the foundation use too.
	{"encodings", []unit{{"internal/base64url", common}}},
	{"foundation", []unit{{"internal/jsonx", common}, {"internal/seal", common}, {"internal/statefile", common}, {"internal/textcut", common}, {"transport/clientip", common},
		{"web", common}, {"secrets", common}, {"internal/everything", conformance}}},
	{"messages", []unit{{"jsonrpc", common}, {"oauth", common}}},
	{"protocol", []unit{{"mcp", common}, {"transport", common}}},
	{"parts", []unit{{"storage", common}, {"resourceserver", rsSide}, {"gateway/session", gatewaySide},
		{"gateway/upstream", gatewaySide}}},
	{"servers", []unit{{"gateway", gatewaySide}, {"authserver", asSide}}},
	// A virtual server's members of another era sit behind a gateway of
	// their own (the era bridge), so the aggregate upstream is above it.
	{"composite upstreams", []unit{{"gateway/upstream/aggregate", gatewaySide}}},
	{"policy helpers", []unit{{"gateway/policy/internal", gatewaySide}}},
	{"policies", []unit{{"gateway/policy/*", gatewaySide}}},
	{"observability", []unit{{"observe", gatewaySide}}},
	{"configuration", []unit{{"config", common}}},
	{"wiring", []unit{{"app", wiring}}},
	{"programs", []unit{{"cmd/*", wiring}, {"bench", wiring}, {"internal/archtest", wiring}, {"test", wiring}}},
}

// sideways are the imports the layers forbid but mcpfort makes on
// purpose: from a unit to a unit, and why.
var sideways = []struct{ from, to, why string }{
	{"gateway/policy/scopes", "resourceserver",
		"an insufficient_scope refusal is the RFC 6750 challenge the resource server writes, and scope hierarchy is its rule; stated once"},
}

// thirdParty confines each third-party module to the packages (or, for a
// name ending in ".go", the single files) that may import it. A module
// not listed may not be imported at all.
var thirdParty = []struct {
	module string
	users  []string
}{
	{"github.com/go-jose/go-jose/v4", []string{"authserver", "authserver/keys", "resourceserver/jwks.go",
		"resourceserver/resourceservertest/issuer.go", "gateway/upstream/credentials",
		"oauth/dpop", "resourceserver/resourceservertest/dpop.go"}},
	{"golang.org/x/crypto", []string{"authserver", "app/tls.go"}}, // argon2id password hashes; ACME certificates
	{"modernc.org/sqlite", []string{"storage/sqlite"}},
	{"github.com/jackc/pgx/v5", []string{"storage/postgres"}},
	{"github.com/redis/go-redis/v9", []string{"storage/redis", "gateway/policy/ratelimit/redisstore"}},
	{"github.com/santhosh-tekuri/jsonschema/v6", []string{"gateway/policy/schema"}},
	{"golang.org/x/sync", []string{"gateway/catalog.go", "gateway/vault"}}, // singleflight: one tools/list per caller, one refresh per grant
	{"golang.org/x/text", []string{"gateway/policy/schema"}},
	{"golang.org/x/sys", []string{"gateway/upstream/stdio", "gateway/upstream/remote", "gateway/hangup_linux.go"}}, // process groups, epoll
	{"go.yaml.in/yaml/v3", []string{"config", "gateway/policy/pinning"}},
	{"github.com/google/go-cmp", []string{"storage/storagetest"}},
	// OpenTelemetry SDK, OTLP exporters and the Prometheus exposition:
	// one package owns telemetry, so nothing else pays for it.
	{"go.opentelemetry.io/otel", []string{"observe"}},
	{"github.com/prometheus/client_golang", []string{"observe"}},
	// The OTLP trace messages and protobuf's wire encoding: the span
	// encoder writes batches itself (observe/otlp.go).
	{"go.opentelemetry.io/proto/otlp", []string{"observe/otlp.go"}},
	{"google.golang.org/protobuf", []string{"observe/otlp.go"}},
	// The secret-manager SDKs, each confined to its backend; app imports
	// the backends only from secrets_cloud.go (build tag mcpfort_nocloud
	// leaves them out).
	{"github.com/aws/aws-sdk-go-v2", []string{"secrets/aws"}},
	{"github.com/aws/aws-sdk-go-v2/config", []string{"secrets/aws"}},
	{"github.com/aws/aws-sdk-go-v2/service/secretsmanager", []string{"secrets/aws"}},
	{"github.com/aws/aws-sdk-go-v2/service/ssm", []string{"secrets/aws"}},
	{"github.com/Azure/azure-sdk-for-go/sdk/azcore", []string{"secrets/azure"}},
	{"github.com/Azure/azure-sdk-for-go/sdk/azidentity", []string{"secrets/azure"}},
	{"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets", []string{"secrets/azure"}},
	{"golang.org/x/oauth2", []string{"secrets/gcp", "gateway/vault"}}, // Google application default credentials; the token vault's OAuth client
	{"github.com/modelcontextprotocol/go-sdk", []string{"internal/everything", "cmd/mcpfort-everything",
		"gateway/upstream/stdio/internal/testserver", "gateway/policy/internal/policytest", "bench/peers/gosdk"}},
}

// TestLayers checks every import of the module's packages (test files
// excluded) against layers, sideways and thirdParty.
func TestLayers(t *testing.T) {
	for _, p := range check(packages(t)) {
		t.Error(p)
	}
}

// stateOpeners open databases and Redis clients; only the wiring and the
// programs may import them. Every other part is handed its store or
// client, so that a process has one set of connections per database and
// one Redis client.
var stateOpeners = []string{"storage/backend", "storage/sqlite", "storage/postgres", "storage/redis"}

// TestStateOpeners checks that only app, the programs and storage itself
// import the stateOpeners.
func TestStateOpeners(t *testing.T) {
	for name, p := range packages(t) {
		if within(name, "app") || within(name, "cmd") || within(name, "bench") || within(name, "storage") {
			continue
		}
		for _, imp := range p.imports {
			for _, o := range stateOpeners {
				if within(imp, o) {
					t.Errorf("%s imports %s: only app and the programs open databases and Redis clients", name, imp)
				}
			}
		}
	}
}

func within(p, tree string) bool { return p == tree || strings.HasPrefix(p, tree+"/") }

// pkg is one package's imports: module packages without the module
// prefix, third-party ones with the files that import them.
type pkg struct {
	imports    []string
	thirdParty map[string][]string // import path -> base names of the files
}

// placed is where a package sits.
type placed struct {
	key   string // the unit: its tree, or the child tree of a "/*" tree
	layer int
	side  string
}

// place finds the unit of p: the longest tree that holds it.
func place(p string) (placed, bool) {
	best, bestLen := placed{}, -1
	for li, l := range layers {
		for _, u := range l.units {
			prefix, each := strings.CutSuffix(u.tree, "/*")
			var key string
			switch {
			case each && strings.HasPrefix(p, prefix+"/"):
				child, _, _ := strings.Cut(strings.TrimPrefix(p, prefix+"/"), "/")
				key = prefix + "/" + child
			case !each && (p == prefix || strings.HasPrefix(p, prefix+"/")):
				key = prefix
			default:
				continue
			}
			if len(prefix) > bestLen {
				best, bestLen = placed{key: key, layer: li, side: u.side}, len(prefix)
			}
		}
	}
	return best, bestLen >= 0
}

// check returns every broken rule in the graph.
func check(graph map[string]pkg) []string {
	var problems []string
	used := map[int]bool{}
	names := make([]string, 0, len(graph))
	for name := range graph {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		from, ok := place(name)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is in no layer: place it in internal/archtest's table", name))
			continue
		}
		for _, imp := range graph[name].imports {
			to, ok := place(imp)
			if !ok {
				continue // reported as a package of its own
			}
			if why := forbidden(from, to); why != "" {
				if i := slices.IndexFunc(sideways, func(s struct{ from, to, why string }) bool {
					return s.from == from.key && s.to == to.key
				}); i >= 0 {
					used[i] = true
					continue
				}
				problems = append(problems, fmt.Sprintf("%s imports %s: %s", name, imp, why))
			}
		}
		for imp, files := range graph[name].thirdParty {
			for _, f := range files {
				if !budgeted(name, f, imp) {
					problems = append(problems, fmt.Sprintf("%s (%s) imports %s, outside the third-party budget", name, f, imp))
				}
			}
		}
	}
	for i, s := range sideways {
		if !used[i] {
			problems = append(problems, fmt.Sprintf("sideways import %s -> %s is allowed but not made: remove it from the table", s.from, s.to))
		}
	}
	return problems
}

// forbidden says why the layers forbid an import from one unit to another,
// or "" if they allow it.
func forbidden(from, to placed) string {
	switch {
	case from.key == to.key:
		return ""
	case to.layer > from.layer:
		return fmt.Sprintf("upwards, from layer %q to layer %q", layers[from.layer].name, layers[to.layer].name)
	case to.layer == from.layer:
		return fmt.Sprintf("sideways within layer %q (%s and %s are separate units)", layers[from.layer].name, from.key, to.key)
	case to.side != common && to.side != from.side && from.side != wiring:
		return fmt.Sprintf("across sides, from %s to %s", sideName(from.side), sideName(to.side))
	}
	return ""
}

func sideName(s string) string {
	if s == common {
		return "the common packages"
	}
	return "the " + s + " side"
}

// budgeted reports whether the file of package p may import imp.
func budgeted(p, file, imp string) bool {
	for _, b := range thirdParty {
		if imp != b.module && !strings.HasPrefix(imp, b.module+"/") {
			continue
		}
		return slices.Contains(b.users, p) || slices.Contains(b.users, p+"/"+file)
	}
	return false
}

// packages reads the module's packages and their imports (test files
// excluded) with go/build rather than go list, so that the test cache
// notices every file it depends on.
func packages(t *testing.T) map[string]pkg {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]pkg{}
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
		bp, err := build.ImportDir(path, 0)
		if err != nil {
			var noGo *build.NoGoError
			if errors.As(err, &noGo) {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, _ := filepath.Rel(root, path)
		p := pkg{thirdParty: map[string][]string{}}
		for _, imp := range bp.Imports {
			first, _, _ := strings.Cut(imp, "/")
			switch {
			case strings.HasPrefix(imp, mod):
				p.imports = append(p.imports, strings.TrimPrefix(imp, mod))
			case strings.Contains(first, "."):
				for _, pos := range bp.ImportPos[imp] {
					p.thirdParty[imp] = append(p.thirdParty[imp], filepath.Base(pos.Filename))
				}
			}
		}
		m[filepath.ToSlash(rel)] = p
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

// TestCheck shows the rules on small graphs: each import is one the
// layers must refuse or allow.
func TestCheck(t *testing.T) {
	tests := []struct {
		from, to string
		refused  string // a substring of the problem, "" if allowed
	}{
		{"gateway/policy/toolfilter", "resourceserver", "across sides, from the gateway side to the resource server side"},
		{"gateway", "authserver", "sideways within layer"},
		{"authserver", "gateway", "sideways within layer"},
		{"authserver", "resourceserver", "across sides"},
		{"resourceserver", "authserver", "upwards"},
		{"resourceserver", "storage", "sideways within layer"},
		{"gateway/policy/pii", "gateway/policy/audit", `sideways within layer "policies"`},
		{"gateway/policy/audit/auditcmd", "gateway/policy/audit", ""},
		{"gateway/policy/pinning", "gateway/policy/internal/jcs", ""},
		{"gateway/upstream/remote", "gateway", "upwards"},
		{"gateway/upstream/local", "gateway/session", "sideways within layer"},
		{"gateway/upstream/local", "gateway/upstream/stdio", ""},
		{"jsonrpc", "gateway", "upwards"},
		{"gateway/policy/schema", "config", "upwards"},
		{"storage/sqlite", "internal/statefile", ""},
		{"gateway", "internal/everything", "across sides"},
		{"cmd/mcpfort", "app", ""},
		{"app", "cmd/mcpfort", "upwards"},
		{"cmd/mcpfort", "cmd/mcpfort-everything", "sideways within layer"},
	}
	for _, tt := range tests {
		t.Run(tt.from+"->"+tt.to, func(t *testing.T) {
			graph := map[string]pkg{tt.from: {imports: []string{tt.to}}, tt.to: {}}
			var got []string
			for _, p := range check(graph) {
				if !strings.HasPrefix(p, "sideways import") { // the real exceptions, unused here
					got = append(got, p)
				}
			}
			switch {
			case tt.refused == "" && len(got) > 0:
				t.Errorf("refused: %v", got)
			case tt.refused != "" && (len(got) != 1 || !strings.Contains(got[0], tt.refused)):
				t.Errorf("problems %q, want one saying %q", got, tt.refused)
			}
		})
	}

	// An exception allows its import and nothing else.
	graph := map[string]pkg{"gateway/policy/scopes": {imports: []string{"resourceserver"}}, "resourceserver": {}}
	if got := check(graph); len(got) != 0 {
		t.Errorf("the listed exception is refused: %v", got)
	}
	// A package nobody placed fails.
	graph = map[string]pkg{"newpkg": {}}
	if got := check(graph); !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, "newpkg is in no layer") }) {
		t.Errorf("an unplaced package passes: %v", got)
	}
	// Third-party modules stay in their budget, file by file where the
	// budget names files.
	graph = map[string]pkg{
		"resourceserver":        {thirdParty: map[string][]string{"github.com/go-jose/go-jose/v4": {"jwks.go", "verify.go"}}},
		"gateway/policy/scopes": {imports: []string{"resourceserver"}},
		"authserver":            {thirdParty: map[string][]string{"golang.org/x/crypto/argon2": {"password.go"}, "github.com/evil/dep": {"x.go"}}},
	}
	got := check(graph)
	want := []string{
		"authserver (x.go) imports github.com/evil/dep, outside the third-party budget",
		"resourceserver (verify.go) imports github.com/go-jose/go-jose/v4, outside the third-party budget",
	}
	if !slices.Equal(got, want) {
		t.Errorf("budget problems %q, want %q", got, want)
	}
}
