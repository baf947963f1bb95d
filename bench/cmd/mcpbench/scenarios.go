package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mcpfort/mcpfort/bench/load"
	"github.com/mcpfort/mcpfort/bench/procstat"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

// sample is one measured window of one peer.
type sample struct {
	rate          float64
	p50, p90, p99 time.Duration
	calls, fails  int64
	errs          []string
	srvCPU        float64 // server's CPU per call, microseconds
	upCPU         float64 // upstream's CPU per call (separate process or children)
	loadCPU       float64 // the load generator's CPU per call
	srvRSS, upRSS int64
	procs         int // live descendants at the end
}

// row is a peer's samples over the rounds.
type row struct {
	name    string
	era     string
	note    string
	samples []sample
	err     error // the peer could not be measured
}

// measure runs one window of load against p.
func (c *config) measure(ctx context.Context, p *peer, vus int, duration time.Duration) (sample, error) {
	var before, after snap
	res, err := load.Run(ctx, load.Options{
		URL: p.url, Era: p.era, Check: p.check, VUs: vus, Token: p.token,
		Warmup: c.warmup, Duration: duration,
		Begin: func() { before = p.snap() },
		End:   func() { after = p.snap() },
	})
	if err != nil {
		if res != nil && len(res.Samples) > 0 {
			return sample{}, fmt.Errorf("%w (%s)", err, res.Samples[0])
		}
		return sample{}, err
	}
	if before.err != nil || after.err != nil {
		return sample{}, fmt.Errorf("sampling %s: %v %v", p.name, before.err, after.err)
	}
	s := sample{
		rate: res.Rate(), calls: res.Calls, fails: res.Failures(), errs: res.Samples,
		p50: res.Latency.Quantile(0.50), p90: res.Latency.Quantile(0.90), p99: res.Latency.Quantile(0.99),
		srvRSS: after.srv.Root.RSS,
	}
	per := func(d time.Duration) float64 {
		if res.Calls == 0 {
			return 0
		}
		return float64(d) / float64(time.Microsecond) / float64(res.Calls)
	}
	s.srvCPU = per(after.srv.Root.CPU - before.srv.Root.CPU)
	s.loadCPU = per(after.self.CPU - before.self.CPU)
	switch {
	case p.up != nil:
		s.upCPU = per(after.up.CPU - before.up.CPU)
		s.upRSS = after.up.RSS
	case p.tree:
		s.upCPU = per(procstat.DescCPU(before.srv, after.srv))
		s.upRSS = after.srv.DescRSS()
		s.procs = len(after.srv.Descs)
	}
	return s, nil
}

// alternate measures every peer once per round, in turn.
func (c *config) alternate(ctx context.Context, title string, peers []*peer, vus int, duration time.Duration) []*row {
	rows := make([]*row, len(peers))
	for i, p := range peers {
		rows[i] = &row{name: p.name, era: p.era.String()}
	}
	for round := 1; round <= c.rounds; round++ {
		for i, p := range peers {
			if rows[i].err != nil || ctx.Err() != nil {
				continue
			}
			s, err := c.measure(ctx, p, vus, duration)
			if err != nil {
				rows[i].err = err
				c.logf("%s: %s (%s): %v", title, p.name, p.era, err)
				continue
			}
			rows[i].samples = append(rows[i].samples, s)
			c.logf("%s round %d/%d: %-28s %-6s %8.0f calls/s  p50 %7s  fails %d  server %6.1f us/call  upstream %6.1f us/call  load %5.1f us/call",
				title, round, c.rounds, p.name, p.era, s.rate, us(s.p50), s.fails, s.srvCPU, s.upCPU, s.loadCPU)
		}
	}
	return rows
}

