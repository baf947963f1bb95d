package cluster

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one child process of the test, started in its own process
// group so that a signal reaches it alone.
type proc struct {
	name string
	argv []string
	env  []string
	log  string // file receiving stdout and stderr

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "---- %s start %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(p.argv, " "))
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
}

// signal sends sig to the process (not its group: mcpfort's own shutdown
// terminates its stdio servers).
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// wait waits for the process to exit, at most d; it reports whether it did.
func (p *proc) wait(d time.Duration) bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// stop ends the process for good (cleanup): SIGTERM, then SIGKILL of its
// group.
func (p *proc) stop() {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	p.signal(syscall.SIGTERM)
	if !p.wait(15 * time.Second) {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		p.wait(5 * time.Second)
	}
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls ok every 50 ms until it holds or d passes.
func waitFor(d time.Duration, ok func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if ok() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ok()
}

func httpOK(url string) bool {
	c := http.Client{Timeout: time.Second}
	r, err := c.Get(url)
	if err != nil {
		return false
	}
	r.Body.Close()
	return r.StatusCode == 200
}

func tcpOpen(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// repoRoot is the module root (this package is test/cluster).
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

// buildBinaries builds mcpfort and the upstream into dir.
func buildBinaries(t *testing.T, dir string) {
	t.Helper()
	for _, pkg := range []string{"mcpfort", "mcpfort-everything"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, pkg), "./cmd/"+pkg)
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/%s: %v\n%s", pkg, err, out)
		}
	}
}

// postgres is a private PostgreSQL cluster on a loopback port. PostgreSQL
// refuses to run as root, so as root the cluster belongs to the postgres
// user and its commands run through runuser.
type postgres struct {
	bin, data, port string
	asUser          string // "" to run as ourselves
	logFile         string
}

func pgBinDir(t *testing.T) string {
	t.Helper()
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(ms) > 0 {
		return filepath.Dir(ms[len(ms)-1])
	}
	p, err := exec.LookPath("pg_ctl")
	if err != nil {
		t.Fatal("no pg_ctl: install PostgreSQL")
	}
	p, _ = filepath.EvalSymlinks(p)
	return filepath.Dir(p)
}

func (pg *postgres) run(args ...string) ([]byte, error) {
	argv := append([]string{filepath.Join(pg.bin, args[0])}, args[1:]...)
	if pg.asUser != "" {
		argv = append([]string{"runuser", "-u", pg.asUser, "--"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

func startPostgres(t *testing.T) *postgres {
	t.Helper()
	pg := &postgres{bin: pgBinDir(t), port: strconv.Itoa(freePort(t))}
	base, err := os.MkdirTemp("", "mcpfort-cluster-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	pg.data = filepath.Join(base, "data")
	pg.logFile = filepath.Join(base, "postgres.log")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("PostgreSQL cannot run as root and there is no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatal(err)
		}
		pg.asUser = "postgres"
	}
	if out, err := pg.run("initdb", "-D", pg.data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nmax_connections = 200\nfsync = off\n", pg.port, base)
	f, err := os.OpenFile(filepath.Join(pg.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(conf)
	f.Close()
	if out, err := pg.run("pg_ctl", "-D", pg.data, "-l", pg.logFile, "-w", "-t", "30", "start"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	t.Cleanup(func() { pg.run("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop") })
	if out, err := pg.run("createdb", "-h", "127.0.0.1", "-p", pg.port, "-U", "postgres", "mcpfort"); err != nil {
		t.Fatalf("createdb: %v\n%s", err, out)
	}
	return pg
}

func (pg *postgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%s/mcpfort?sslmode=disable", pg.port)
}

// restart is a fast restart: open connections are ended, the server
// stops and starts again.
func (pg *postgres) restart() error {
	if out, err := pg.run("pg_ctl", "-D", pg.data, "-l", pg.logFile, "-m", "fast", "-w", "-t", "30", "restart"); err != nil {
		return fmt.Errorf("pg_ctl restart: %v: %s", err, out)
	}
	return nil
}

// haproxyConfig balances round robin without stickiness over the
// replicas, checking each on /healthz twice a second. A request whose
// connection to a replica fails goes to another one (redispatch); a
// request that reached a replica is never sent again, since a tools/call
// is not idempotent. Server connections close after each response
// (http-server-close): a replica that stops closes its idle connections,
// and a request the proxy sent on one at that moment could be neither
// answered nor retried.
func haproxyConfig(port int, replicas []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
	maxconn 4096
	log stdout format raw local0 info
defaults
	mode http
	log global
	option httplog
	timeout connect 1s
	timeout client 5m
	timeout server 5m
	timeout http-keep-alive 30s
	retries 3
	option redispatch 1
	option http-server-close
frontend mcp
	bind 127.0.0.1:%d
	default_backend replicas
backend replicas
	balance roundrobin
	option httpchk GET /healthz
	default-server inter 500ms fall 2 rise 2
`, port)
	for i, p := range replicas {
		fmt.Fprintf(&b, "\tserver r%d 127.0.0.1:%d check\n", i, p)
	}
	return b.String()
}
