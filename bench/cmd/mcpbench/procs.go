package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcpfort/mcpfort/bench/procstat"
)

// proc is a peer process the runner started.
type proc struct {
	name string
	cmd  *exec.Cmd
	url  string // MCP endpoint
	done chan struct{}

	mu   sync.Mutex
	tail []string              // last lines of its output, for error reports
	seen map[int]procstat.Stat // descendants ever sampled
	comm map[int]string
}

const tailLines = 20

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) addLine(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == tailLines {
		copy(p.tail, p.tail[1:])
		p.tail = p.tail[:tailLines-1]
	}
	p.tail = append(p.tail, s)
}

// Tail returns the last lines the process wrote.
func (p *proc) Tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// readyFunc inspects one output line and returns the MCP endpoint URL once
// the line says the process is ready.
type readyFunc func(line string) (string, bool)

// listeningOn matches the peers' "listening on http://ADDR/mcp" line.
var listeningOn = regexp.MustCompile(`listening on (http://\S+)`)

func readyListening(line string) (string, bool) {
	m := listeningOn.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// mcpfortListening matches mcpfort's JSON log line announcing its address.
var mcpfortListening = regexp.MustCompile(`"msg":"mcpfort listening".*"addr":"([^"]+)"`)

func readyMcpfort(path string) readyFunc {
	return func(line string) (string, bool) {
		m := mcpfortListening.FindStringSubmatch(line)
		if m == nil {
			return "", false
		}
		return "http://" + m[1] + path, true
	}
}

// startProc starts argv in its own process group and waits until ready
// reports its endpoint from a line of its output, or until timeout.
func startProc(ctx context.Context, name string, argv []string, env []string, dir string, ready readyFunc) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	// Its own process group, so that stop reaches its children too; and
	// killed by the kernel if the runner dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), seen: map[int]procstat.Stat{}, comm: map[int]string{}}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	urlc := make(chan string, 1)
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := ready == nil
		for sc.Scan() {
			line := sc.Text()
			p.addLine(line)
			if !found {
				if u, ok := ready(line); ok {
					found = true
					urlc <- u
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		// Done once its output is read to the end: an error about its
		// exit shows its last lines.
		<-read
		close(p.done)
	}()
	if ready == nil {
		return p, nil
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case p.url = <-urlc:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before it was ready:\n%s", name, p.Tail())
	case <-t.C:
		p.stop()
		return nil, fmt.Errorf("%s not ready after 30s:\n%s", name, p.Tail())
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// waitHTTP polls url until it answers any HTTP status, for peers that print
// nothing when ready. Polling is the only signal such a peer offers.
func waitHTTP(ctx context.Context, p *proc, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections on %s after 30s:\n%s", p.name, addr, p.Tail())
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready:\n%s", p.name, p.Tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freePort returns a loopback port that was free a moment ago, for peers
// that cannot listen on port 0 and report the port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// sample reads the process and its descendants, remembering descendants so
// that stop can reap any it leaves behind.
func (p *proc) sample() (procstat.Tree, error) {
	t, err := procstat.ReadTree(p.pid())
	if err != nil {
		return t, fmt.Errorf("%s: %w", p.name, err)
	}
	p.mu.Lock()
	for pid, st := range t.Descs {
		if _, ok := p.seen[pid]; !ok {
			p.seen[pid] = st
			p.comm[pid] = comm(pid)
		}
	}
	p.mu.Unlock()
	return t, nil
}

// stop ends the process group: SIGTERM, then SIGKILL after a grace period.
// Descendants that left the group (supergateway detaches its children) and
// outlive their parent are killed by pid, after checking that the pid still
// names the same program and is still the same parent's child or an orphan.
func (p *proc) stop() {
	pgid := p.pid()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(10 * time.Second)
	select {
	case <-p.done:
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	t.Stop()
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // stragglers left in the group
	p.mu.Lock()
	defer p.mu.Unlock()
	for pid, was := range p.seen {
		now, err := procstat.Read(pid)
		if err != nil || p.comm[pid] == "" || comm(pid) != p.comm[pid] {
			continue
		}
		if now.PPID == was.PPID || now.PPID == 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Signals land asynchronously: let the next measurement start only
	// when nothing of this peer still runs.
	deadline := time.Now().Add(5 * time.Second)
	for pid := range p.seen {
		for alive(pid) && comm(pid) == p.comm[pid] && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
}

// alive reports whether pid exists and is not a zombie (dead, not yet
// reaped by its new parent).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// comm returns the command name of pid, or "" if it is gone.
func comm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// fdLimit is this process's open-file limit; peers inherit the same.
func fdLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Max == 0 {
		return 0, errors.New("RLIMIT_NOFILE is zero")
	}
	return r.Max, nil
}

// numFDs counts p's open file descriptors (0 if unknown).
func numFDs(p *proc) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(p.pid()) + "/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// waitFDs polls until p holds at least want descriptors, or until the
// count has settled for 2s within 2% of want (descriptors left over from
// earlier work may close meanwhile). Polling is the only signal available
// from outside the process.
func waitFDs(ctx context.Context, p *proc, want int) error {
	last, since := -1, time.Now()
	for {
		n := numFDs(p)
		if n >= want {
			return nil
		}
		if n != last {
			last, since = n, time.Now()
		} else if settled := time.Since(since); settled > 2*time.Second && float64(n) >= 0.98*float64(want) {
			return nil
		} else if settled > 10*time.Second {
			return fmt.Errorf("%s holds %d descriptors, expected %d", p.name, n, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return fmt.Errorf("%s exited:\n%s", p.name, p.Tail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
