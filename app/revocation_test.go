package app_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	goredis "github.com/redis/go-redis/v9"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

const (
	revUser     = "revocation-user"
	revPassword = "revocation test password"
	redisURL    = "redis://127.0.0.1:6379/0"
)

// revDeployment is one mcpfort deployment under test: the replica that
// the client talks to for OAuth ("issuing"), and the replicas whose
// gateway must refuse revoked tokens.
type revDeployment struct {
	issuer   string // public URL, the same on every replica
	replicas []string
	cfgPath  string // of the issuing replica, for "mcpfort users"
}

// revConfig writes the configuration of one replica.
func revConfig(t *testing.T, listen, public, database, redis, staleness string) string {
	t.Helper()
	state := fmt.Sprintf("{database: %q}", database)
	if redis != "" {
		state = fmt.Sprintf("{database: %q, redis: %q, revocation_max_staleness: %s}", database, redis, staleness)
	}
	return writeConfig(t, fmt.Sprintf(`
listen: %s
public_url: %s
log: {level: error}
state: %s
sessions: {secrets: [{env: MCPFORT_TEST_SESSION_SECRET}]}
authserver:
  enabled: true
  key_encryption_key: {env: MCPFORT_TEST_KEK}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q], isolation: shared}
`, listen, public, state, filepath.Join(binDir, "mcpfort-everything")))
}

func revEnv(t *testing.T) {
	t.Setenv("MCPFORT_TEST_SESSION_SECRET", strings.Repeat("s", 40))
	k := make([]byte, 32)
	rand.Read(k)
	t.Setenv("MCPFORT_TEST_KEK", base64.StdEncoding.EncodeToString(k))
	t.Setenv("MCPFORT_ADMIN_USER", revUser)
	t.Setenv("MCPFORT_ADMIN_PASSWORD", revPassword)
}

func startFrom(t *testing.T, path string) func() {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	return stop
}

// oneProcess: the embedded authorization server and the gateway in one
// process, SQLite, no Redis.
func oneProcess(t *testing.T) *revDeployment {
	port := freePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	p := revConfig(t, listen, "http://"+listen, "sqlite", "", "")
	t.Cleanup(startFrom(t, p))
	return &revDeployment{issuer: "http://" + listen, replicas: []string{"http://" + listen}, cfgPath: p}
}

// twoReplicas: two processes' worth of mcpfort sharing PostgreSQL and
// Redis behind one public URL (the first replica's address; requests to
// the second carry that Host, as through a load balancer).
func twoReplicas(t *testing.T, redis, staleness string) *revDeployment {
	dsn := pgSchema(t)
	pa, pb := freePort(t), freePort(t)
	public := fmt.Sprintf("http://127.0.0.1:%d", pa)
	d := &revDeployment{issuer: public}
	for i, port := range []int{pa, pb} {
		listen := fmt.Sprintf("127.0.0.1:%d", port)
		p := revConfig(t, listen, public, dsn, redis, staleness)
		if i == 0 {
			d.cfgPath = p
		}
		t.Cleanup(startFrom(t, p))
		d.replicas = append(d.replicas, "http://"+listen)
	}
	t.Cleanup(func() {
		rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
		rdb.Del(context.Background(), app.RevocationStream(public))
		rdb.Close()
	})
	return d
}

