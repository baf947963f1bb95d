package authserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mcpfort/mcpfort/authserver"
	"github.com/mcpfort/mcpfort/authserver/keys"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/postgres"
	"github.com/mcpfort/mcpfort/storage/sqlite"
)

const (
	issuer   = "https://auth.example.com"
	resource = "https://mcp.example.com/mcp"
	svcID    = "svc"
	svcKey   = "bench-secret-bench-secret-bench-secret"
)

func sum(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// openStore opens a fresh store of the named backend.
func openStore(b *testing.B, backend string) storage.Store {
	b.Helper()
	ctx := context.Background()
	switch backend {
	case "sqlite":
		s, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(b.TempDir(), "bench.db")})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	case "postgres":
		base := os.Getenv("MCPFORT_TEST_POSTGRES")
		if base == "" {
			base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		}
		cfg, err := pgx.ParseConfig(base)
		if err != nil {
			b.Fatal(err)
		}
		admin := stdlib.OpenDB(*cfg)
		b.Cleanup(func() { admin.Close() })
		if err := admin.Ping(); err != nil {
			b.Skipf("PostgreSQL not reachable: %v", err)
		}
		schema := "mcpfort_bench_" + strings.ToLower(rand.Text()[:8])
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
		u, _ := url.Parse(base)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		s, err := postgres.Open(ctx, postgres.Options{DSN: u.String()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	b.Fatalf("unknown backend %s", backend)
	return nil
}

func newServer(b *testing.B, store storage.Store, alg string) *authserver.Server {
	b.Helper()
	kek := make([]byte, keys.KEKSize)
	rand.Read(kek)
	srv, err := authserver.New(context.Background(), authserver.Options{
		Issuer: issuer, Store: store, KeyEncryptionKey: kek, SigningAlgorithm: alg,
		Resources: []authserver.Resource{{URI: resource, Scopes: []string{"mcp:tools"}, DefaultScopes: []string{"mcp:tools"}}},
		Clients: []authserver.StaticClient{
			{ID: "cli", RedirectURIs: []string{"http://127.0.0.1/cb"}},
			{ID: svcID, Secret: svcKey, GrantTypes: []string{oauth.GrantClientCredentials}},
		},
		Registration: authserver.RegistrationOptions{RateLimit: 1 << 30},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateUser(context.Background(), &storage.User{ID: "u1", Username: "bench"}); err != nil {
		b.Fatal(err)
	}
	return srv
}

// post calls the handler in-process (no network: this measures the
// server, not the loopback stack) and fails on a non-2xx answer.
func post(b *testing.B, h http.Handler, path, ctype, body string, basic bool) []byte {
	req := httptest.NewRequest(http.MethodPost, issuer+path, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if basic {
		req.SetBasicAuth(svcID, svcKey)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
	}
	return rec.Body.Bytes()
}

// clock is a wall-clock and process-CPU starting point.
type clock struct {
	wall time.Time
	cpu  time.Duration
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startClock() clock { return clock{time.Now(), cpuTime()} }

// perSecond reports throughput in wall time, and the process CPU spent
// per operation: the machine is shared, so wall throughput moves with
// other work while CPU per operation does not. For SQLite the database
// runs in this process and is included; PostgreSQL's own CPU is not.
func perSecond(b *testing.B, c clock, what string) {
	b.ReportMetric(float64(b.N)/time.Since(c.wall).Seconds(), what+"/s")
	b.ReportMetric(float64((cpuTime()-c.cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}

var backends = []string{"sqlite", "postgres"}

// BenchmarkTokenAuthorizationCode redeems authorization codes (PKCE
// check, code consumption, refresh family creation, JWT signing).
func BenchmarkTokenAuthorizationCode(b *testing.B) {
	for _, be := range backends {
		b.Run(be, func(b *testing.B) {
			store := openStore(b, be)
			srv := newServer(b, store, "")
			ctx := context.Background()
			verifier := strings.Repeat("v", 43)
			now := time.Now()
			codes := make([]string, b.N)
			for i := range codes {
				codes[i] = fmt.Sprintf("code-%d-%s", i, rand.Text())
				if err := store.CreateCode(ctx, &storage.AuthCode{Hash: sum(codes[i]), ClientID: "cli", UserID: "u1",
					CodeChallenge: oauth.S256Challenge(verifier), Scopes: []string{"mcp:tools"}, Resources: []string{resource},
					AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			b.ResetTimer()
			start := startClock()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					post(b, srv, "/token", "application/x-www-form-urlencoded",
						"grant_type=authorization_code&client_id=cli&code_verifier="+verifier+"&code="+url.QueryEscape(codes[i]), false)
				}
			})
			perSecond(b, start, "tokens")
		})
	}
}

// BenchmarkTokenRefresh rotates refresh tokens (family lookup, row-locked
// rotation, user check, JWT signing).
func BenchmarkTokenRefresh(b *testing.B) {
	for _, be := range backends {
		b.Run(be, func(b *testing.B) {
			store := openStore(b, be)
			srv := newServer(b, store, "")
			ctx := context.Background()
			now := time.Now()
			toks := make([]string, b.N)
			for i := range toks {
				toks[i] = rand.Text() + rand.Text()
				if err := store.CreateFamily(ctx, &storage.RefreshFamily{ID: fmt.Sprint("f", i, rand.Text()), ClientID: "cli", UserID: "u1",
					Scopes: []string{"mcp:tools"}, Resources: []string{resource}, AuthTime: now, CreatedAt: now,
					ExpiresAt: now.Add(24 * time.Hour), CurrentHash: sum(toks[i]), RotatedAt: now}); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			b.ResetTimer()
			start := startClock()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					post(b, srv, "/token", "application/x-www-form-urlencoded", "grant_type=refresh_token&client_id=cli&refresh_token="+toks[i], false)
				}
			})
			perSecond(b, start, "tokens")
		})
	}
}

// BenchmarkTokenClientCredentials: client authentication and signing,
// no writes.
func BenchmarkTokenClientCredentials(b *testing.B) {
	for _, be := range backends {
		b.Run(be, func(b *testing.B) {
			srv := newServer(b, openStore(b, be), "")
			b.ResetTimer()
			start := startClock()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					post(b, srv, "/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", true)
				}
			})
			perSecond(b, start, "tokens")
		})
	}
}

// BenchmarkRegistration: RFC 7591 registrations.
func BenchmarkRegistration(b *testing.B) {
	for _, be := range backends {
		b.Run(be, func(b *testing.B) {
			srv := newServer(b, openStore(b, be), "")
			body := `{"client_name":"bench","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`
			b.ResetTimer()
			start := startClock()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					post(b, srv, "/register", "application/json", body, false)
				}
			})
			perSecond(b, start, "registrations")
		})
	}
}

// BenchmarkIntrospection: RFC 7662 introspection of a JWT access token
// (client authentication, signature verification, denylist lookup).
func BenchmarkIntrospection(b *testing.B) {
	for _, be := range backends {
		b.Run(be, func(b *testing.B) {
			srv := newServer(b, openStore(b, be), "")
			var tr oauth.TokenResponse
			if err := json.Unmarshal(post(b, srv, "/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", true), &tr); err != nil {
				b.Fatal(err)
			}
			body := "token=" + tr.AccessToken
			b.ResetTimer()
			start := startClock()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					out := post(b, srv, "/introspect", "application/x-www-form-urlencoded", body, true)
					if !strings.Contains(string(out), `"active":true`) {
						b.Fatalf("inactive: %s", out)
					}
				}
			})
			perSecond(b, start, "introspections")
		})
	}
}

// BenchmarkJWT: signing and verification cost per algorithm, one core.
func BenchmarkJWT(b *testing.B) {
	payload := []byte(`{"iss":"https://auth.example.com","sub":"u1","aud":"https://mcp.example.com/mcp","exp":4102444800,"iat":1767225600,"jti":"abcdefghijklmnop","client_id":"cli","scope":"mcp:tools"}`)
	for _, alg := range []string{keys.ES256, keys.RS256, keys.EdDSA} {
		store := openStore(b, "sqlite")
		kek := make([]byte, keys.KEKSize)
		rand.Read(kek)
		m, err := keys.New(context.Background(), keys.Options{Store: store, KeyEncryptionKey: kek, Algorithm: alg})
		if err != nil {
			b.Fatal(err)
		}
		b.Run("sign/"+alg, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := m.Sign(context.Background(), "at+jwt", payload); err != nil {
					b.Fatal(err)
				}
			}
		})
		tok, _, _ := m.Sign(context.Background(), "at+jwt", payload)
		b.Run("verify/"+alg, func(b *testing.B) {
			for b.Loop() {
				if _, err := m.Verify(tok, "at+jwt"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
