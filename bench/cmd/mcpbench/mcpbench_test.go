package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReadyLines(t *testing.T) {
	tests := []struct {
		name  string
		ready readyFunc
		line  string
		want  string
	}{
		{"peer", readyListening, "listening on http://127.0.0.1:4242/mcp", "http://127.0.0.1:4242/mcp"},
		{"peer, other line", readyListening, "starting", ""},
		{"mcpfort", readyMcpfort("/mcp"), `{"time":"t","level":"INFO","msg":"mcpfort listening","addr":"127.0.0.1:555","public_url":"http://x"}`, "http://127.0.0.1:555/mcp"},
		{"mcpfort, route line", readyMcpfort("/mcp"), `{"level":"INFO","msg":"route","server":"echo","url":"http://x/mcp"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.ready(tt.line)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("ready(%q) = %q, %v; want %q", tt.line, got, ok, tt.want)
			}
		})
	}
}

// TestStartProcAndStop runs a real process that announces itself, starts
// a child, and must be gone, child included, after stop.
func TestStartProcAndStop(t *testing.T) {
	p, err := startProc(context.Background(), "sh", []string{"sh", "-c", "sleep 60 & echo listening on http://127.0.0.1:1/mcp; wait"}, nil, "", readyListening)
	if err != nil {
		t.Fatal(err)
	}
	if p.url != "http://127.0.0.1:1/mcp" {
		t.Errorf("url %q", p.url)
	}
	tree, err := p.sample()
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Descs) != 1 {
		t.Errorf("descendants %v, want the sleep", tree.Descs)
	}
	p.stop()
	for pid := range tree.Descs {
		if alive(pid) {
			t.Errorf("child %d outlived stop", pid)
		}
	}
}

func TestStartProcReportsEarlyExit(t *testing.T) {
	_, err := startProc(context.Background(), "sh", []string{"sh", "-c", "echo boom >&2; exit 3"}, nil, "", readyListening)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("error %v, want the process's last output", err)
	}
}

func TestMedian(t *testing.T) {
	ss := []sample{{rate: 3}, {rate: 1}, {rate: 2}}
	if got := median(ss, func(s sample) float64 { return s.rate }); got != 2 {
		t.Errorf("median = %v", got)
	}
	if got := median(ss[:2], func(s sample) float64 { return s.rate }); got != 2 {
		t.Errorf("median of two = %v", got)
	}
	if got := median(nil, func(s sample) float64 { return s.rate }); got != 0 {
		t.Errorf("median of none = %v", got)
	}
}

func TestFormatting(t *testing.T) {
	got := []string{fmtUS(0), fmtUS(12.34), fmtUS(456.7), fmtUS(12345), fmtKiB(0.01), fmtKiB(15.78), oneLine("a|b\nc`d"), shellQuote("it's")}
	want := []string{"-", "12.3 us", "457 us", "12 ms", "0 (no growth)", "15.8 KiB", `a\|b c'd`, `'it'\''s'`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestReport renders a report with every section and checks the verdicts.
func TestReport(t *testing.T) {
	s := func(rate, cpu float64, p50 time.Duration) []sample {
		return []sample{{rate: rate, srvCPU: cpu, p50: p50}}
	}
	r := &report{cfg: &config{rounds: 1, duration: time.Second, vus: 32, stdioVUs: 200, sessions: 10, burst: 5, command: "scripts/bench.sh"}}
	r.calls = []*row{
		{name: "bare net/http (floor)", era: "none", samples: s(1000, 20, 0)},
		{name: "mcpfort +token -> fastecho", era: "legacy", samples: s(500, 45, 0)},
		{name: "mcpfort -> go-sdk", era: "legacy", samples: s(100, 60, 0)},
	}
	r.latency = []*row{
		{name: "go-sdk direct", era: "legacy", samples: s(10, 0, 200*time.Microsecond)},
		{name: "mcpfort -> go-sdk", era: "legacy", samples: s(10, 0, 250*time.Microsecond)},
	}
	r.sessions = []memResult{{name: "mcpfort -> go-sdk", n: 10, callsOK: 10, srvDelta: 1024}}
	var b bytes.Buffer
	r.write(&b)
	out := b.String()
	for _, want := range []string{
		"| gateway CPU per proxied tools/call (token check and session on, fast upstream) | <= 2.5x bare net/http | 45.0 us vs. 20.0 us: 2.25x | yes |",
		"| gateway CPU per proxied tools/call (go-sdk upstream) | <= 2.5x bare net/http | 60.0 us vs. 20.0 us: 3.00x | no |",
		"| added p50 latency, one client (go-sdk upstream) | < 100 us | 50.0 us | yes |",
		"| 10 idle legacy sessions | zero errors, < 10 KB gateway memory each | 10/10 verified, 0 failures, 0.1 KiB each | yes |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