// pgSchema creates a throwaway PostgreSQL schema for the test and returns
// a URL selecting it.
func pgSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("MCPFORT_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Skipf("PostgreSQL not reachable: %v", err)
	}
	schema := "mcpfort_rev_" + strings.ToLower(rand.Text()[:10])
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// gatewayStatus is the status of an MCP initialize with token on one
// replica.
func (d *revDeployment) gatewayStatus(t *testing.T, replica, token string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", replica+"/mcp", strings.NewReader(initBody))
	req.Host = strings.TrimPrefix(d.issuer, "http://")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// requireWorks checks that every token is accepted on every replica.
func (d *revDeployment) requireWorks(t *testing.T, tokens ...string) {
	t.Helper()
	for _, r := range d.replicas {
		for i, tok := range tokens {
			if st := d.gatewayStatus(t, r, tok); st != 200 {
				t.Fatalf("before revocation, token %d on %s: %d", i, r, st)
			}
		}
	}
}

// requireRefused checks that every token gets 401 on every replica: on
// the issuing one at once when the revocation happened in its process,
// on the others within one second.
func (d *revDeployment) requireRefused(t *testing.T, inProcess bool, tokens ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for i, r := range d.replicas {
		for j, tok := range tokens {
			if i == 0 && inProcess {
				if st := d.gatewayStatus(t, r, tok); st != 401 {
					t.Errorf("right after the revocation, token %d on the issuing replica: %d, want 401", j, st)
				}
				continue
			}
			for {
				st := d.gatewayStatus(t, r, tok)
				if st == 401 {
					t.Logf("token %d refused on replica %d %v after the revocation returned", j, i, time.Since(deadline.Add(-time.Second)).Round(time.Millisecond))
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("one second after the revocation, token %d on replica %d: %d, want 401", j, i, st)
					break
				}
			}
		}
	}
}

// oauthUser is a user with a browser (cookies) and a public client
// registered dynamically.
type oauthUser struct {
	t        *testing.T
	issuer   string
	browser  *http.Client
	clientID string
}

const revRedirect = "http://127.0.0.1:1/callback"

func newOAuthUser(t *testing.T, issuer string) *oauthUser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &oauthUser{t: t, issuer: issuer, browser: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	body := `{"client_name":"revocation test","redirect_uris":["` + revRedirect + `"],"token_endpoint_auth_method":"none",` +
		`"grant_types":["authorization_code","refresh_token"],"response_types":["code"]}`
	resp, err := http.Post(issuer+"/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reg struct {
		ClientID string `json:"client_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || resp.StatusCode != 201 {
		t.Fatalf("register: %d %v", resp.StatusCode, err)
	}
	u.clientID = reg.ClientID
	return u
}

var reRevCSRF = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// code signs in (the first time), consents and returns an authorization
// code with its PKCE verifier.
func (u *oauthUser) code() (code, verifier string) {
	t := u.t
	t.Helper()
	verifier = rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {u.clientID}, "redirect_uri": {revRedirect}, "state": {"s"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {u.issuer + "/mcp"}}
	resp, err := u.browser.Get(u.issuer + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if loc.Query().Get("code") == "" {
				t.Fatalf("no code: %s", loc)
			}
			return loc.Query().Get("code"), verifier
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(raw)
		m1, m2 := reRevCSRF.FindStringSubmatch(page), reRequest.FindStringSubmatch(page)
		if resp.StatusCode != 200 || m1 == nil || m2 == nil {
			t.Fatalf("page %d: %.300s", resp.StatusCode, page)
		}
		form := url.Values{"csrf": {html.UnescapeString(m1[1])}, "request": {html.UnescapeString(m2[1])}}
		action := "/consent"
		if strings.Contains(page, `name="password"`) {
			form.Set("username", revUser)
			form.Set("password", revPassword)
			action = "/login"
		} else {
			form.Set("decision", "allow")
		}
		if resp, err = u.browser.PostForm(u.issuer+action, form); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("no redirect after sign-in and consent")
	return "", ""
}

type tokens struct {
	status           int
	Access           string `json:"access_token"`
	Refresh          string `json:"refresh_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func (u *oauthUser) post(path string, form url.Values) tokens {
	u.t.Helper()
	form.Set("client_id", u.clientID)
	resp, err := http.PostForm(u.issuer+path, form)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	tr := tokens{status: resp.StatusCode}
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &tr)
	return tr
}

func (u *oauthUser) redeem(code, verifier string) tokens {
	return u.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {revRedirect}})
}

// signIn gets a fresh token pair.
func (u *oauthUser) signIn() tokens {
	u.t.Helper()
	tr := u.redeem(u.code())
	if tr.status != 200 || tr.Access == "" || tr.Refresh == "" {
		u.t.Fatalf("token: %+v", tr)
	}
	return tr
}

func (u *oauthUser) refresh(rt string) tokens {
	return u.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

func (u *oauthUser) revoke(token string) {
	u.t.Helper()
	if tr := u.post("/revoke", url.Values{"token": {token}}); tr.status != 200 {
		u.t.Fatalf("revoke: %+v", tr)
	}
}

// withdrawConsent is the user on the consents page pressing "revoke".
func (u *oauthUser) withdrawConsent() {
	t := u.t
	t.Helper()
	resp, err := u.browser.Get(u.issuer + "/consents")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := reRevCSRF.FindStringSubmatch(string(raw))
	if resp.StatusCode != 200 || m == nil || !strings.Contains(string(raw), u.clientID) {
		t.Fatalf("consents page %d: %.300s", resp.StatusCode, raw)
	}
	resp, err = u.browser.PostForm(u.issuer+"/consents/revoke", url.Values{"csrf": {html.UnescapeString(m[1])}, "client_id": {u.clientID}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), "Access revoked") {
		t.Fatalf("withdrawing consent: %d %.300s", resp.StatusCode, raw)
	}
}

// usersDisable runs "mcpfort users disable" as an operator would.
func usersDisable(t *testing.T, cfgPath, name string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "mcpfort"), "users", "--config", cfgPath, "disable", name).CombinedOutput()
	if err != nil {
		t.Fatalf("mcpfort users disable: %v\n%s", err, out)
	}
}