// Rows of the calls table that the targets compare.
const (
	rowLean = "mcpfort (audit, schema off) -> fastecho"
	rowSSE  = "mcpfort -> fastecho (SSE answers)"
	// The reference proxies (bench/peers/relay).
	rowRelayTCP     = "Go TCP relay (bytes only) -> fastecho"
	rowRelayHTTP    = "httputil.ReverseProxy -> fastecho"
	rowRelayTCPSlow = "Go TCP relay (bytes only) -> fastecho (+" + slowDelay + ")"
	rowRelayH1      = "net/http + keep-alive forward -> fastecho"
	rowRelayH1Slow  = "net/http + keep-alive forward -> fastecho (+" + slowDelay + ")"
	rowSlow         = "mcpfort -> fastecho (+" + slowDelay + ")"
	// rowSlowLean is rowSlow without audit and schema: without the audit
	// log's transactions, which fewer calls at a time share.
	rowSlowLean = "mcpfort (audit, schema off) -> fastecho (+" + slowDelay + ")"
)

// scenarioCalls measures 32 clients (and, for latency, one client) on the
// bare floor, go-sdk directly and go-sdk through mcpfort.
func scenarioCalls(ctx context.Context, c *config, r *report) error {
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	start := func(p *proc, err error) (*proc, error) {
		if p != nil {
			procs = append(procs, p)
		}
		return p, err
	}
	bare, err := start(c.startBare(ctx))
	if err != nil {
		return err
	}
	direct, err := start(c.startGoSDK(ctx, "gosdk"))
	if err != nil {
		return err
	}
	upstream, err := start(c.startGoSDK(ctx, "gosdk-upstream"))
	if err != nil {
		return err
	}
	gw, err := start(c.startMcpfort(ctx, "mcpfort-http", httpServer(upstream.url, "")))
	if err != nil {
		return err
	}
	fast, err := start(c.startFastEcho(ctx, "fastecho"))
	if err != nil {
		return err
	}
	gwFast, err := start(c.startMcpfort(ctx, "mcpfort-fastecho", httpServer(fast.url, "legacy")))
	if err != nil {
		return err
	}
	// The same upstream through an mcpfort without its default policies;
	// and upstreams differing from fastecho in one thing each: answers
	// as an event stream, answers 1 ms later.
	gwLean, err := start(c.startMcpfort(ctx, "mcpfort-fastecho-lean", httpServer(fast.url, "legacy"), leanConfig))
	if err != nil {
		return err
	}
	fastSSE, err := start(c.startFastEcho(ctx, "fastecho-sse", "-sse"))
	if err != nil {
		return err
	}
	gwSSE, err := start(c.startMcpfort(ctx, "mcpfort-fastecho-sse", httpServer(fastSSE.url, "legacy")))
	if err != nil {
		return err
	}
	slow, err := start(c.startFastEcho(ctx, "fastecho-slow", "-delay", slowDelay))
	if err != nil {
		return err
	}
	gwSlow, err := start(c.startMcpfort(ctx, "mcpfort-fastecho-slow", httpServer(slow.url, "legacy")))
	if err != nil {
		return err
	}
	gwSlowLean, err := start(c.startMcpfort(ctx, "mcpfort-fastecho-slow-lean", httpServer(slow.url, "legacy"), leanConfig))
	if err != nil {
		return err
	}
	// Reference proxies before any MCP work: bytes relayed over one
	// upstream connection per client connection, and the standard
	// library's reverse proxy.
	relayTCP, err := start(c.startRelay(ctx, "relay-tcp", "tcp", fast.url))
	if err != nil {
		return err
	}
	relayHTTP, err := start(c.startRelay(ctx, "relay-http", "http", fast.url))
	if err != nil {
		return err
	}
	relaySlow, err := start(c.startRelay(ctx, "relay-tcp-slow", "tcp", slow.url))
	if err != nil {
		return err
	}
	// The floor of an HTTP proxy served by net/http: each request
	// forwarded over a pooled keep-alive connection, nothing read of it.
	relayH1, err := start(c.startRelay(ctx, "relay-h1", "h1", fast.url))
	if err != nil {
		return err
	}
	relayH1Slow, err := start(c.startRelay(ctx, "relay-h1-slow", "h1", slow.url))
	if err != nil {
		return err
	}
	// A token issuer on loopback, and an mcpfort that checks a bearer
	// token on every request (validated once, then from its cache).
	issuer, err := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	if err != nil {
		return err
	}
	defer issuer.Close()
	token, err := issuer.Sign(resourceservertest.Token{Audience: []string{authPublicURL + "/mcp"}, Lifetime: 24 * time.Hour})
	if err != nil {
		return err
	}
	// The targets' reference configuration: token check, session, rate
	// limit and audit on (a limit far above the load, so it counts every
	// call and refuses none).
	gwAuth, err := start(c.startMcpfort(ctx, "mcpfort-fastecho-auth", httpServer(fast.url, "legacy"), authConfig(issuer.URL), rateLimitConfig))
	if err != nil {
		return err
	}
	if c.only["calls"] {
		c.logf("calls: %d clients, %d rounds of %s (+%s warmup) per peer", c.vus, c.rounds, c.duration, c.warmup)
		r.calls = c.alternate(ctx, "calls", []*peer{
			{name: "bare net/http (floor)", era: load.EraNone, check: load.CheckShape, url: bare.url, server: bare},
			{name: "go-sdk direct", era: load.EraLegacy, url: direct.url, server: direct},
			{name: "go-sdk direct", era: load.EraModern, url: direct.url, server: direct},
			{name: "mcpfort -> go-sdk", era: load.EraLegacy, url: gw.url, server: gw, up: upstream},
			{name: "mcpfort -> go-sdk", era: load.EraModern, url: gw.url, server: gw, up: upstream},
			{name: "fastecho direct", era: load.EraLegacy, url: fast.url, server: fast},
			{name: rowRelayTCP, era: load.EraLegacy, url: relayTCP.url, server: relayTCP, up: fast},
			{name: rowRelayHTTP, era: load.EraLegacy, url: relayHTTP.url, server: relayHTTP, up: fast},
			{name: rowRelayH1, era: load.EraLegacy, url: relayH1.url, server: relayH1, up: fast},
			{name: "mcpfort -> fastecho", era: load.EraLegacy, url: gwFast.url, server: gwFast, up: fast},
			{name: "mcpfort +token -> fastecho", era: load.EraLegacy, url: gwAuth.url, server: gwAuth, up: fast, token: token},
			{name: rowLean, era: load.EraLegacy, url: gwLean.url, server: gwLean, up: fast},
			{name: rowSSE, era: load.EraLegacy, url: gwSSE.url, server: gwSSE, up: fastSSE},
			{name: rowSlow, era: load.EraLegacy, url: gwSlow.url, server: gwSlow, up: slow},
			{name: rowSlowLean, era: load.EraLegacy, url: gwSlowLean.url, server: gwSlowLean, up: slow},
			{name: rowRelayTCPSlow, era: load.EraLegacy, url: relaySlow.url, server: relaySlow, up: slow},
			{name: rowRelayH1Slow, era: load.EraLegacy, url: relayH1Slow.url, server: relayH1Slow, up: slow},
		}, c.vus, c.duration)
	}
	if c.only["latency"] {
		c.logf("latency: 1 client, %d rounds", c.rounds)
		r.latency = c.alternate(ctx, "latency", []*peer{
			{name: "go-sdk direct", era: load.EraLegacy, url: direct.url, server: direct},
			{name: "mcpfort -> go-sdk", era: load.EraLegacy, url: gw.url, server: gw, up: upstream},
			{name: "go-sdk direct", era: load.EraModern, url: direct.url, server: direct},
			{name: "mcpfort -> go-sdk", era: load.EraModern, url: gw.url, server: gw, up: upstream},
			{name: "fastecho direct", era: load.EraLegacy, url: fast.url, server: fast},
			{name: "mcpfort -> fastecho", era: load.EraLegacy, url: gwFast.url, server: gwFast, up: fast},
		}, 1, c.latencyDuration)
	}
	return ctx.Err()
}

