package authserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/storage/redis"
)

// Attacks on password sign-in, performed over HTTP against a running
// authorization server. Each counts the password checks that reached
// argon2id through a hook around the verification.

// hashMeter counts password checks, tracks how many run at once, and can
// hold them until the attack has played out.
type hashMeter struct {
	n, inFlight, peak atomic.Int64
	// release, if set, is closed when held checks may finish.
	release chan struct{}
}

// meterHashes wraps the server's password verification. Checks of a wrong
// password are counted and answered without running argon2id (the count
// is the point); real ones run, so a correct password still signs in.
func meterHashes(e *env, hold bool) *hashMeter {
	m := &hashMeter{}
	if hold {
		m.release = make(chan struct{})
	}
	e.srv.verifyPassword = func(hash, password string) (bool, error) {
		m.n.Add(1)
		cur := m.inFlight.Add(1)
		defer m.inFlight.Add(-1)
		for {
			p := m.peak.Load()
			if cur <= p || m.peak.CompareAndSwap(p, cur) {
				break
			}
		}
		if m.release != nil {
			select {
			case <-m.release:
			case <-time.After(20 * time.Second):
			}
		}
		if password != userPass {
			return false, nil
		}
		return VerifyPassword(hash, password)
	}
	return m
}

// signInForm opens the sign-in page of a fresh authorization request.
type signInForm struct {
	e         *env
	b         *http.Client
	csrf, req string
}

func openSignIn(t *testing.T, e *env) *signInForm {
	t.Helper()
	b := e.browser()
	_, c := pkce()
	resp, err := b.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c).Encode())
	if err != nil {
		t.Fatal(err)
	}
	csrf, req := formFields(t, readBody(t, resp))
	return &signInForm{e: e, b: b, csrf: csrf, req: req}
}

type answer struct {
	status     int
	retryAfter string
	body       string
	err        error
}

// try posts one sign-in; header adds request headers (the test client
// address, a forwarding header). Safe for concurrent use.
func (f *signInForm) try(username, password string, header map[string]string) answer {
	v := url.Values{"csrf": {f.csrf}, "request": {f.req}, "username": {username}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, f.e.url(f.e.srv.endpoints.login), strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.e.srv.origin)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.b.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(body), err: err}
}

// testClientIP takes the client address from a test header, so that one
// loopback test can speak for many addresses.
func testClientIP(r *http.Request) string { return r.Header.Get("X-Test-Client") }

func from(ip string) map[string]string { return map[string]string{"X-Test-Client": ip} }

// concurrently runs n attempts at once. With a holding meter, checks are
// held until every attempt has either reached a check or been answered,
// so that no attempt is counted before the others were let in.
func concurrently(t *testing.T, m *hashMeter, n int, attempt func(i int) answer) []answer {
	t.Helper()
	out := make([]answer, n)
	var answered atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out[i] = attempt(i)
			answered.Add(1)
		})
	}
	if m != nil && m.release != nil {
		deadline := time.Now().Add(15 * time.Second)
		for answered.Load()+m.inFlight.Load() < int64(n) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		close(m.release)
	}
	wg.Wait()
	for i, a := range out {
		if a.err != nil {
			t.Fatalf("attempt %d: %v", i, a.err)
		}
	}
	return out
}

func statuses(as []answer) map[int]int {
	m := map[int]int{}
	for _, a := range as {
		m[a.status]++
	}
	return m
}

// TestAttackConcurrentGuesses: 40 wrong passwords for one account, sent
// at once from one address, with a limit of 5. Counting after the check
// let all 40 through; counting first evaluates at most 5.
func TestAttackConcurrentGuesses(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.LoginRateLimit = 5; o.MaxConcurrentPasswordHashes = 64 })
	m := meterHashes(e, true)
	f := openSignIn(t, e)
	got := concurrently(t, m, 40, func(i int) answer { return f.try(userName, fmt.Sprintf("guess-%d", i), nil) })
	if n := m.n.Load(); n > 5 {
		t.Fatalf("%d of 40 concurrent guesses reached the password check, limit 5 (statuses %v)", n, statuses(got))
	}
	st := statuses(got)
	if st[http.StatusUnauthorized] != int(m.n.Load()) || st[http.StatusTooManyRequests] != 40-int(m.n.Load()) {
		t.Fatalf("statuses %v for %d checks", st, m.n.Load())
	}
	for _, a := range got {
		if a.status == http.StatusTooManyRequests && (a.retryAfter == "" || !strings.Contains(a.body, "Too many sign-in attempts")) {
			t.Fatalf("429 without Retry-After or message: %q", a.retryAfter)
		}
	}
	// The right password is refused too while the limit holds.
	if a := f.try(userName, userPass, nil); a.status != http.StatusTooManyRequests {
		t.Fatalf("right password during the block: %d", a.status)
	}
}

