package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report collects every scenario's outcome and prints it as Markdown.
type report struct {
	cfg         *config
	elapsed     time.Duration
	calls       []*row
	latency     []*row
	stdio       []*row
	stdioErrs   []string
	sessions    []memResult
	streams     []memResult
	streamsNote string
	bursts      []burstResult
}

// median of the samples' field f.
func median(ss []sample, f func(sample) float64) float64 {
	if len(ss) == 0 {
		return 0
	}
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (r *row) med(f func(sample) float64) float64 { return median(r.samples, f) }

func (r *row) fails() int64 {
	var n int64
	for _, s := range r.samples {
		n += s.fails
	}
	return n
}

func (r *row) firstErr() string {
	for _, s := range r.samples {
		if len(s.errs) > 0 {
			return s.errs[0]
		}
	}
	return ""
}

func durUS(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func fmtUS(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v >= 10000 || v <= -10000:
		return fmt.Sprintf("%.0f ms", v/1000)
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.0f us", v)
	}
	return fmt.Sprintf("%.1f us", v)
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func fmtKiB(b float64) string {
	if b < 0.05 {
		return "0 (no growth)"
	}
	return fmt.Sprintf("%.1f KiB", b)
}

// find returns the row with name and era.
func find(rows []*row, name, era string) *row {
	for _, r := range rows {
		if r.name == name && r.era == era && len(r.samples) > 0 {
			return r
		}
	}
	return nil
}

func (r *report) write(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	c := r.cfg
	fmt.Fprintf(bw, "## mcpfort benchmarks\n\n")
	fmt.Fprintf(bw, "%s; %d CPUs; %s/%s; %s; Node %s.  \n", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), nodeVersion())
	fmt.Fprintf(bw, "Command: `%s` (%s in all). Every peer is its own process on loopback; ", strings.TrimSpace(c.command), r.elapsed.Round(time.Second))
	fmt.Fprintf(bw, "CPU time and RSS come from /proc (10 ms CPU resolution); tables show medians of %d rounds of %s (after %s of warmup), peers alternating within each round. ", c.rounds, c.duration, c.warmup)
	fmt.Fprintf(bw, "Compare ratios within one run, not absolute numbers across runs.\n\n")

	if len(r.calls) > 0 {
		fmt.Fprintf(bw, "### tools/call echo, %d keep-alive clients\n\n", c.vus)
		r.callTable(bw, r.calls, true)
		fmt.Fprint(bw, "*bare net/http*: reads the body, answers one fixed JSON-RPC result (the floor). "+
			"*go-sdk*: the official Go SDK v1.8.0, typed echo tool, application/json responses, both eras on one endpoint. "+
			"*fastecho*: a minimal hand-written MCP server (encoding/json, no SDK), so that the gateway, not its upstream, is the bottleneck. "+
			"*Go TCP relay*, *net/http + keep-alive forward* and *httputil.ReverseProxy* (bench/peers/relay) are reference proxies in front of the same fastecho: bytes copied over one upstream connection per client connection (what relaying costs in Go before reading anything); a net/http handler that forwards each request over a pooled keep-alive connection and copies the answer back, reading nothing of the JSON (the floor of an HTTP proxy served by net/http); and the standard library's HTTP reverse proxy. "+
			"*+token*: every request carries a bearer token (ES256 JWT from a loopback issuer) that mcpfort validates once and then serves from its cache. "+
			"*server CPU/call* is the named process alone (for mcpfort rows, the gateway); the upstream's CPU is its own column. "+
			"mcpfort runs its defaults: audit log and schema checks on; the *+token* row adds a per-subject rate limit that counts every call and refuses none; "+
			"*audit, schema off* turns both policies off; *SSE answers*: a fastecho that answers tools/call as an event stream of one event; *+"+slowDelay+"*: a fastecho that answers tools/call "+slowDelay+" later, so that the gateway waits most of the time instead of being always busy.\n\n")
	}
	if len(r.latency) > 0 {
		fmt.Fprintf(bw, "### One client (added latency)\n\n")
		r.callTable(bw, r.latency, false)
		for _, x := range []struct{ direct, via, era string }{
			{"go-sdk direct", "mcpfort -> go-sdk", "legacy"},
			{"go-sdk direct", "mcpfort -> go-sdk", "modern"},
			{"fastecho direct", "mcpfort -> fastecho", "legacy"},
		} {
			d, g := find(r.latency, x.direct, x.era), find(r.latency, x.via, x.era)
			if d != nil && g != nil {
				fmt.Fprintf(bw, "Added p50, %s (%s era): **%s** (%s vs. %s).  \n", x.via, x.era,
					fmtUS(g.med(func(s sample) float64 { return durUS(s.p50) })-d.med(func(s sample) float64 { return durUS(s.p50) })),
					fmtUS(g.med(func(s sample) float64 { return durUS(s.p50) })), fmtUS(d.med(func(s sample) float64 { return durUS(s.p50) })))
			}
		}
		fmt.Fprintln(bw)
	}
	if len(r.stdio) > 0 || len(r.stdioErrs) > 0 {
		fmt.Fprintf(bw, "### %d clients on one stdio server (the go-sdk peer over stdio), legacy era\n\n", c.stdioVUs)
		fmt.Fprintf(bw, "| gateway | setup | calls/s | p50 | p99 | failures | gateway CPU/call | children CPU/call | children | gateway RSS | children RSS |\n")
		fmt.Fprintf(bw, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, x := range r.stdio {
			if x.err != nil {
				fmt.Fprintf(bw, "| %s | %s | failed: %s |||||||||\n", x.name, x.note, oneLine(x.err.Error()))
				continue
			}
			fmt.Fprintf(bw, "| %s | %s | %.0f | %s | %s | %d | %s | %s | %.0f | %s | %s |\n", x.name, x.note,
				x.med(func(s sample) float64 { return s.rate }),
				fmtUS(x.med(func(s sample) float64 { return durUS(s.p50) })), fmtUS(x.med(func(s sample) float64 { return durUS(s.p99) })),
				x.fails(), fmtUS(x.med(func(s sample) float64 { return s.srvCPU })), fmtUS(x.med(func(s sample) float64 { return s.upCPU })),
				x.med(func(s sample) float64 { return float64(s.procs) }),
				fmtMiB(int64(x.med(func(s sample) float64 { return float64(s.srvRSS) }))), fmtMiB(int64(x.med(func(s sample) float64 { return float64(s.upRSS) }))))
		}
		for _, e := range r.stdioErrs {
			fmt.Fprintf(bw, "\nNot measured: %s\n", oneLine(e))
		}
		r.errorSamples(bw, r.stdio)
		fmt.Fprintln(bw)
	}
	if len(r.sessions) > 0 {
		fmt.Fprintf(bw, "### %d idle legacy sessions\n\n", c.sessions)
		fmt.Fprintf(bw, "Sessions opened over 32 keep-alive connections after a 1 s warmup; RSS growth of the server (the gateway, for mcpfort) from before the first initialize to after the last; then one verified tools/call in every session.\n\n")
		r.memTable(bw, r.sessions, "session")
	}
	if len(r.streams) > 0 {
		fmt.Fprintf(bw, "### Held GET streams\n\n")
		fmt.Fprintf(bw, "Sessions opened first; RSS growth from before the first GET to after the last stream is open, each stream on its own connection.")
		if r.streamsNote != "" {
			fmt.Fprintf(bw, " Streams: %s.", r.streamsNote)
		}
		fmt.Fprintf(bw, "\n\n")
		r.memTable(bw, r.streams, "stream")
	}
	if len(r.bursts) > 0 {
		fmt.Fprintf(bw, "### Burst of %d simultaneous new clients\n\n", c.burst)
		fmt.Fprintf(bw, "Each client dials its own connection at the same instant, initializes, and makes one verified call; latency is from release to verified call.\n\n")
		fmt.Fprintf(bw, "| target | ok | failures | p50 | p99 | all done in | server RSS growth |\n|---|--:|--:|--:|--:|--:|--:|\n")
		for _, b := range r.bursts {
			if b.t == nil {
				fmt.Fprintf(bw, "| %s | failed: %v ||||||\n", b.name, oneLine(fmt.Sprint(b.err)))
				continue
			}
			fmt.Fprintf(bw, "| %s | %d | %d | %s | %s | %s | %s |\n", b.name, b.t.OK, b.t.Failures,
				fmtUS(durUS(b.t.Latency.Quantile(0.5))), fmtUS(durUS(b.t.Latency.Quantile(0.99))), b.t.Elapsed.Round(time.Millisecond), fmtMiB(b.srvDelta))
		}
		for _, b := range r.bursts {
			if b.t != nil && len(b.t.Samples) > 0 {
				fmt.Fprintf(bw, "\n%s, first failure: `%s`\n", b.name, oneLine(b.t.Samples[0]))
			}
		}
		fmt.Fprintln(bw)
	}
	r.targets(bw)
}

func (r *report) callTable(bw *bufio.Writer, rows []*row, ratio bool) {
	var floor float64
	if f := find(rows, "bare net/http (floor)", "none"); f != nil {
		floor = f.med(func(s sample) float64 { return s.srvCPU })
	}
	fmt.Fprintf(bw, "| peer | era | calls/s | p50 | p90 | p99 | failures | server CPU/call |")
	if ratio {
		fmt.Fprintf(bw, " vs. floor |")
	}
	fmt.Fprintf(bw, " upstream CPU/call | load-gen CPU/call | server RSS |\n|---|---|--:|--:|--:|--:|--:|--:|")
	if ratio {
		fmt.Fprintf(bw, "--:|")
	}
	fmt.Fprintf(bw, "--:|--:|--:|\n")
	for _, x := range rows {
		if x.err != nil {
			fmt.Fprintf(bw, "| %s | %s | failed: %s |||||||||\n", x.name, x.era, oneLine(x.err.Error()))
			continue
		}
		cpu := x.med(func(s sample) float64 { return s.srvCPU })
		fmt.Fprintf(bw, "| %s | %s | %.0f | %s | %s | %s | %d | %s |", x.name, x.era, x.med(func(s sample) float64 { return s.rate }),
			fmtUS(x.med(func(s sample) float64 { return durUS(s.p50) })), fmtUS(x.med(func(s sample) float64 { return durUS(s.p90) })),
			fmtUS(x.med(func(s sample) float64 { return durUS(s.p99) })), x.fails(), fmtUS(cpu))
		if ratio {
			if floor > 0 {
				fmt.Fprintf(bw, " %.2fx |", cpu/floor)
			} else {
				fmt.Fprintf(bw, " - |")
			}
		}
		fmt.Fprintf(bw, " %s | %s | %s |\n", fmtUS(x.med(func(s sample) float64 { return s.upCPU })), fmtUS(x.med(func(s sample) float64 { return s.loadCPU })),
			fmtMiB(int64(x.med(func(s sample) float64 { return float64(s.srvRSS) }))))
	}
	r.errorSamples(bw, rows)
	fmt.Fprintln(bw)
}

func (r *report) errorSamples(bw *bufio.Writer, rows []*row) {
	for _, x := range rows {
		if e := x.firstErr(); e != "" {
			fmt.Fprintf(bw, "\n%s (%s), first failure: `%s`\n", x.name, x.era, oneLine(e))
		}
	}
}

func (r *report) memTable(bw *bufio.Writer, ms []memResult, unit string) {
	fmt.Fprintf(bw, "| server | %ss | failures | opened in | server RSS before | growth | per %s | upstream growth | per %s (upstream) |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n", unit, unit, unit)
	for _, m := range ms {
		if m.err != nil {
			fmt.Fprintf(bw, "| %s | failed: %s ||||||||\n", m.name, oneLine(m.err.Error()))
			continue
		}
		up, upPer := "-", "-"
		if m.upDelta != 0 {
			up, upPer = fmtMiB(m.upDelta), fmtKiB(perItemKiB(m.upDelta, m.n))
		}
		fmt.Fprintf(bw, "| %s | %d | %d | %s | %s | %s | **%s** | %s | %s |\n", m.name, m.n, m.fails, m.open.Round(time.Millisecond),
			fmtMiB(m.srvBase), fmtMiB(m.srvDelta), fmtKiB(perItemKiB(m.srvDelta, m.n)), up, upPer)
	}
	for _, m := range ms {
		if m.note != "" {
			fmt.Fprintf(bw, "\n**%s**: %s\n", m.name, oneLine(m.note))
		}
		if len(m.errs) > 0 {
			fmt.Fprintf(bw, "\n%s, first failure: `%s`\n", m.name, oneLine(m.errs[0]))
		}
	}
	fmt.Fprintln(bw)
}

// verdict is one performance target of docs/architecture.md.
type verdict struct {
	target, goal, measured string
	met                    *bool // nil: not measured, or a reference (goal "-")
}

func (r *report) targets(bw *bufio.Writer) {
	var vs []verdict
	yes := func(b bool) *bool { return &b }
	if bare := find(r.calls, "bare net/http (floor)", "none"); bare != nil {
		f := bare.med(func(s sample) float64 { return s.srvCPU })
		for _, v := range []struct{ name, era, what string }{
			{"mcpfort +token -> fastecho", "legacy", "token check and session on, fast upstream"},
			{"mcpfort -> fastecho", "legacy", "session on, fast upstream"},
			{"mcpfort -> go-sdk", "legacy", "go-sdk upstream"},
			{"mcpfort -> go-sdk", "modern", "go-sdk upstream, 2026-07-28 era"},
		} {
			gw := find(r.calls, v.name, v.era)
			if gw == nil {
				continue
			}
			g := gw.med(func(s sample) float64 { return s.srvCPU })
			vs = append(vs, verdict{"gateway CPU per proxied tools/call (" + v.what + ")", "<= 2.5x bare net/http",
				fmt.Sprintf("%s vs. %s: %.2fx", fmtUS(g), fmtUS(f), g/f), yes(g/f <= 2.5)})
		}
		if gw := find(r.calls, rowLean, "legacy"); gw != nil {
			g := gw.med(func(s sample) float64 { return s.srvCPU })
			vs = append(vs, verdict{"gateway CPU per proxied tools/call (audit log and schema checks off, fast upstream)", "<= 2x bare net/http",
				fmt.Sprintf("%s vs. %s: %.2fx", fmtUS(g), fmtUS(f), g/f), yes(g/f <= 2)})
		}
		if p := find(r.calls, rowRelayH1, "legacy"); p != nil {
			g := p.med(func(s sample) float64 { return s.srvCPU })
			vs = append(vs, verdict{"for reference, the net/http keep-alive forward (no MCP work, no log), fast upstream", "-",
				fmt.Sprintf("%s vs. %s: %.2fx", fmtUS(g), fmtUS(f), g/f), nil})
		}
	}
	if base := find(r.calls, "mcpfort -> fastecho", "legacy"); base != nil {
		b := base.med(func(s sample) float64 { return s.srvCPU })
		if gw := find(r.calls, rowSSE, "legacy"); gw != nil {
			g := gw.med(func(s sample) float64 { return s.srvCPU })
			vs = append(vs, verdict{"gateway CPU per call relaying an SSE answer vs. the same upstream's JSON answer", "<= 1.2x",
				fmt.Sprintf("%s vs. %s: %.2fx", fmtUS(g), fmtUS(b), g/b), yes(g/b <= 1.2)})
		}
		if gw := find(r.calls, rowSlow, "legacy"); gw != nil {
			g := gw.med(func(s sample) float64 { return s.srvCPU })
			vs = append(vs, verdict{"gateway CPU per call independent of the upstream's latency (+" + slowDelay + " vs. fastecho)", "within 20 %",
				fmt.Sprintf("%s vs. %s: %+.0f %%", fmtUS(g), fmtUS(b), (g/b-1)*100), yes(g/b >= 0.8 && g/b <= 1.2)})
		}
	}
	if base := find(r.calls, rowLean, "legacy"); base != nil {
		b := base.med(func(s sample) float64 { return s.srvCPU })
		if gw := find(r.calls, rowSlowLean, "legacy"); gw != nil {
			g := gw.med(func(s sample) float64 { return s.srvCPU })
			vs = append(vs, verdict{"the same, audit log and schema checks off", "within 20 %",
				fmt.Sprintf("%s vs. %s: %+.0f %%", fmtUS(g), fmtUS(b), (g/b-1)*100), yes(g/b >= 0.8 && g/b <= 1.2)})
		}
	}
	// The same change of upstream latency under the Go TCP relay, which
	// does no work of its own: how much of the growth is the Go runtime
	// going idle between calls (threads parked and woken) rather than
	// anything a proxy does.
	if base := find(r.calls, rowRelayTCP, "legacy"); base != nil {
		b := base.med(func(s sample) float64 { return s.srvCPU })
		if gw := find(r.calls, rowRelayTCPSlow, "legacy"); gw != nil {
			g := gw.med(func(s sample) float64 { return s.srvCPU })
			vs = append(vs, verdict{"for reference, the Go TCP relay (no work of its own), +" + slowDelay + " vs. fastecho", "-",
				fmt.Sprintf("%s vs. %s: %+.0f %%", fmtUS(g), fmtUS(b), (g/b-1)*100), nil})
		}
	}
	if base := find(r.calls, rowRelayH1, "legacy"); base != nil {
		b := base.med(func(s sample) float64 { return s.srvCPU })
		if gw := find(r.calls, rowRelayH1Slow, "legacy"); gw != nil {
			g := gw.med(func(s sample) float64 { return s.srvCPU })
			vs = append(vs, verdict{"for reference, the net/http keep-alive forward (no MCP work), +" + slowDelay + " vs. fastecho", "-",
				fmt.Sprintf("%s vs. %s: %+.0f %%", fmtUS(g), fmtUS(b), (g/b-1)*100), nil})
		}
	}
	for _, v := range []struct{ direct, via, what string }{
		{"go-sdk direct", "mcpfort -> go-sdk", "go-sdk upstream"},
		{"fastecho direct", "mcpfort -> fastecho", "fast upstream"},
	} {
		d, g := find(r.latency, v.direct, "legacy"), find(r.latency, v.via, "legacy")
		if d == nil || g == nil {
			continue
		}
		added := g.med(func(s sample) float64 { return durUS(s.p50) }) - d.med(func(s sample) float64 { return durUS(s.p50) })
		vs = append(vs, verdict{"added p50 latency, one client (" + v.what + ")", "< 100 us", fmtUS(added), yes(added < 100)})
	}
	for _, m := range r.sessions {
		if m.name == "mcpfort -> go-sdk" && m.err == nil {
			per := perItemKiB(m.srvDelta, m.n)
			vs = append(vs, verdict{fmt.Sprintf("%d idle legacy sessions", r.cfg.sessions), "zero errors, < 10 KB gateway memory each",
				fmt.Sprintf("%d/%d verified, %d failures, %s each", m.callsOK, r.cfg.sessions, m.fails, fmtKiB(per)),
				yes(m.fails == 0 && m.n == r.cfg.sessions && m.callsOK == int64(m.n) && per*1024 < 10000)})
		}
	}
	for _, m := range r.streams {
		if !strings.HasPrefix(m.name, "mcpfort -> go-sdk") {
			continue
		}
		if m.err != nil {
			vs = append(vs, verdict{"held GET streams", "< 16 KB gateway memory each", "failed: " + oneLine(m.err.Error()), yes(false)})
			continue
		}
		per := perItemKiB(m.srvDelta, m.n)
		measured := fmt.Sprintf("%d held, %d failures, %s each", m.n, m.fails, fmtKiB(per))
		ok := m.fails == 0 && per*1024 < 16000
		if m.note != "" {
			measured += "; but the gateway never sent the streams' response headers"
			ok = false
		}
		vs = append(vs, verdict{"held GET streams", "< 16 KB gateway memory each", measured, yes(ok)})
	}
	for _, b := range r.bursts {
		if b.name == "mcpfort -> go-sdk" && b.t != nil {
			vs = append(vs, verdict{fmt.Sprintf("burst of %d new clients", b.n), "zero failures",
				fmt.Sprintf("%d ok, %d failures", b.t.OK, b.t.Failures), yes(b.t.Failures == 0 && b.t.OK == int64(b.n))})
		}
	}
	if sg := find(r.stdio, "supergateway", "legacy"); len(r.stdio) > 0 {
		for _, x := range r.stdio {
			if !strings.HasPrefix(x.name, "mcpfort") {
				continue
			}
			if x.err != nil || len(x.samples) == 0 {
				vs = append(vs, verdict{fmt.Sprintf("%d clients on one stdio server, %s", r.cfg.stdioVUs, x.name), "zero failures, more calls/s than supergateway", "not measured", nil})
				continue
			}
			rate := x.med(func(s sample) float64 { return s.rate })
			m := fmt.Sprintf("%.0f calls/s, %d failures", rate, x.fails())
			ok := x.fails() == 0
			var met *bool
			if sg != nil {
				srate := sg.med(func(s sample) float64 { return s.rate })
				m += fmt.Sprintf("; supergateway %.0f calls/s, %d failures (%.1fx)", srate, sg.fails(), rate/srate)
				met = yes(ok && rate > srate)
			} else {
				m += "; supergateway not measured"
			}
			vs = append(vs, verdict{fmt.Sprintf("%d clients on one stdio server, %s", r.cfg.stdioVUs, x.name), "zero failures, more calls/s than supergateway", m, met})
		}
	}
	if len(vs) == 0 {
		return
	}
	fmt.Fprintf(bw, "### Targets\n\n| target | goal | measured | met |\n|---|---|---|---|\n")
	for _, v := range vs {
		met := "not measured"
		if v.goal == "-" {
			met = "-"
		}
		if v.met != nil {
			met = "no"
			if *v.met {
				met = "yes"
			}
		}
		fmt.Fprintf(bw, "| %s | %s | %s | %s |\n", v.target, v.goal, v.measured, met)
	}
	fmt.Fprintln(bw)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "`", "'")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func nodeVersion() string {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "not found"
	}
	return strings.TrimSpace(string(out))
}