// scenarioStdio measures many clients on one stdio server through mcpfort
// and through supergateway.
func scenarioStdio(ctx context.Context, c *config, r *report) error {
	type cand struct {
		note  string
		start func() (*proc, error)
		name  string
	}
	cands := []cand{
		{"isolation shared (default max_processes)", func() (*proc, error) {
			return c.startMcpfort(ctx, "mcpfort-stdio-shared", c.stdioServer("shared", 0))
		}, "mcpfort (shared)"},
		{fmt.Sprintf("isolation per_session, max_processes %d", c.stdioVUs+16), func() (*proc, error) {
			return c.startMcpfort(ctx, "mcpfort-stdio-per-session", c.stdioServer("per_session", c.stdioVUs+16))
		}, "mcpfort (per_session)"},
	}
	if c.node != "" {
		cands = append(cands, cand{"supergateway 4.0.0 --stateful (one child per session), Node " + nodeVersion(), func() (*proc, error) {
			return c.startSupergateway(ctx, "supergateway")
		}, "supergateway"})
	}
	var peers []*peer
	var notes []string
	defer func() {
		for _, p := range peers {
			p.server.stop()
		}
	}()
	for _, cd := range cands {
		p, err := cd.start()
		if err != nil {
			r.stdioErrs = append(r.stdioErrs, fmt.Sprintf("%s: %v", cd.name, err))
			c.logf("stdio: %s: %v", cd.name, err)
			continue
		}
		peers = append(peers, &peer{name: cd.name, era: load.EraLegacy, url: p.url, server: p, tree: true})
		notes = append(notes, cd.note)
	}
	c.logf("stdio: %d clients, %d rounds", c.stdioVUs, c.rounds)
	r.stdio = c.alternate(ctx, "stdio", peers, c.stdioVUs, c.duration)
	for i := range r.stdio {
		r.stdio[i].note = notes[i]
	}
	return ctx.Err()
}