// TestAttackOneAccountManyAddresses: guesses against one username from
// 30 addresses are capped per account, for an unknown username exactly as
// for a real one (the answers do not tell them apart).
func TestAttackOneAccountManyAddresses(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ClientIP = testClientIP; o.LoginAccountRateLimit = 5 })
	m := meterHashes(e, false)
	f := openSignIn(t, e)
	var seq [2][]int
	for k, user := range []string{userName, "nobody-by-this-name"} {
		before := m.n.Load()
		for i := range 30 {
			seq[k] = append(seq[k], f.try(user, "guess", from(fmt.Sprintf("198.51.100.%d", i+1+k*50))).status)
		}
		if n := m.n.Load() - before; n > 5 {
			t.Fatalf("%s: %d of 30 guesses from different addresses reached the password check, account limit 5", user, n)
		}
	}
	if fmt.Sprint(seq[0]) != fmt.Sprint(seq[1]) {
		t.Fatalf("a known and an unknown username are answered differently:\n%v\n%v", seq[0], seq[1])
	}
	// Another account is unaffected.
	if a := f.try("bob", "guess", from("198.51.100.200")); a.status != http.StatusUnauthorized {
		t.Fatalf("another account: %d", a.status)
	}
}

// TestAttackIPv6Prefix: addresses of one /64 share a bucket; another /64
// does not.
func TestAttackIPv6Prefix(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ClientIP = testClientIP; o.LoginRateLimit = 3 })
	m := meterHashes(e, false)
	f := openSignIn(t, e)
	for i := range 20 {
		f.try(fmt.Sprintf("user%d", i), "guess", from(fmt.Sprintf("2001:db8:1:2:%x::%x", i, i+1)))
	}
	if n := m.n.Load(); n > 3 {
		t.Fatalf("%d guesses from one /64 reached the password check, limit 3", n)
	}
	if a := f.try("other", "guess", from("2001:db8:1:3::1")); a.status != http.StatusUnauthorized {
		t.Fatalf("another /64: %d", a.status)
	}
	if a := f.try("other2", "guess", from("2001:db8:1:2::ffff")); a.status != http.StatusTooManyRequests {
		t.Fatalf("the blocked /64: %d", a.status)
	}
}

// TestAttackFullTable: once the per-address table is full, a new address
// is still limited, and addresses at their limit stay blocked however
// many new ones arrive.
func TestAttackFullTable(t *testing.T) {
	t.Run("full of active addresses", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.ClientIP = testClientIP; o.LoginRateLimit = 3 })
		m := meterHashes(e, false)
		f := openSignIn(t, e)
		capacity := fillLoginIPTable(t, e, false)
		for i := range 20 {
			f.try(fmt.Sprintf("user%d", i), "guess", from("203.0.113.7"))
		}
		if n := m.n.Load(); n > 3 {
			t.Fatalf("a full table let %d guesses from a new address through, limit 3", n)
		}
		if n := loginIPTableLen(e); n > capacity {
			t.Fatalf("table grew to %d keys, capacity %d", n, capacity)
		}
	})
	t.Run("full of blocked addresses", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.ClientIP = testClientIP; o.LoginRateLimit = 3 })
		m := meterHashes(e, false)
		f := openSignIn(t, e)
		// One address is blocked the ordinary way, first (the oldest).
		for i := range 3 {
			f.try(fmt.Sprintf("user%d", i), "guess", from("192.0.2.1"))
		}
		capacity := fillLoginIPTable(t, e, true)
		m.n.Store(0)
		for i := range 20 {
			a := f.try(fmt.Sprintf("user%d", i), "guess", from(fmt.Sprintf("203.0.113.%d", i)))
			if a.status != http.StatusTooManyRequests || a.retryAfter == "" {
				t.Fatalf("new address into a table of blocked ones: %d", a.status)
			}
		}
		if a := f.try("userx", "guess", from("192.0.2.1")); a.status != http.StatusTooManyRequests {
			t.Fatalf("a blocked address was forgotten: %d", a.status)
		}
		if n := m.n.Load(); n != 0 {
			t.Fatalf("%d guesses reached the password check", n)
		}
		if n := loginIPTableLen(e); n > capacity {
			t.Fatalf("table grew to %d keys, capacity %d", n, capacity)
		}
		// When the windows end, new addresses get in again.
		e.clock.Advance(61 * time.Second)
		if a := f.try("userx", "guess", from("203.0.113.250")); a.status != http.StatusUnauthorized {
			t.Fatalf("after the windows ended: %d", a.status)
		}
	})
}

