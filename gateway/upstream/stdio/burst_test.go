package stdio

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkSessionBurst opens MCPFORT_BURST (default 1000) PerSession
// sessions at the same instant on a pool running cmd/mcpfort-everything
// over stdio, each sending the client's initialize as its first message,
// and reports the p50, p99 and slowest initialize latency (from release to
// the InitializeResult), first with no warm processes, then with
// MCPFORT_BURST_WARM (default: as many as the burst) warm processes, in the
// same run. Every session holds its own process, so the run needs the
// memory of that many idle servers (about 10 MiB each).
//
//	go test -run '^$' -bench SessionBurst -benchtime 1x -timeout 30m ./gateway/upstream/stdio
//
// scripts/bench.sh stdio-burst runs it (make test does not: it takes minutes
// and gigabytes). MaxProcesses is the larger of the burst and the warm
// count, so warm processes are not refilled while the burst holds them all.
func BenchmarkSessionBurst(b *testing.B) {
	n := envInt(b, "MCPFORT_BURST", 1000)
	warm := envInt(b, "MCPFORT_BURST_WARM", n)
	dir := b.TempDir()
	bin := filepath.Join(dir, "mcpfort-everything")
	build := exec.Command("go", "build", "-o", bin, "../../../cmd/mcpfort-everything")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		b.Fatal("building mcpfort-everything: ", err)
	}
	for _, w := range []int{0, warm} {
		b.Run("warm="+strconv.Itoa(w), func(b *testing.B) {
			for range b.N {
				burst(b, bin, n, w)
			}
		})
	}
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a count", name, v)
	}
	return n
}

func burst(b *testing.B, bin string, n, warm int) {
	p, err := New(Options{
		Command: []string{bin}, Warm: warm, MaxProcesses: max(n, warm),
		MaxQueue: n, QueueTimeout: 5 * time.Minute, StartTimeout: 5 * time.Minute,
		IdleTimeout: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_ = p.Close(ctx)
	}()
	t0 := time.Now()
	for p.Stats().Warm < warm {
		if time.Since(t0) > 10*time.Minute {
			b.Fatalf("warm pool not filled: %+v", p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	fill := time.Since(t0)

	ctx := context.Background()
	init := msg(b, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":`+clientInit+`}`)
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	conns := make([]*Conn, n)
	release := make(chan struct{})
	var ready, wg sync.WaitGroup
	ready.Add(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-release
			start := time.Now()
			c, err := p.Acquire(ctx, "b"+strconv.Itoa(i))
			if err != nil {
				errs[i] = err
				return
			}
			conns[i] = c
			call, err := c.Call(ctx, init)
			if err != nil {
				errs[i] = err
				return
			}
			_, resp, err := drain(ctx, call)
			if err == nil && (resp == nil || resp.Result == nil) {
				err = errString("initialize failed: " + string(resp.Raw))
			}
			errs[i] = err
			lat[i] = time.Since(start)
		}()
	}
	ready.Wait()
	close(release)
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			if failed == 0 {
				b.Logf("first failure: %v", err)
			}
			failed++
		}
	}
	s := p.Stats()
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	b.ReportMetric(q(0.50).Seconds()*1000, "p50-ms")
	b.ReportMetric(q(0.99).Seconds()*1000, "p99-ms")
	b.ReportMetric(lat[len(lat)-1].Seconds()*1000, "max-ms")
	b.ReportMetric(float64(failed), "failures")
	b.ReportMetric(float64(s.WarmTaken), "warm-taken")
	b.Logf("burst of %d, warm %d (filled in %s): p50 %s, p99 %s, max %s, %d failures, %d sessions got a warm process",
		n, warm, fill.Round(time.Millisecond), q(0.50).Round(time.Millisecond), q(0.99).Round(time.Millisecond),
		lat[len(lat)-1].Round(time.Millisecond), failed, s.WarmTaken)
}

type errString string

func (e errString) Error() string { return string(e) }
