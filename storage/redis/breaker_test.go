package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// privateRedis starts a redis-server of its own on a free loopback port,
// so that the test can freeze it; it is killed when the test ends.
func privateRedis(t *testing.T) (url string, cmd *exec.Cmd) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is needed: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd = exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	c := client(t, url, 0)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c.Ping(context.Background()).Err() == nil {
			return url, cmd
		}
		if time.Now().After(deadline) {
			t.Fatal("the private redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond) // polling a process that has no readiness signal
	}
}

// TestBreakerBoundsAnOutage: a Redis that stops answering (frozen with
// SIGSTOP: connections hang, nothing is refused) costs the first calls one
// timeout each; once the breaker opens, calls fail at once with
// ErrCircuitOpen; when Redis answers again the client recovers after the
// cooldown, by itself.
func TestBreakerBoundsAnOutage(t *testing.T) {
	url, srv := privateRedis(t)
	const timeout = 150 * time.Millisecond
	rdb, err := NewClient(ClientOptions{URL: url, Timeout: timeout, BreakerThreshold: 3, BreakerCooldown: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Each unanswered call counts once, so the breaker opens after three.
	for i := 0; ; i++ {
		start := time.Now()
		err := rdb.Get(ctx, "k").Err()
		if d := time.Since(start); d > 5*timeout {
			t.Fatalf("call %d took %v: not bounded by the timeout", i, d)
		}
		if err == nil {
			t.Fatalf("call %d to a frozen Redis succeeded", i)
		}
		if errors.Is(err, ErrCircuitOpen) {
			break
		}
		if i == 3 {
			t.Fatal("three unanswered calls did not open the breaker")
		}
	}
	for i := 0; i < 100; i++ {
		start := time.Now()
		if err := rdb.Get(ctx, "k").Err(); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("call %d after the breaker opened: %v", i, err)
		}
		if d := time.Since(start); d > 20*time.Millisecond {
			t.Fatalf("an open breaker took %v", d)
		}
	}
	if err := srv.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := rdb.Get(ctx, "k").Result()
		if err == nil && v == "v" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client did not recover: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the cooldown runs on the wall clock
	}
	// Redis's own error replies are answers, not outages.
	for i := 0; i < 10; i++ {
		if err := rdb.Do(ctx, "NOSUCHCOMMAND").Err(); err == nil || errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("an error reply: %v", err)
		}
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("error replies opened the breaker: %v", err)
	}
}

func TestBreakerStates(t *testing.T) {
	now := time.Unix(0, 0)
	b := newBreaker(2, time.Second)
	b.now = func() time.Time { return now }
	down := errors.New("dial tcp: connection refused")
	step := func(err error) (bool, bool) {
		ok, probe := b.allow()
		if ok {
			b.done(err, probe)
		}
		return ok, probe
	}
	if ok, _ := step(down); !ok {
		t.Fatal("closed breaker refused")
	}
	if ok, _ := step(down); !ok {
		t.Fatal("closed breaker refused the second call")
	}
	if ok, _ := b.allow(); ok {
		t.Fatal("breaker did not open after the threshold")
	}
	now = now.Add(time.Second)
	ok, probe := b.allow()
	if !ok || !probe {
		t.Fatal("no probe after the cooldown")
	}
	if ok, _ := b.allow(); ok {
		t.Fatal("a second command went through during the probe")
	}
	b.done(down, true)
	if ok, _ := b.allow(); ok {
		t.Fatal("a failed probe did not reopen the breaker")
	}
	now = now.Add(time.Second)
	if ok, probe = b.allow(); !ok || !probe {
		t.Fatal("no probe after the second cooldown")
	}
	b.done(nil, probe)
	if ok, _ := b.allow(); !ok {
		t.Fatal("a successful probe did not close the breaker")
	}
}
