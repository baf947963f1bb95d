package cluster

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// What the test holds the cluster to.
const (
	// recoveryBound: every failure a fault explains ends within this time
	// after the fault is over (the replica is back, or the store answers
	// again), and every kind of client has succeeded again by then.
	recoveryBound = 10 * time.Second
	// steady is the traffic after the last fault, which must be free of
	// failures once recoveryBound has passed.
	steady = 15 * time.Second
	// gap separates the faults, so that each one's recovery is seen alone.
	gap = recoveryBound + 2*time.Second

	// The rate limit of the "limited" route, shared by every caller and
	// every replica (by: [server]): rlLimit calls per rlPeriod, rlBurst at
	// once.
	rlLimit  = 60
	rlPeriod = time.Minute
	rlBurst  = 5
)

// Clients per group: 200 in all.
var groups = []struct {
	era, route string
	n          int
}{
	{"legacy", "http", 50},
	{"legacy", "stdio", 50},
	{"modern", "http", 45},
	{"modern", "stdio", 45},
	{"modern", "limited", 10},
}

// fault is one disturbance: from start (the signal, the stop) to end (the
// part is back and answering).
type fault struct {
	name       string
	start, end time.Duration
	causes     []string // failure classes it may explain (prefixes)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TestClusterUnderFaults: three replicas of the mcpfort binary on a
// private PostgreSQL and Redis behind HAProxy (round robin, no
// stickiness), 200 clients in both eras on an HTTP and a stdio upstream,
// while one replica is killed (SIGKILL) and restarted, another stopped
// (SIGTERM) and restarted, Redis is stopped for 5 s and PostgreSQL is
// restarted. Then: every call a client saw succeed is in the audit log
// exactly once and nothing is in it twice, the chain verifies against the
// signed heads of all replicas, no client got a wrong answer, every
// failure falls within a fault that explains it and was a clean HTTP or
// JSON-RPC error, the rate limit held across replicas, and every kind of
// client is served again within recoveryBound of each fault.
func TestClusterUnderFaults(t *testing.T) {
	if os.Getenv("MCPFORT_CLUSTER") == "" {
		t.Skip("the cluster fault test (about 2 minutes; HAProxy, redis-server and PostgreSQL binaries) runs with make test-cluster, or MCPFORT_CLUSTER=1")
	}
	for _, bin := range []string{"haproxy", "redis-server", "runuser"} {
		if _, err := exec.LookPath(bin); err != nil && (bin != "runuser" || os.Geteuid() == 0) {
			t.Fatalf("%s is needed: %v", bin, err)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	buildBinaries(t, bin)
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(logs, 0o700)
	var procs []*proc
	t.Cleanup(func() {
		for _, p := range procs {
			p.stop()
		}
		killStrays(bin)
	})
	launch := func(p *proc) *proc {
		p.log = filepath.Join(logs, p.name+".log")
		p.start(t)
		procs = append(procs, p)
		return p
	}

	// Stores and upstream.
	pg := startPostgres(t)
	redisPort := freePort(t)
	redis := launch(&proc{name: "redis", argv: []string{"redis-server", "--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir}})
	if !waitFor(10*time.Second, func() bool { return tcpOpen(redisPort) }) {
		t.Fatalf("redis did not start:\n%s", redis.tail(20))
	}
	upPort := freePort(t)
	up := launch(&proc{name: "upstream", argv: []string{filepath.Join(bin, "mcpfort-everything"), "-http", fmt.Sprintf("127.0.0.1:%d", upPort), "-watch-interval", "0"}})
	if !waitFor(10*time.Second, func() bool { return httpOK(fmt.Sprintf("http://127.0.0.1:%d/health", upPort)) }) {
		t.Fatalf("upstream did not start:\n%s", up.tail(20))
	}

	// Three replicas.
	env := []string{"MCPFORT_CLUSTER_SESSION_SECRET=" + randomHex(32), "MCPFORT_CLUSTER_AUDIT_KEY=" + randomHex(32)}
	var replicas []*proc
	var ports []int
	var configs []string
	for i := 0; i < 3; i++ {
		port := freePort(t)
		stateDir := filepath.Join(dir, fmt.Sprintf("r%d", i))
		os.MkdirAll(stateDir, 0o700)
		cfg := filepath.Join(stateDir, "mcpfort.yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen: 127.0.0.1:%[1]d
log: {level: warn, format: json}
observability: {access_log: false}
state:
  dir: %[2]q
  database: %[3]q
  redis: "redis://127.0.0.1:%[4]d/0"
  replica_url: "http://127.0.0.1:%[1]d"
sessions: {secrets: [{env: MCPFORT_CLUSTER_SESSION_SECRET}]}
audit: {key: {env: MCPFORT_CLUSTER_AUDIT_KEY}, heads: {interval: 5s}, record_results: true}
http: {shutdown_grace: 10s, trusted_proxies: [127.0.0.1]}
servers:
  - name: remote
    path: /http/mcp
    http: {url: "http://127.0.0.1:%[5]d/mcp"}
  - name: local
    path: /stdio/mcp
    stdio: {command: [%[6]q, -watch-interval, "0"], isolation: per_session}
  - name: limited
    path: /limited/mcp
    http: {url: "http://127.0.0.1:%[5]d/mcp"}
    policies:
      rate_limits: [{name: cluster, by: [server], limit: %[7]d, period: %[8]s, burst: %[9]d, methods: [tools/call]}]
`, port, stateDir, pg.url(), redisPort, upPort, filepath.Join(bin, "mcpfort-everything"), rlLimit, rlPeriod, rlBurst)), 0o600)
		r := launch(&proc{name: fmt.Sprintf("r%d", i), argv: []string{filepath.Join(bin, "mcpfort"), "serve", "--config", cfg}, env: env})
		replicas, ports, configs = append(replicas, r), append(ports, port), append(configs, cfg)
	}
	healthy := func(i int) bool { return httpOK(fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[i])) }
	for i := range replicas {
		if !waitFor(30*time.Second, func() bool { return healthy(i) }) {
			t.Fatalf("replica %d is not ready:\n%s", i, replicas[i].tail(30))
		}
	}
	lbPort := freePort(t)
	hcfg := filepath.Join(dir, "haproxy.cfg")
	os.WriteFile(hcfg, []byte(haproxyConfig(lbPort, ports)), 0o600)
	lb := launch(&proc{name: "haproxy", argv: []string{"haproxy", "-db", "-f", hcfg}})
	lbURL := fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	if !waitFor(10*time.Second, func() bool { return httpOK(lbURL + "/healthz") }) {
		t.Fatalf("haproxy did not start:\n%s", lb.tail(20))
	}
	time.Sleep(1500 * time.Millisecond) // every replica up in HAProxy's view

	// Traffic.
	think := 300 * time.Millisecond
	if s := os.Getenv("MCPFORT_CLUSTER_THINK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		think = d
	}
	tr := &http.Transport{MaxIdleConns: 1000, MaxIdleConnsPerHost: 1000, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	runID := randomHex(4)
	j := &journal{t0: time.Now()}
	var stop atomic.Bool
	var wg sync.WaitGroup
	n := 0
	for _, g := range groups {
		group := g.era + "/" + g.route
		url := lbURL + "/" + g.route + "/mcp"
		for i := 0; i < g.n; i++ {
			n++
			wg.Add(1)
			go func(id int, delay time.Duration) {
				defer wg.Done()
				time.Sleep(delay) // a ramp over the first 2 s
				if g.era == "legacy" {
					legacyClient(tr, url, group, id, runID, think, &stop, j)
				} else {
					ct := think
					if g.route == "limited" {
						ct = think / 3
					}
					modernClient(hc, url, group, id, runID, ct, &stop, j)
				}
			}(i, time.Duration(n)*10*time.Millisecond)
		}
	}

	// The faults, one after another.
	var faults []fault
	sleepUntil := func(at time.Duration) { time.Sleep(at - j.since()) }
	restartReplica := func(i int) {
		replicas[i].start(t)
		if !waitFor(30*time.Second, func() bool { return healthy(i) }) {
			t.Errorf("replica %d did not come back:\n%s", i, replicas[i].tail(30))
		}
	}
	// A replica starting again competes for the machine's two cores with
	// the others and 200 clients: a Redis reply to another replica may
	// then take longer than the session denylist's 250 ms, and a legacy
	// call there is refused with 503 -31001 (fail closed). Seen only
	// within a restart, on a heavily loaded machine.
	starved := "HTTP 503, JSON-RPC -31001"
	connLoss := []string{starved, "HTTP 404 session gone", "initialize: HTTP 404", "HTTP 502", "HTTP 503, not JSON-RPC", "transport error", "stream cut", "body cut", "connection closed", "initialize: connection closed", "other:"}

	sleepUntil(8 * time.Second)
	f := fault{name: "SIGKILL replica 1, restart after 2 s", start: j.since(), causes: connLoss}
	replicas[1].signal(syscall.SIGKILL)
	replicas[1].wait(5 * time.Second)
	time.Sleep(2 * time.Second)
	restartReplica(1)
	f.end = j.since()
	faults = append(faults, f)

	sleepUntil(f.end + gap)
	// A graceful stop costs the replica's stdio sessions: 404, or, when
	// the go-sdk client's GET stream cannot be reopened, a session the
	// client closes itself ("connection closed"). Requests in flight
	// finish and streams end cleanly; but the proxy, which checks /healthz, learns of the stop
	// only when connections are refused, and requests that reach the
	// replica as it stops may see their connection closed without an
	// answer (seen once, under heavy load). A call whose answer stream
	// the stopping replica ends (Drain) before the answer came: a
	// 2026-07-28 client gets -31001 in band (its era has no resumption),
	// a go-sdk client whose stream had no event id yet cannot resume it
	// ("request terminated without response"); both seen at load
	// average 20 to 25, 3 to 5 a run, before a reply closed between two
	// reads could still deliver the answer it held; none since.
	f = fault{name: "SIGTERM replica 2, restart once it exited", start: j.since(), causes: []string{"HTTP 404 session gone", "initialize: HTTP 404",
		"connection closed", "transport error: EOF", "initialize: transport error: EOF", starved,
		"HTTP 200, JSON-RPC -31001", `other: calling "tools/call": request terminated without response`}}
	replicas[2].signal(syscall.SIGTERM)
	if !replicas[2].wait(20 * time.Second) {
		t.Errorf("replica 2 did not exit within 20 s of SIGTERM")
	}
	restartReplica(2)
	f.end = j.since()
	faults = append(faults, f)

	sleepUntil(f.end + gap)
	f = fault{name: "Redis down for 5 s", start: j.since(), causes: []string{"HTTP 503, JSON-RPC -3100", "initialize: HTTP 503, JSON-RPC -3100"}}
	redis.signal(syscall.SIGKILL)
	redis.wait(5 * time.Second)
	time.Sleep(5 * time.Second)
	redis.start(t)
	if !waitFor(10*time.Second, func() bool { return tcpOpen(redisPort) }) {
		t.Errorf("redis did not come back:\n%s", redis.tail(20))
	}
	f.end = j.since()
	faults = append(faults, f)

	sleepUntil(f.end + gap)
	f = fault{name: "PostgreSQL restarted (fast)", start: j.since(), causes: []string{"HTTP 503, JSON-RPC -3100", "initialize: HTTP 503, JSON-RPC -3100"}}
	if err := pg.restart(); err != nil {
		t.Error(err)
	}
	f.end = j.since()
	faults = append(faults, f)

	sleepUntil(f.end + steady)
	stop.Store(true)
	trafficEnd := j.since()
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(callTimeout + 5*time.Second):
		t.Errorf("clients did not finish within %v of the end", callTimeout+5*time.Second)
	}

	// Every replica stops gracefully, writing its records and last head.
	for i, r := range replicas {
		r.signal(syscall.SIGTERM)
		if !r.wait(20 * time.Second) {
			t.Errorf("replica %d did not exit within 20 s of SIGTERM", i)
		}
	}

	j.mu.Lock()
	calls := append([]call(nil), j.calls...)
	j.mu.Unlock()
	checkAudit(t, bin, configs, env, calls)
	rep := analyse(t, calls, faults, trafficEnd)
	t.Logf("\n%s", rep)
	if p := os.Getenv("MCPFORT_CLUSTER_REPORT"); p != "" {
		os.WriteFile(p, []byte(rep), 0o644)
	}
	if keep := os.Getenv("MCPFORT_CLUSTER_LOGS"); keep != "" {
		exec.Command("cp", "-r", logs, keep).Run()
	}
	if t.Failed() {
		for _, r := range replicas {
			t.Logf("%s log tail:\n%s", r.name, r.tail(15))
		}
	}
}

// checkAudit exports the audit log through the mcpfort command, checks
// that every call a client saw succeed is in it exactly once and that no
// echo text is recorded twice, and verifies the chain against the signed
// heads of every replica.
func checkAudit(t *testing.T, bin string, configs, env []string, calls []call) {
	t.Helper()
	dir := filepath.Dir(configs[0])
	export := filepath.Join(dir, "audit.jsonl")
	cmd := exec.Command(filepath.Join(bin, "mcpfort"), "audit", "export", "--config", configs[0], "--output", export)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mcpfort audit export: %v\n%s", err, out)
	}
	f, err := os.Open(export)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type rec struct {
		Method    string `json:"method"`
		Tool      string `json:"tool"`
		ArgsHash  string `json:"args_hash"`
		Status    string `json:"status"`
		Result    string `json:"result"`
		AnswerKey string `json:"answer_key"`
	}
	// A call is in the log as the record of the replica that received it
	// (found by its arguments' hash) and as the record of its answer (found
	// by the echoed text in the recorded result): the same record, unless
	// the answer reached the client on a stream resumed at another
	// replica, which then recorded it.
	seen := map[string][]string{} // args hash: statuses
	answers := map[string][]string{}
	records, keyed := 0, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("export line: %v", err)
		}
		records++
		if r.AnswerKey != "" {
			keyed++
		}
		if r.Method == "tools/call" && r.Tool == "echo" {
			seen[r.ArgsHash] = append(seen[r.ArgsHash], r.Status)
		}
		var res struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		}
		if r.Result != "" && json.Unmarshal([]byte(r.Result), &res) == nil && len(res.Content) == 1 && res.Content[0].Text != "" {
			answers[res.Content[0].Text] = append(answers[res.Content[0].Text], r.Status)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var missing, twice, notOK, unreceived, incomplete, resumed, byResumer int
	for _, c := range calls {
		if !c.ok || c.msg == "" {
			continue
		}
		if c.resumed {
			resumed++
		}
		sum := sha256.Sum256([]byte(`{"text":"` + c.msg + `"}`))
		st := seen["sha256:"+hex.EncodeToString(sum[:])]
		ans := answers[c.msg]
		switch {
		case len(ans) == 0:
			if missing++; missing <= 5 {
				t.Errorf("audit: the successful call %q (%s, %v-%v, resumed %v) is not in the log (records by its arguments: %v)", c.msg, c.group, c.start, c.end, c.resumed, st)
			}
		case len(ans) > 1:
			if twice++; twice <= 5 {
				t.Errorf("audit: the answer to the successful call %q is in the log %d times (%v)", c.msg, len(ans), ans)
			}
		case ans[0] != "ok":
			if notOK++; notOK <= 5 {
				t.Errorf("audit: the successful call %q is recorded as %q", c.msg, ans[0])
			}
		}
		switch {
		case len(st) == 0 && !c.resumed:
			// Only a replica killed before it recorded the call leaves
			// it without a record of its own, and then the client can
			// have its answer only on a resumed stream.
			if unreceived++; unreceived <= 5 {
				t.Errorf("audit: the successful call %q (%s, %v-%v) has no record of the replica that received it", c.msg, c.group, c.start, c.end)
			}
		case len(st) == 1 && st[0] != "ok" && !c.resumed:
			// A replica that ended the call's stream (incomplete) although
			// the client got the answer from it directly.
			if incomplete++; incomplete <= 5 {
				t.Errorf("audit: the call %q, answered directly, is recorded as %q by the replica that received it", c.msg, st[0])
			}
		}
		if c.resumed && (len(st) == 0 || st[0] != "ok") {
			byResumer++
		}
	}
	dups := 0
	for _, st := range seen {
		if len(st) > 1 {
			dups++
		}
	}
	t.Logf("audit: %d records (%d with an answer key), %d echo calls; successful calls missing %d, answered twice %d, not ok %d, without the receiving replica's record %d, recorded incomplete though answered directly %d; echo texts received more than once: %d; answered on resumed streams %d, of which recorded by the replica that resumed the stream %d",
		records, keyed, len(seen), missing, twice, notOK, unreceived, incomplete, dups, resumed, byResumer)
	if dups > 0 {
		t.Errorf("audit: %d echo texts are recorded more than once (a call executed twice)", dups)
	}

	// The chain, against every replica's signed heads.
	var heads []byte
	for _, c := range configs {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(c), "audit-heads.jsonl"))
		if err != nil {
			t.Errorf("heads of %s: %v", c, err)
		}
		heads = append(heads, b...)
	}
	hp := filepath.Join(dir, "all-heads.jsonl")
	os.WriteFile(hp, heads, 0o600)
	cmd = exec.Command(filepath.Join(bin, "mcpfort"), "audit", "verify", "--config", configs[0], "--heads", hp)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "chain intact") {
		t.Errorf("mcpfort audit verify: %v\n%s", err, out)
	} else {
		t.Logf("mcpfort audit verify: %s", strings.TrimSpace(string(out)))
	}
}

// analyse checks the journal against the faults and returns the report.
func analyse(t *testing.T, calls []call, faults []fault, trafficEnd time.Duration) string {
	t.Helper()
	var b strings.Builder
	type count struct{ ok, limited, failed int }
	byGroup := map[string]*count{}
	failures := map[string]map[string]int{} // fault name: class: n
	unexplained := 0
	wrong := 0
	lastFailure := make([]time.Duration, len(faults))
	var admitted []time.Duration
	var rlFirst, rlLast time.Duration = -1, 0
	var journal *os.File
	if p := os.Getenv("MCPFORT_CLUSTER_FAILURES"); p != "" {
		journal, _ = os.Create(p)
		defer journal.Close()
	}
	for _, c := range calls {
		g := byGroup[c.group]
		if g == nil {
			g = &count{}
			byGroup[c.group] = g
		}
		if c.group == "modern/limited" && c.msg != "" {
			if rlFirst < 0 || c.start < rlFirst {
				rlFirst = c.start
			}
			rlLast = max(rlLast, c.end)
		}
		switch {
		case c.wrong != "":
			if wrong++; wrong <= 5 {
				t.Errorf("wrong answer (%s client %d): %s", c.group, c.client, c.wrong)
			}
		case c.ok:
			g.ok++
			if c.group == "modern/limited" {
				admitted = append(admitted, c.end)
			}
		case c.limited && c.group == "modern/limited":
			g.limited++
		default:
			g.failed++
			cause := ""
			// The latest fault that explains it.
			for i := len(faults) - 1; i >= 0; i-- {
				f := faults[i]
				if c.end >= f.start && c.start <= f.end+recoveryBound && explains(f, c.class) {
					cause = f.name
					lastFailure[i] = max(lastFailure[i], c.end)
					break
				}
			}
			if journal != nil {
				fmt.Fprintf(journal, "%.3f\t%.3f\t%s\t%d\t%s\t%s\t%s\n", c.start.Seconds(), c.end.Seconds(), c.group, c.client, cause, c.class, c.detail)
			}
			if cause == "" {
				cause = "UNEXPLAINED"
				if unexplained++; unexplained <= 10 {
					t.Errorf("failure outside any fault that explains it: %s client %d at %v-%v: %s (%s)", c.group, c.client, c.start, c.end, c.class, c.detail)
				}
			}
			if failures[cause] == nil {
				failures[cause] = map[string]int{}
			}
			failures[cause][c.class]++
		}
	}

	fmt.Fprintf(&b, "Traffic: %v, 200 clients\n\n", trafficEnd.Round(time.Second))
	fmt.Fprintf(&b, "| clients | calls ok | refused by the rate limit | failed |\n|---|---:|---:|---:|\n")
	var names []string
	for k := range byGroup {
		names = append(names, k)
	}
	sort.Strings(names)
	total := count{}
	for _, k := range names {
		g := byGroup[k]
		fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", k, g.ok, g.limited, g.failed)
		total.ok, total.limited, total.failed = total.ok+g.ok, total.limited+g.limited, total.failed+g.failed
	}
	fmt.Fprintf(&b, "| all | %d | %d | %d |\n\n", total.ok, total.limited, total.failed)

	fmt.Fprintf(&b, "| fault | failures by cause | last failure after the fault ended | every kind of client served again after |\n|---|---|---:|---:|\n")
	for i, f := range faults {
		var cs []string
		for cl, n := range failures[f.name] {
			cs = append(cs, fmt.Sprintf("%d %s", n, cl))
		}
		sort.Strings(cs)
		if len(cs) == 0 {
			cs = []string{"none"}
		}
		last := "-"
		if lastFailure[i] > 0 {
			last = fmt.Sprintf("%.1f s", max(0, (lastFailure[i]-f.end).Seconds()))
		}
		served := servedAgain(calls, f.end)
		fmt.Fprintf(&b, "| %s (%.1f s) | %s | %s | %.1f s |\n", f.name, (f.end - f.start).Seconds(), strings.Join(cs, "; "), last, served.Seconds())
		if served > recoveryBound {
			t.Errorf("after %q, some kind of client was not served again within %v (%v)", f.name, recoveryBound, served)
		}
	}
	if m := failures["UNEXPLAINED"]; m != nil {
		fmt.Fprintf(&b, "| none (unexplained) | %v | | |\n", m)
	}

	// The rate limit, across replicas: GCRA admits at most burst at once
	// plus one call per period/limit; Redis lost the buckets once (no
	// persistence), which is worth one more burst.
	window := rlLast - rlFirst
	bound := 2*rlBurst + int(window/(rlPeriod/rlLimit)) + 1
	fmt.Fprintf(&b, "\nRate limit %d/%v, burst %d, one bucket for every replica: %d calls admitted in %.1f s (bound %d)\n",
		rlLimit, rlPeriod, rlBurst, len(admitted), window.Seconds(), bound)
	if len(admitted) > bound {
		t.Errorf("the rate limit did not hold across replicas: %d admitted in %v, at most %d allowed", len(admitted), window, bound)
	}
	if len(admitted) < bound/2 {
		t.Errorf("the rate limit admitted only %d calls in %v (bound %d): refusing too much", len(admitted), window, bound)
	}
	if wrong > 0 {
		t.Errorf("%d wrong answers", wrong)
	}
	return b.String()
}

// explains reports whether a failure of this class is one the fault can
// cause.
func explains(f fault, class string) bool {
	for _, c := range f.causes {
		if strings.HasPrefix(class, c) {
			return true
		}
	}
	return false
}

// servedAgain is how long after at every group of clients had a call
// start and succeed.
func servedAgain(calls []call, at time.Duration) time.Duration {
	first := map[string]time.Duration{}
	groups := map[string]bool{}
	for _, c := range calls {
		groups[c.group] = true
		if c.ok && c.wrong == "" && c.start >= at {
			if v, ok := first[c.group]; !ok || c.end < v {
				first[c.group] = c.end
			}
		}
	}
	var worst time.Duration
	for g := range groups {
		v, ok := first[g]
		if !ok {
			return time.Hour
		}
		worst = max(worst, v-at)
	}
	return worst
}

// killStrays ends processes still running a binary of this test (stdio
// servers of a killed replica), by pid.
func killStrays(bin string) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, bin+string(filepath.Separator)) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
