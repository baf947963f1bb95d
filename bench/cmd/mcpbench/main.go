package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is the run's settings, from flags.
type config struct {
	bin, node, profile string
	rounds             int
	warmup, duration   time.Duration
	latencyDuration    time.Duration
	vus, stdioVUs      int
	sessions, streams  int
	burst              int
	only               map[string]bool
	tmp                string
	log                io.Writer
	command            string // how the run was invoked, for the report
}

var scenarios = []string{"calls", "latency", "stdio", "sessions", "streams", "burst"}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcpbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{log: stderr}
	fs.StringVar(&c.bin, "bin", "bin/bench", "`directory` holding mcpfort, bare, gosdk and gwprof")
	fs.StringVar(&c.node, "node", "bench/node", "`directory` with supergateway installed (node_modules); empty skips supergateway")
	fs.StringVar(&c.profile, "profile", "", "run mcpfort under gwprof and write CPU and heap profiles into `DIR`")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; peers alternate within each round and tables show medians")
	fs.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "unmeasured warmup before each measured window")
	fs.DurationVar(&c.duration, "duration", 2*time.Second, "measured window per peer per round")
	fs.DurationVar(&c.latencyDuration, "latency-duration", time.Second, "measured window per peer per round in the one-client scenario")
	fs.IntVar(&c.vus, "vus", 32, "clients in the calls scenario")
	fs.IntVar(&c.stdioVUs, "stdio-vus", 200, "clients in the stdio scenario")
	fs.IntVar(&c.sessions, "sessions", 10000, "idle sessions in the sessions scenario")
	fs.IntVar(&c.streams, "streams", 0, "held GET streams (0: 10,000, or fewer if the open-file limit cannot hold the gateway's two descriptors per stream)")
	fs.IntVar(&c.burst, "burst", 1000, "simultaneous new clients in the burst scenario")
	cmdline := fs.String("cmdline", "", "how the run was invoked, for the report (scripts/bench.sh sets it)")
	only := fs.String("only", strings.Join(scenarios, ","), "comma-separated scenarios to run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c.only = map[string]bool{}
	for s := range strings.SplitSeq(*only, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		known := false
		for _, k := range scenarios {
			known = known || k == s
		}
		if !known {
			fmt.Fprintf(stderr, "mcpbench: unknown scenario %q (want %s)\n", s, strings.Join(scenarios, ", "))
			return 2
		}
		c.only[s] = true
	}
	if c.rounds < 1 || c.vus < 1 || c.stdioVUs < 1 || c.sessions < 1 || c.burst < 1 || c.streams < 0 {
		fmt.Fprintln(stderr, "mcpbench: counts must be positive")
		return 2
	}
	c.command = *cmdline
	if c.command == "" {
		c.command = "mcpbench " + strings.Join(args, " ")
	}
	// Peers run in their own directories: make paths absolute.
	for _, p := range []*string{&c.bin, &c.node, &c.profile} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				fmt.Fprintln(stderr, "mcpbench:", err)
				return 1
			}
			*p = abs
		}
	}
	for _, b := range []string{"mcpfort", "bare", "gosdk"} {
		if _, err := os.Stat(filepath.Join(c.bin, b)); err != nil {
			fmt.Fprintf(stderr, "mcpbench: %v (build the peers first: scripts/bench.sh does)\n", err)
			return 1
		}
	}
	if c.profile != "" {
		if err := os.MkdirAll(c.profile, 0o755); err != nil {
			fmt.Fprintln(stderr, "mcpbench:", err)
			return 1
		}
	}
	tmp, err := os.MkdirTemp("", "mcpbench-")
	if err != nil {
		fmt.Fprintln(stderr, "mcpbench:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	c.tmp = tmp

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &report{cfg: c}
	start := time.Now()
	err = runAll(ctx, c, r)
	r.elapsed = time.Since(start)
	r.write(stdout)
	if err != nil {
		fmt.Fprintln(stderr, "mcpbench:", err)
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return 1
	}
	return 0
}

func runAll(ctx context.Context, c *config, r *report) error {
	steps := []struct {
		name string
		fn   func(context.Context, *config, *report) error
	}{
		{"calls", scenarioCalls},
		{"stdio", scenarioStdio},
		{"sessions", scenarioSessions},
		{"streams", scenarioStreams},
		{"burst", scenarioBurst},
	}
	for _, s := range steps {
		if !c.only[s.name] && !(s.name == "calls" && c.only["latency"]) {
			continue
		}
		if err := s.fn(ctx, c, r); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// logf reports progress on stderr.
func (c *config) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "mcpbench: "+format+"\n", args...)
}
