package load

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures Run. Zero values are documented defaults.
type Options struct {
	// URL is the MCP endpoint, http://host:port/path. Required.
	URL string
	// Era is the protocol era the virtual users speak. Default EraLegacy.
	Era Era
	// Check is how responses are verified. Default CheckEcho.
	Check Check
	// Tool is the tool called with {"text": ...}. Default "echo".
	Tool string
	// VUs is the number of virtual users, each with its own keep-alive
	// connection and one request in flight. Default 32.
	VUs int
	// Warmup runs the load before measuring, unrecorded. Default 1s;
	// negative for none.
	Warmup time.Duration
	// Duration is the measured window. Default 5s.
	Duration time.Duration
	// Timeout bounds each exchange. Default 30s.
	Timeout time.Duration
	// MaxBody bounds a response body. Default DefaultMaxBody.
	MaxBody int
	// Token, if set, is sent as "Authorization: Bearer" on every request.
	Token string
	// Begin and End, if set, are called when the measured window opens and
	// closes (to sample the server's CPU time and memory around it).
	Begin, End func()
}

func (o *Options) defaults() {
	if o.Tool == "" {
		o.Tool = "echo"
	}
	if o.VUs <= 0 {
		o.VUs = 32
	}
	if o.Warmup == 0 {
		o.Warmup = time.Second
	} else if o.Warmup < 0 {
		o.Warmup = 0
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
}

// Result is what a run measured.
type Result struct {
	// Calls is the number of verified calls that started and finished
	// inside the measured window.
	Calls int64
	// Elapsed is the measured window's length.
	Elapsed time.Duration
	// Errors counts failed exchanges inside the window.
	Errors int64
	// OtherErrors counts failures outside the window: handshakes, warmup,
	// session termination.
	OtherErrors int64
	// ByKind counts all failures (window and other) by kind.
	ByKind [numKinds]int64
	// Samples holds the first few failure messages.
	Samples []string
	// Latency holds the latency of every verified call in the window.
	Latency *Histogram
}

// Rate is verified calls per second in the window.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Calls) / r.Elapsed.Seconds()
}

// Failures is every failure, in and out of the window.
func (r *Result) Failures() int64 { return r.Errors + r.OtherErrors }

const maxSamples = 8

// errLog collects failures from many goroutines.
type errLog struct {
	mu      sync.Mutex
	byKind  [numKinds]int64
	samples []string
}

func (l *errLog) add(op string, err error) {
	e := asError(op, err)
	l.mu.Lock()
	l.byKind[e.Kind]++
	if len(l.samples) < maxSamples {
		l.samples = append(l.samples, e.Error())
	}
	l.mu.Unlock()
}

// Window phases.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

// Run drives opts.VUs virtual users against opts.URL: each sets up its
// session, then calls the tool in a loop, one call in flight, verifying
// every reply. After the warmup it measures for opts.Duration, then stops
// the users, lets in-flight calls finish and terminates legacy sessions.
// It returns an error only when the run could not take place (bad options,
// or every user failed to set up); failed calls are counted in the Result.
func Run(ctx context.Context, opts Options) (*Result, error) {
	opts.defaults()
	t, err := parseTarget(opts.URL)
	if err != nil {
		return nil, err
	}
	var (
		phase   atomic.Int32
		log     errLog
		wg      sync.WaitGroup
		readyWG sync.WaitGroup
		ready   atomic.Int32
		start   = make(chan struct{})
	)
	stats := make([]*vuStats, opts.VUs)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	readyWG.Add(opts.VUs)
	for n := range opts.VUs {
		st := &vuStats{}
		stats[n] = st
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t, clientOptions{era: opts.Era, check: opts.Check, tool: opts.Tool, token: opts.Token, maxBody: opts.MaxBody, timeout: opts.Timeout}, n)
			defer c.Close()
			if err := c.setup(runCtx); err != nil {
				log.add("setup", err)
				st.other++
				readyWG.Done()
				return
			}
			ready.Add(1)
			readyWG.Done()
			<-start
			for {
				p := phase.Load()
				if p == phaseDone || runCtx.Err() != nil {
					break
				}
				t0 := time.Now()
				err := c.call(runCtx)
				d := time.Since(t0)
				inWindow := p == phaseMeasure && phase.Load() == phaseMeasure
				switch {
				case err != nil && inWindow:
					st.errs++
					log.add("tools/call", err)
				case err != nil:
					st.other++
					log.add("tools/call", err)
				case inWindow:
					st.calls++
					st.hist.Record(d)
				}
			}
			if err := c.terminate(context.WithoutCancel(runCtx)); err != nil {
				st.other++
				log.add("DELETE", err)
			}
		}()
	}
	readyWG.Wait()
	if ready.Load() == 0 {
		close(start)
		wg.Wait()
		res := collect(stats, &log, 0)
		return res, errors.New("load: no virtual user could set up: " + firstSample(res))
	}
	close(start)
	sleep(runCtx, opts.Warmup)
	if opts.Begin != nil {
		opts.Begin()
	}
	t0 := time.Now()
	phase.Store(phaseMeasure)
	sleep(runCtx, opts.Duration)
	phase.Store(phaseDone)
	elapsed := time.Since(t0)
	if opts.End != nil {
		opts.End()
	}
	wg.Wait()
	res := collect(stats, &log, elapsed)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// vuStats is one virtual user's tally, written only by that user.
type vuStats struct {
	hist        Histogram
	calls, errs int64
	other       int64
}

func collect(stats []*vuStats, log *errLog, elapsed time.Duration) *Result {
	res := &Result{Elapsed: elapsed, Latency: &Histogram{}}
	for _, st := range stats {
		res.Latency.Merge(&st.hist)
		res.Calls += st.calls
		res.Errors += st.errs
		res.OtherErrors += st.other
	}
	log.mu.Lock()
	res.ByKind = log.byKind
	res.Samples = append([]string(nil), log.samples...)
	log.mu.Unlock()
	return res
}

func firstSample(r *Result) string {
	if len(r.Samples) == 0 {
		return "no error recorded"
	}
	return r.Samples[0]
}

// sleep waits for d or until ctx ends. The load generator paces real time
// here; it does not wait for a condition.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
