package stdio

import (
	"context"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPoolEcho measures tools/call echo through the pool, with
// parallel callers (16 per CPU): through a Shared pool (4 processes, ids
// rewritten) and through PerSession (a process per caller). Reports calls/s
// and the CPU this process (pool and callers, not the servers) spent per
// call.
//
//	go test -run XXX -bench PoolEcho -benchtime 3s ./gateway/upstream/stdio
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkPoolEcho(b *testing.B) {
	for _, iso := range []Isolation{Shared, PerSession} {
		b.Run(iso.String(), func(b *testing.B) {
			ctx := context.Background()
			p := newPool(b, Options{Isolation: iso, InitializeParams: []byte(clientInit), MaxProcesses: map[Isolation]int{Shared: 4, PerSession: 64}[iso]})
			var n atomic.Int64
			// Warm up: start the processes outside the timing.
			warm, err := p.Acquire(ctx, "warm")
			if err != nil {
				b.Fatal(err)
			}
			req := toolCall(b, "1", "echo", map[string]string{"text": "hello"}, "")
			b.SetParallelism(16)
			cpu0 := selfCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c, err := p.Acquire(ctx, "k"+strconv.FormatInt(n.Add(1), 10))
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				for pb.Next() {
					call, err := c.Call(ctx, req)
					if err != nil {
						b.Error(err)
						return
					}
					_, resp, err := drain(ctx, call)
					if err != nil || resp == nil || resp.Error != nil {
						b.Errorf("call: %v %v", resp, err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
			b.ReportMetric(float64((selfCPU()-cpu0).Microseconds())/float64(b.N), "pool-cpu-us/call")
			warm.Close()
		})
	}
}

// BenchmarkSessionStart measures a PerSession Acquire (process start and
// initialize handshake) followed by Close, one at a time.
func BenchmarkSessionStart(b *testing.B) {
	ctx := context.Background()
	p := newPool(b, Options{InitializeParams: []byte(clientInit)})
	for i := 0; b.Loop(); i++ {
		c, err := p.Acquire(ctx, "s"+strconv.Itoa(i))
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