// revocationAttacks performs each way of revoking a token against d and
// checks that the gateway stops accepting the tokens at once in the
// process that revoked them and within a second on the other replicas.
func revocationAttacks(t *testing.T, d *revDeployment, withCLI bool) {
	t.Run("RFC 7009 revocation of the access token", func(t *testing.T) {
		u := newOAuthUser(t, d.issuer)
		tr := u.signIn()
		d.requireWorks(t, tr.Access)
		u.revoke(tr.Access)
		d.requireRefused(t, true, tr.Access)
	})
	t.Run("RFC 7009 revocation of the refresh token revokes its family", func(t *testing.T) {
		u := newOAuthUser(t, d.issuer)
		first := u.signIn()
		second := u.refresh(first.Refresh)
		if second.status != 200 {
			t.Fatalf("refresh: %+v", second)
		}
		d.requireWorks(t, first.Access, second.Access)
		u.revoke(second.Refresh)
		d.requireRefused(t, true, first.Access, second.Access)
	})
	t.Run("refresh token reuse", func(t *testing.T) {
		u := newOAuthUser(t, d.issuer)
		first := u.signIn()
		second := u.refresh(first.Refresh)
		if second.status != 200 {
			t.Fatalf("refresh: %+v", second)
		}
		d.requireWorks(t, first.Access, second.Access)
		// An attacker (or the victim) replays the rotated-away token.
		if again := u.refresh(first.Refresh); again.status != 400 || again.Error != "invalid_grant" {
			t.Fatalf("reuse: %+v", again)
		}
		d.requireRefused(t, true, first.Access, second.Access)
	})
	t.Run("authorization code replay", func(t *testing.T) {
		u := newOAuthUser(t, d.issuer)
		code, verifier := u.code()
		tr := u.redeem(code, verifier)
		if tr.status != 200 {
			t.Fatalf("redeem: %+v", tr)
		}
		refreshed := u.refresh(tr.Refresh)
		if refreshed.status != 200 {
			t.Fatalf("refresh: %+v", refreshed)
		}
		d.requireWorks(t, tr.Access, refreshed.Access)
		if again := u.redeem(code, verifier); again.status != 400 || again.Error != "invalid_grant" {
			t.Fatalf("replay: %+v", again)
		}
		d.requireRefused(t, true, tr.Access, refreshed.Access)
	})
	t.Run("consent withdrawal", func(t *testing.T) {
		u := newOAuthUser(t, d.issuer)
		tr := u.signIn()
		other := newOAuthUser(t, d.issuer) // another client of the same user keeps working
		ot := other.signIn()
		d.requireWorks(t, tr.Access, ot.Access)
		u.withdrawConsent()
		d.requireRefused(t, true, tr.Access)
		d.requireWorks(t, ot.Access)
		if r := u.refresh(tr.Refresh); r.status != 400 {
			t.Fatalf("refresh after withdrawal: %+v", r)
		}
	})
	if withCLI {
		// Last: it disables the only user.
		t.Run("mcpfort users disable", func(t *testing.T) {
			u := newOAuthUser(t, d.issuer)
			tr := u.signIn()
			d.requireWorks(t, tr.Access)
			usersDisable(t, d.cfgPath, revUser)
			d.requireRefused(t, false, tr.Access)
		})
	}
}

// TestRevocationReachesGatewayOneProcess: the embedded server's
// revocations are refused by the gateway of the same process on the next
// request. ("users disable" from another process reaches a server without
// Redis only when the tokens expire: see TestRevocationReachesReplicas.)
func TestRevocationReachesGatewayOneProcess(t *testing.T) {
	revEnv(t)
	revocationAttacks(t, oneProcess(t), false)
}

// TestRevocationReachesReplicas: with two replicas sharing PostgreSQL
// and Redis, a revocation made through one is refused by the other within
// a second, and "mcpfort users disable" reaches both.
func TestRevocationReachesReplicas(t *testing.T) {
	revEnv(t)
	revocationAttacks(t, twoReplicas(t, redisURL, "3s"), true)
}