// TestAttackHashCap: more concurrent sign-ins than password-check slots
// are turned away at once with 503 and Retry-After; no more checks (19 MiB
// each) run at once than the cap, so memory stays bounded.
func TestAttackHashCap(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ClientIP = testClientIP; o.MaxConcurrentPasswordHashes = 2 })
	m := meterHashes(e, true)
	f := openSignIn(t, e)
	got := concurrently(t, m, 12, func(i int) answer {
		return f.try(fmt.Sprintf("user%d", i), "guess", from(fmt.Sprintf("198.51.100.%d", i+1)))
	})
	if p := m.peak.Load(); p > 2 {
		t.Fatalf("%d password checks ran at once, cap 2", p)
	}
	st := statuses(got)
	if st[http.StatusServiceUnavailable] != 10 || st[http.StatusUnauthorized] != 2 {
		t.Fatalf("statuses %v, want 10×503 and 2×401", st)
	}
	for _, a := range got {
		if a.status == http.StatusServiceUnavailable && (a.retryAfter == "" || !strings.Contains(a.body, "Sign-in is busy")) {
			t.Fatalf("503 without Retry-After or message")
		}
	}
	// Turned away unchecked, the attempts were not counted: the same
	// addresses may try again.
	m.release = nil
	for i := range 12 {
		if a := f.try(fmt.Sprintf("user%d", i), "guess", from(fmt.Sprintf("198.51.100.%d", i+1))); a.status != http.StatusUnauthorized {
			t.Fatalf("retry %d: %d", i, a.status)
		}
	}
	if a := f.try(userName, userPass, from("198.51.100.1")); a.status != http.StatusFound && a.status != http.StatusOK {
		t.Fatalf("right password after the burst: %d", a.status)
	}
}

// TestAttackReplicasShareRedis: two replicas sharing Redis apply one
// limit between them, also to guesses sent at once to both.
func TestAttackReplicasShareRedis(t *testing.T) {
	prefix := fmt.Sprintf("mcpfort:test:%d:", time.Now().UnixNano())
	counter := func(t *testing.T) *redis.Counter {
		rdb, err := redis.NewClient(redis.ClientOptions{URL: "redis://127.0.0.1:6379/0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		return redis.NewCounter(rdb, redis.CounterOptions{KeyPrefix: prefix})
	}
	probe := counter(t)
	if _, _, err := probe.Take(context.Background(), "probe", 1, time.Second); err != nil {
		t.Fatalf("Redis on 127.0.0.1:6379: %v", err)
	}
	var envs [2]*env
	var meters [2]*hashMeter
	var forms [2]*signInForm
	release := make(chan struct{})
	for i := range 2 {
		envs[i] = newEnv(t, func(o *Options) {
			o.LoginRateLimit = 6
			o.MaxConcurrentPasswordHashes = 64
			o.RateLimiter = counter(t)
		})
		meters[i] = meterHashes(envs[i], true)
		meters[i].release = release
		forms[i] = openSignIn(t, envs[i])
	}
	var answered atomic.Int64
	out := make([]answer, 40)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() { out[i] = forms[i%2].try(userName, fmt.Sprintf("guess-%d", i), nil); answered.Add(1) })
	}
	deadline := time.Now().Add(15 * time.Second)
	for answered.Load()+meters[0].inFlight.Load()+meters[1].inFlight.Load() < 40 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := meters[0].n.Load() + meters[1].n.Load(); n > 6 {
		t.Fatalf("%d of 40 guesses across two replicas reached the password check, limit 6 (statuses %v)", n, statuses(out))
	}
}

// TestAttackRedisDown: with the shared counter unreachable, sign-in fails
// closed: 503 at once, no password checked, nothing about Redis shown.
func TestAttackRedisDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rdb, err := redis.NewClient(redis.ClientOptions{URL: "redis://" + addr + "/0", Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	c := redis.NewCounter(rdb, redis.CounterOptions{})
	e := newEnv(t, func(o *Options) { o.RateLimiter = c })
	m := meterHashes(e, false)
	f := openSignIn(t, e)
	for _, pw := range []string{"guess", userPass} {
		a := f.try(userName, pw, nil)
		if a.status != http.StatusServiceUnavailable || a.retryAfter == "" || strings.Contains(strings.ToLower(a.body), "redis") || !strings.Contains(a.body, "Sign-in is busy") {
			t.Fatalf("sign-in with Redis down: %d %q", a.status, a.retryAfter)
		}
	}
	if n := m.n.Load(); n != 0 {
		t.Fatalf("%d passwords checked without a count", n)
	}
}