// memResult is a memory scenario's outcome for one target.
type memResult struct {
	name        string
	n           int   // sessions or streams held
	fails       int64 // failures opening them or using them
	errs        []string
	srvDelta    int64 // server RSS growth, bytes
	upDelta     int64 // upstream RSS growth, bytes
	srvBase     int64
	open        time.Duration // time to open them all
	callsOK     int64         // sessions verified with one call each
	callLatency time.Duration // p50 of those calls
	note        string        // a problem worked around
	err         error
}

// warm drives ordinary load through url for a moment, so that the heap and
// the connection pools reach their steady size before a baseline sample.
func (c *config) warm(ctx context.Context, url string) error {
	res, err := load.Run(ctx, load.Options{URL: url, VUs: 32, Warmup: -1, Duration: time.Second})
	if err == nil && res.Failures() > 0 {
		err = fmt.Errorf("warmup: %d failures: %v", res.Failures(), res.Samples)
	}
	return err
}

func rss(p *proc) int64 {
	if p == nil {
		return 0
	}
	s, err := procstat.Read(p.pid())
	if err != nil {
		return 0
	}
	return s.RSS
}

// idleSessions opens c.sessions sessions through url, measures the growth
// of srv's (and up's) memory, then verifies every session with one call.
func (c *config) idleSessions(ctx context.Context, name, url string, srv, up *proc) memResult {
	m := memResult{name: name}
	if m.err = c.warm(ctx, url); m.err != nil {
		return m
	}
	s0, u0 := rss(srv), rss(up)
	m.srvBase = s0
	sessions, t, err := load.OpenSessions(ctx, c.sessions, load.ManyOptions{URL: url})
	if err != nil {
		m.err = err
		return m
	}
	if t.Abandoned > 0 {
		m.err = fmt.Errorf("gave up after %d failed sessions; first: %s", t.Failures, firstOf(t.Samples))
		return m
	}
	m.n, m.fails, m.errs, m.open = len(sessions), t.Failures, t.Samples, t.Elapsed
	m.srvDelta, m.upDelta = rss(srv)-s0, rss(up)-u0
	ct, err := load.CallEach(ctx, sessions, load.ManyOptions{URL: url})
	if err != nil {
		m.err = err
		return m
	}
	m.callsOK, m.fails, m.callLatency = ct.OK, m.fails+ct.Failures, ct.Latency.Quantile(0.5)
	m.errs = append(m.errs, ct.Samples...)
	c.logf("sessions: %s: %d open in %s, +%d KiB server RSS (%.1f KiB/session), %d/%d verified, %d failures",
		name, m.n, m.open.Round(time.Millisecond), m.srvDelta>>10, perItemKiB(m.srvDelta, m.n), m.callsOK, m.n, m.fails)
	return m
}

