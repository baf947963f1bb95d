package stdio

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// waitStats polls the pool's stats until ok holds, up to 20s.
func waitStats(t *testing.T, p *Pool, what string, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := p.Stats()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %+v", what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// warmPIDs returns the pids of the pool's warm processes.
func warmPIDs(p *Pool) map[int]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := map[int]bool{}
	for _, pr := range p.warm {
		m[pr.pid] = true
	}
	return m
}

// sessionHistory initializes a pass-through session as client name (or
// relies on the pool's handshake when pooled), then returns the process's
// pid and the record of every message its stdin received.
func sessionHistory(ctx context.Context, t *testing.T, c *Conn, name string, pooled bool) (int, string, error) {
	if !pooled {
		init := `{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"` + name + `","version":"1"}}`
		call, err := c.Call(ctx, msg(t, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":`+init+`}`))
		if err != nil {
			return 0, "", err
		}
		if _, resp, err := drain(ctx, call); err != nil || resp == nil || resp.Result == nil {
			return 0, "", fmt.Errorf("initialize: %v %v", resp, err)
		}
		if err := c.Send(ctx, msg(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil {
			return 0, "", err
		}
	}
	pid, err := callText(ctx, t, c, "1", "pid", struct{}{})
	if err != nil {
		return 0, "", err
	}
	h, err := callText(ctx, t, c, "2", "history", struct{}{})
	if err != nil {
		return 0, "", err
	}
	n, err := strconv.Atoi(pid)
	if err != nil {
		return 0, "", fmt.Errorf("pid %q", pid)
	}
	return n, h, nil
}

// TestWarmSessions starts 50 sessions at once on a pool with warm processes:
// the warm ones are used, every session's process is its own, and the first
// message each process saw is its own session's initialize (or, when the
// pool initializes processes, the pool's): nothing of another session,
// nothing before. Sessions after those get fresh processes too: a process is
// never handed out twice.
func TestWarmSessions(t *testing.T) {
	for _, pooled := range []bool{false, true} {
		t.Run(map[bool]string{false: "pass-through", true: "pool-initialized"}[pooled], func(t *testing.T) {
			ctx := testCtx(t)
			o := Options{Warm: 8, MaxProcesses: 64}
			if pooled {
				o.InitializeParams = DefaultInitializeParams()
			}
			p := newPool(t, o)
			waitStats(t, p, "8 warm processes", func(s Stats) bool { return s.Warm == 8 })
			warm := warmPIDs(p)

			const n = 50
			var wg sync.WaitGroup
			pids := make([]int, n)
			hist := make([]string, n)
			errs := make([]error, n)
			conns := make([]*Conn, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := "s" + strconv.Itoa(i)
					c, err := p.Acquire(ctx, key)
					if err != nil {
						errs[i] = err
						return
					}
					conns[i] = c
					pids[i], hist[i], errs[i] = sessionHistory(ctx, t, c, key, pooled)
				}()
			}
			wg.Wait()
			seen := map[int]string{}
			usedWarm := 0
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("session %d: %v", i, errs[i])
				}
				key := "s" + strconv.Itoa(i)
				want := "initialize:" + key + ",notifications/initialized,tools/call,tools/call"
				if pooled {
					want = "initialize:mcpfort,notifications/initialized,tools/call,tools/call"
				}
				if hist[i] != want {
					t.Errorf("session %s: process saw %q, want %q", key, hist[i], want)
				}
				if other, dup := seen[pids[i]]; dup {
					t.Errorf("process %d serves both %s and %s", pids[i], other, key)
				}
				seen[pids[i]] = key
				if warm[pids[i]] {
					usedWarm++
				}
			}
			if usedWarm != len(warm) {
				t.Errorf("%d of the %d warm processes were used", usedWarm, len(warm))
			}
			if s := p.Stats(); s.WarmTaken < 8 {
				t.Errorf("WarmTaken = %d, want at least 8", s.WarmTaken)
			}
			for _, c := range conns {
				c.Close()
			}
			// The pool refills; sessions one after another get processes
			// no session had.
			waitStats(t, p, "refilled", func(s Stats) bool { return s.Warm == 8 })
			for i := range 10 {
				key := "after" + strconv.Itoa(i)
				c, err := p.Acquire(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				pid, h, err := sessionHistory(ctx, t, c, key, pooled)
				if err != nil {
					t.Fatal(err)
				}
				if other, dup := seen[pid]; dup {
					t.Errorf("process %d of %s handed to %s too", pid, other, key)
				}
				seen[pid] = key
				if !pooled && h != "initialize:"+key+",notifications/initialized,tools/call,tools/call" {
					t.Errorf("session %s: process saw %q", key, h)
				}
				c.Close()
			}
		})
	}
}

// TestWarmProcessKilled kills an idle warm process: it is replaced after the
// crash backoff, counted as a crash, and never handed to a session.
func TestWarmProcessKilled(t *testing.T) {
	ctx := testCtx(t)
	p := newPool(t, Options{Warm: 2, RestartBackoffMin: 50 * time.Millisecond})
	waitStats(t, p, "2 warm processes", func(s Stats) bool { return s.Warm == 2 })
	var victim int
	for pid := range warmPIDs(p) {
		victim = pid
		break
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitStats(t, p, "a crash counted and the warm set refilled", func(s Stats) bool {
		return s.Crashes == 1 && s.Warm == 2 && s.Starts == 3
	})
	if warmPIDs(p)[victim] {
		t.Fatal("the killed process is still listed as warm")
	}
	for i := range 3 {
		c, err := p.Acquire(ctx, "k"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		pid, _, err := sessionHistory(ctx, t, c, "k", false)
		if err != nil {
			t.Fatal(err)
		}
		if pid == victim {
			t.Fatal("a session got the killed process")
		}
		c.Close()
	}
}

// TestWarmCrashLoopBacksOff: a command that exits at once is not restarted
// in a tight loop to keep the warm set full.
func TestWarmCrashLoopBacksOff(t *testing.T) {
	p := newPool(t, Options{Warm: 4, RestartBackoffMin: 50 * time.Millisecond, RestartBackoffMax: time.Second}, "-exit-at-start")
	time.Sleep(time.Second)
	s := p.Stats()
	// Backoff 50ms, 100ms, 200ms, 400ms, ... with one probe at a time:
	// a handful of starts in a second, not hundreds.
	if s.Starts > 12 {
		t.Fatalf("%d starts in 1s of a command that exits at once", s.Starts)
	}
	if s.Warm != 0 {
		t.Fatalf("Warm = %d for a command that exits", s.Warm)
	}
}

// TestWarmEnvRotation: warm processes started before an EnvSource value
// changed are stopped, not handed out.
func TestWarmEnvRotation(t *testing.T) {
	ctx := testCtx(t)
	var v atomic.Value
	v.Store("one")
	p := newPool(t, Options{Warm: 3, EnvSource: func() []string { return []string{"API_KEY=" + v.Load().(string)} }})
	waitStats(t, p, "3 warm processes", func(s Stats) bool { return s.Warm == 3 })
	old := warmPIDs(p)
	v.Store("two")
	c, err := p.Acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pid, _, err := sessionHistory(ctx, t, c, "a", false)
	if err != nil {
		t.Fatal(err)
	}
	if old[pid] {
		t.Fatal("a session got a process started with the old environment")
	}
	for pid := range old {
		if !waitGone(t, pid, 10*time.Second) {
			t.Errorf("stale warm process %d still running", pid)
		}
	}
	waitStats(t, p, "refilled", func(s Stats) bool { return s.Warm == 3 })
	if s := p.Stats(); s.Crashes != 0 {
		t.Errorf("stopping stale processes counted %d crashes", s.Crashes)
	}
}

// TestWarmWithinMaxProcesses: warm processes count against MaxProcesses, and
// a session waiting at the limit gets the next free capacity before the warm
// set does.
func TestWarmWithinMaxProcesses(t *testing.T) {
	ctx := testCtx(t)
	p := newPool(t, Options{Warm: 3, MaxProcesses: 2, QueueTimeout: 5 * time.Second})
	waitStats(t, p, "2 warm processes", func(s Stats) bool { return s.Warm == 2 && s.Processes == 2 })
	a, err := p.Acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Acquire(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Processes != 2 || s.WarmTaken != 2 {
		t.Fatalf("after two sessions: %+v", s)
	}
	got := make(chan error, 1)
	go func() {
		c, err := p.Acquire(ctx, "c")
		if err == nil {
			defer c.Close()
			_, _, err = sessionHistory(ctx, t, c, "c", false)
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	a.Close()
	if err := <-got; err != nil {
		t.Fatalf("waiting session: %v", err)
	}
	b.Close()
}

func TestWarmOptions(t *testing.T) {
	for _, o := range []Options{
		{Command: []string{"/bin/true"}, Warm: -1},
		{Command: []string{"/bin/true"}, Warm: 1, Isolation: Shared},
		{Command: []string{"/bin/true"}, Warm: 1, Isolation: PerUser},
	} {
		if p, err := New(o); err == nil {
			_ = p.Close(context.Background())
			t.Errorf("New(%+v) accepted", o)
		}
	}
}
