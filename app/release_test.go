package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

// TestNewReleasesOnError makes New fail at each stage after it has opened
// something: the state database (authorization server, audit log,
// pinning), Redis clients, and a first route's stdio upstream. Whatever
// failed, nothing it opened may outlive the call: no goroutine it started
// (database pools, the audit writer, process reapers), no PostgreSQL
// connection, no child process.
func TestNewReleasesOnError(t *testing.T) {
	stages := []struct {
		name string
		// yaml is added to a configuration that enables everything that
		// opens a store; it makes New fail late.
		yaml string
		want string
	}{
		{"authserver key", "authserver: {enabled: true, key_encryption_key: {env: MCPFORT_TEST_UNSET}}\n", "authserver.key_encryption_key: env:MCPFORT_TEST_UNSET"},
		{"audit log", "audit: {record_arguments: true, heads: {interval: -1s}}\n", "audit.heads.interval"},
		{"audit masking", "policies: {pii: {national_ids: [{name: broken, pattern: '('}]}}\n", "audit masking"},
		{"pin file", "pinning: {pin_file: missing-pins.yaml}\n", "pinning.pin_file"},
		{"verifier", "auth:\n  issuers:\n    - issuer: https://idp.example\n      introspection: {client_id: gw, client_secret: {env: MCPFORT_TEST_UNSET}}\n",
			"introspection.client_secret"},
		{"second upstream", "", `server "second"`},
		{"second route's policies", "", `server "second"`},
	}
	seconds := map[string]string{
		"second upstream":         "    http: {url: 'http://127.0.0.1:1/mcp', bearer_token: {env: MCPFORT_TEST_UNSET}}\n",
		"second route's policies": "    http: {url: 'http://127.0.0.1:1/mcp'}\n    policies: {pii: {national_ids: [{name: broken, pattern: '('}]}}\n",
	}
	for _, db := range []string{"sqlite", "postgres"} {
		for _, st := range stages {
			t.Run(db+"/"+st.name, func(t *testing.T) {
				child := copyEverything(t)
				state := "{}"
				var pgApp string
				if db == "postgres" {
					pgApp = "mcpfort_release_" + strings.ToLower(rand.Text()[:8])
					state = fmt.Sprintf("{database: %q, redis: %q}", pgSchema(t)+"&application_name="+pgApp, redisURL)
				}
				second := seconds[st.name]
				if second == "" {
					second = "    http: {url: 'http://127.0.0.1:1/mcp'}\n"
				}
				cfg := loadConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
state: %s
%sservers:
  - name: first
    stdio: {command: [%q]}
    policies: {pinning: {enabled: true}, rate_limits: [{name: all, limit: 10}]}
  - name: second
%s`, state, withDefaults(st.yaml), child, second))
				var pg *sql.DB
				if pgApp != "" {
					pg = pgAdmin(t)
				}
				base := goroutineMark()
				_, err := app.New(cfg, app.Options{Version: "test", Console: &bytes.Buffer{}, Getenv: func(string) string { return "" }})
				if err == nil || !strings.Contains(err.Error(), st.want) {
					t.Fatalf("New = %v, want an error naming %s", err, st.want)
				}
				expectReleased(t, base, child, pg, pgApp)
			})
		}
	}
}

// withDefaults completes a stage's configuration with the authorization
// server and the audit log, unless it sets them itself.
func withDefaults(yaml string) string {
	if !strings.Contains(yaml, "authserver:") {
		yaml += "authserver: {enabled: true}\n"
	}
	if !strings.Contains(yaml, "audit:") {
		yaml += "audit: {record_arguments: true}\n"
	}
	return yaml
}

// TestRunReleasesWhenListenFails starts a stdio upstream process through
// the handler, then runs on an address already in use: Run fails, and the
// process, the stores and their goroutines are gone.
func TestRunReleasesWhenListenFails(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	child := copyEverything(t)
	pgApp := "mcpfort_release_" + strings.ToLower(rand.Text()[:8])
	cfg := loadConfig(t, fmt.Sprintf(`
listen: %s
log: {level: error}
state: {database: %q, redis: %q}
authserver: {enabled: true}
servers:
  - name: first
    path: /mcp
    auth: {required: false}
    stdio: {command: [%q]}
    policies: {pinning: {enabled: true}}
  - name: second
    http: {url: 'http://127.0.0.1:1/mcp'}
`, busy.Addr(), pgSchema(t)+"&application_name="+pgApp, redisURL, child))
	pg := pgAdmin(t)
	base := goroutineMark()
	a, err := app.New(cfg, app.Options{Version: "test", Console: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/mcp", strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	req.Host = "127.0.0.1"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("initialize: %d %s", rec.Code, rec.Body)
	}
	if n := countProcs(child); n != 1 {
		t.Fatalf("%d upstream processes after initialize, want 1", n)
	}
	if pgConns(t, pg, pgApp) == 0 {
		t.Fatal("no PostgreSQL connection open before Run")
	}
	if err := a.Run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Run = %v, want address already in use", err)
	}
	expectReleased(t, base, child, pg, pgApp)
}

func loadConfig(t *testing.T, body string) *config.Config {
	t.Helper()
	cfg, err := config.Load(writeConfig(t, body))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// copyEverything copies the test MCP server to a path of its own, so that
// its processes can be counted.
func copyEverything(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(binDir, "mcpfort-everything"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "mcpfort-everything-release")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// goroutineMark returns the highest goroutine id now live. Ids are never
// reused, so a live goroutine with a higher one was started later.
func goroutineMark() int {
	mark := 0
	for _, g := range goroutines() {
		mark = max(mark, g.id)
	}
	return mark
}

type goroutine struct {
	id    int
	stack string
}

func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for _, block := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(strings.TrimPrefix(block, "goroutine "), " ")
		if id, err := strconv.Atoi(head); err == nil {
			out = append(out, goroutine{id, block})
		}
	}
	return out
}

// expectReleased waits (up to a deadline) until no goroutine started
// after mark is left, no process runs child, and, if pgApp is set, no
// PostgreSQL connection of that application name remains.
func expectReleased(t *testing.T, mark int, child string, pg *sql.DB, pgApp string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		for _, g := range goroutines() {
			if g.id > mark {
				left = append(left, g.stack)
			}
		}
		procs := countProcs(child)
		conns := 0
		if pgApp != "" {
			conns = pgConns(t, pg, pgApp)
		}
		if len(left) == 0 && procs == 0 && conns == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %d upstream processes, %d PostgreSQL connections, %d goroutines:\n%s",
				procs, conns, len(left), strings.Join(left, "\n\n"))
		}
		runtime.Gosched()
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for a condition
	}
}

// pgAdmin opens the connection that counts the others (before the
// goroutine mark, so that its own pool is not counted as a leak).
func pgAdmin(t *testing.T) *sql.DB {
	t.Helper()
	base := os.Getenv("MCPFORT_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// pgConns counts the server's connections opened under application name
// app.
func pgConns(t *testing.T, db *sql.DB, app string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