func perItemKiB(delta int64, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(delta) / 1024 / float64(n)
}

func scenarioSessions(ctx context.Context, c *config, r *report) error {
	up, err := c.startGoSDK(ctx, "gosdk-sessions-upstream")
	if err != nil {
		return err
	}
	defer up.stop()
	gw, err := c.startMcpfort(ctx, "mcpfort-sessions", httpServer(up.url, ""))
	if err != nil {
		return err
	}
	r.sessions = append(r.sessions, c.idleSessions(ctx, "mcpfort -> go-sdk", gw.url, gw, up))
	gw.stop()
	direct, err := c.startGoSDK(ctx, "gosdk-sessions")
	if err != nil {
		return err
	}
	r.sessions = append(r.sessions, c.idleSessions(ctx, "go-sdk direct", direct.url, direct, nil))
	direct.stop()
	return ctx.Err()
}

// streamCount is how many GET streams to hold: the -streams flag, or 10,000
// when the open-file limit allows the gateway its two descriptors per
// stream (client side and upstream side) plus headroom.
func (c *config) streamCount() (n int, note string) {
	if c.streams > 0 {
		return c.streams, ""
	}
	n = 10000
	if lim, err := fdLimit(); err == nil && uint64(2*n+1000) > lim {
		n = int((lim - 1000) / 2)
		note = fmt.Sprintf("%d, not 10,000: the open-file limit here is %d and the gateway holds two descriptors per stream (client and upstream)", n, lim)
	}
	return n, note
}

// heldStreams opens n sessions through url, then holds one GET stream on
// each, measuring the memory growth from the streams alone. If the server
// never sends a stream's headers, it measures again with GETs sent blind
// on fresh sessions (so the memory held is still known) and says so.
func (c *config) heldStreams(ctx context.Context, name, url string, n int, srv, up *proc) memResult {
	m := memResult{name: name}
	if m.err = c.warm(ctx, url); m.err != nil {
		return m
	}
	var problem string
	for _, blind := range []bool{false, true} {
		sessions, t, err := load.OpenSessions(ctx, n, load.ManyOptions{URL: url})
		if err != nil {
			m.err = err
			return m
		}
		if t.Abandoned > 0 {
			m.err = fmt.Errorf("gave up after %d failed sessions; first: %s", t.Failures, firstOf(t.Samples))
			return m
		}
		m.fails, m.errs = t.Failures, t.Samples
		s0, u0, fd0 := rss(srv), rss(up), numFDs(srv)
		m.srvBase = s0
		start := time.Now()
		streams, st, err := load.HoldStreams(ctx, sessions, load.ManyOptions{URL: url, Conns: 64, Timeout: 5 * time.Second, MaxFailures: 64, Blind: blind})
		if err != nil {
			streams.Close()
			m.err = err
			return m
		}
		if st.Abandoned > 0 {
			problem = fmt.Sprintf("no response headers: gave up after %d GETs failed (%d streams open); first: %s", st.Failures, streams.Len(), firstOf(st.Samples))
			c.logf("streams: %s: %s; measuring again with GETs sent without waiting for headers", name, problem)
			streams.Close()
			continue
		}
		m.n, m.open = streams.Len(), st.Elapsed
		if blind {
			// Nothing on the wire says when the server has taken the
			// streams in: wait until it holds their descriptors (its own
			// connection, plus the upstream one for a gateway).
			want := fd0 + m.n
			if up != nil {
				want += m.n
			}
			if err := waitFDs(ctx, srv, want); err != nil {
				m.err = err
				streams.Close()
				return m
			}
			m.open = time.Since(start)
		}
		m.fails += st.Failures
		m.errs = append(m.errs, st.Samples...)
		m.srvDelta, m.upDelta = rss(srv)-s0, rss(up)-u0
		streams.Close()
		if blind {
			m.name += " (GETs sent blind)"
			m.note = problem
		}
		c.logf("streams: %s: %d held in %s, +%d KiB server RSS (%.1f KiB/stream), %d failures",
			m.name, m.n, m.open.Round(time.Millisecond), m.srvDelta>>10, perItemKiB(m.srvDelta, m.n), m.fails)
		return m
	}
	return m
}