// tcpProxy forwards connections to Redis until it is stopped: a Redis
// outage, as the replicas see it.
type tcpProxy struct {
	addr string
	mu   sync.Mutex
	ln   net.Listener
	conn []net.Conn
}

func (p *tcpProxy) start(t *testing.T) {
	t.Helper()
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", "127.0.0.1:6379")
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conn = append(p.conn, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
	}
	for _, c := range p.conn {
		c.Close()
	}
	p.conn = nil
}

// TestRevocationFeedDown: when a replica cannot read the revocation
// stream, it refuses the embedded server's tokens with 503 once the feed
// is staler than state.revocation_max_staleness (it cannot know whether
// they were revoked), and accepts them again once Redis is back.
func TestRevocationFeedDown(t *testing.T) {
	revEnv(t)
	proxy := &tcpProxy{}
	proxy.start(t)
	defer proxy.stop()
	d := twoReplicas(t, "redis://"+proxy.addr+"/0", "1s")
	u := newOAuthUser(t, d.issuer)
	tr := u.signIn()
	d.requireWorks(t, tr.Access)

	proxy.stop()
	start := time.Now()
	for _, r := range d.replicas {
		for {
			st := d.gatewayStatus(t, r, tr.Access)
			if st == 503 {
				break
			}
			if st != 200 || time.Since(start) > 2500*time.Millisecond {
				t.Fatalf("Redis down for %v: %s answers %d, want 503", time.Since(start), r, st)
			}
		}
	}
	// The bound counts from the last read that succeeded, up to one poll
	// (250ms), Redis's timer granularity (100ms) and, on a loaded machine,
	// some scheduling delay before the outage: refusal comes well after
	// the outage began, never at once.
	if stale := time.Since(start); stale < 250*time.Millisecond {
		t.Errorf("tokens refused %v after the outage began, well before the staleness bound", stale)
	}
	// A revocation during the outage cannot be passed on: RFC 7009 says
	// 503, and the client must assume the token still exists.
	if r := u.post("/revoke", url.Values{"token": {tr.Access}}); r.status != 503 {
		t.Errorf("revocation with Redis down: %+v, want 503", r)
	}

	proxy.start(t) // same address
	deadline := time.Now().Add(5 * time.Second)
	// Revoked during the outage: still refused once the replicas are
	// current again (the issuing replica applied it at once, and the
	// client retries the revocation, which now reaches the other). The
	// Redis client's breaker lets commands through again within its
	// cooldown (1s) of Redis answering: until then the revocation is 503
	// and the client retries, as RFC 7009 section 2.2.1 expects.
	for {
		r := u.post("/revoke", url.Values{"token": {tr.Access}})
		if r.status == 200 {
			break
		}
		if r.status != 503 || time.Now().After(deadline) {
			t.Fatalf("revocation once Redis is back: %+v", r)
		}
		time.Sleep(50 * time.Millisecond) // a client's retry interval
	}
	fresh := u.signIn()
	for _, r := range d.replicas {
		for {
			if d.gatewayStatus(t, r, fresh.Access) == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Redis back: %s still refuses a valid token", r)
			}
		}
	}
	d.requireRefused(t, true, tr.Access)
}

// TestRevocationSurvivesRestart: one process without Redis. Tokens
// revoked before a restart stay refused after it, and so do the tokens of
// a user disabled from the command line while the server was down.
func TestRevocationSurvivesRestart(t *testing.T) {
	revEnv(t)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := revConfig(t, listen, "http://"+listen, "sqlite", "", "")
	d := &revDeployment{issuer: "http://" + listen, replicas: []string{"http://" + listen}, cfgPath: p}
	run := func() func() {
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		_, stop := start(t, cfg)
		return stop
	}
	stop := run()
	u := newOAuthUser(t, d.issuer)
	a := u.signIn()
	u.revoke(a.Access)
	b := u.signIn()
	b2 := u.refresh(b.Refresh)
	if b2.status != 200 {
		t.Fatalf("refresh: %+v", b2)
	}
	u.revoke(b2.Refresh) // the family: b and b2
	c := u.signIn()
	d.requireRefused(t, true, a.Access, b.Access, b2.Access)
	d.requireWorks(t, c.Access)
	stop()

	stop = run()
	d.requireRefused(t, true, a.Access, b.Access, b2.Access)
	d.requireWorks(t, c.Access)
	stop()

	usersDisable(t, p, revUser)
	stop = run()
	defer stop()
	d.requireRefused(t, true, c.Access)
}