func scenarioStreams(ctx context.Context, c *config, r *report) error {
	n, note := c.streamCount()
	r.streamsNote = note
	direct, err := c.startGoSDK(ctx, "gosdk-streams")
	if err != nil {
		return err
	}
	r.streams = append(r.streams, c.heldStreams(ctx, "go-sdk direct", direct.url, n, direct, nil))
	direct.stop()
	up, err := c.startGoSDK(ctx, "gosdk-streams-upstream")
	if err != nil {
		return err
	}
	defer up.stop()
	gw, err := c.startMcpfort(ctx, "mcpfort-streams", httpServer(up.url, ""))
	if err != nil {
		return err
	}
	r.streams = append(r.streams, c.heldStreams(ctx, "mcpfort -> go-sdk", gw.url, n, gw, up))
	gw.stop()
	return ctx.Err()
}

// burstResult is one burst's outcome.
type burstResult struct {
	name     string
	n        int
	t        *load.Tally
	srvDelta int64
	err      error
}

func (c *config) burstAt(ctx context.Context, name, url string, srv *proc) burstResult {
	b := burstResult{name: name, n: c.burst}
	if b.err = c.warm(ctx, url); b.err != nil {
		return b
	}
	s0 := rss(srv)
	b.t, b.err = load.Burst(ctx, load.BurstOptions{URL: url, N: c.burst})
	b.srvDelta = rss(srv) - s0
	if b.t != nil {
		c.logf("burst: %s: %d/%d ok in %s, p50 %s, p99 %s, %d failures", name, b.t.OK, c.burst,
			b.t.Elapsed.Round(time.Millisecond), us(b.t.Latency.Quantile(0.5)), us(b.t.Latency.Quantile(0.99)), b.t.Failures)
	}
	return b
}

func scenarioBurst(ctx context.Context, c *config, r *report) error {
	up, err := c.startGoSDK(ctx, "gosdk-burst-upstream")
	if err != nil {
		return err
	}
	defer up.stop()
	gw, err := c.startMcpfort(ctx, "mcpfort-burst", httpServer(up.url, ""))
	if err != nil {
		return err
	}
	r.bursts = append(r.bursts, c.burstAt(ctx, "mcpfort -> go-sdk", gw.url, gw))
	gw.stop()
	direct, err := c.startGoSDK(ctx, "gosdk-burst")
	if err != nil {
		return err
	}
	r.bursts = append(r.bursts, c.burstAt(ctx, "go-sdk direct", direct.url, direct))
	direct.stop()
	return ctx.Err()
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return "no error recorded"
	}
	return s[0]
}

func us(d time.Duration) string {
	return fmt.Sprintf("%.0fus", float64(d)/float64(time.Microsecond))
}
