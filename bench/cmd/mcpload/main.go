package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/mcpfort/mcpfort/bench/load"
	"github.com/mcpfort/mcpfort/bench/procstat"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcpload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "MCP endpoint `URL` (http://host:port/path)")
	eraName := fs.String("era", "legacy", "protocol era: legacy (2025-11-25), modern (2026-07-28) or none (bare POSTs)")
	check := fs.String("check", "echo", "verification: echo (id and text must match) or shape (any text result)")
	tool := fs.String("tool", "echo", "tool to call with {\"text\": ...}")
	vus := fs.Int("vus", 32, "virtual users, one connection and one call in flight each")
	warmup := fs.Duration("warmup", time.Second, "unmeasured warmup")
	duration := fs.Duration("duration", 5*time.Second, "measured window")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on each exchange")
	pid := fs.Int("pid", 0, "server `PID` whose CPU time and RSS to sample over the window")
	tree := fs.Bool("tree", false, "also sample the server's descendants (stdio children)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "mcpload: -url is required and takes no arguments")
		return 2
	}
	era, err := load.ParseEra(*eraName)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	opts := load.Options{URL: *url, Era: era, Tool: *tool, VUs: *vus, Warmup: *warmup, Duration: *duration, Timeout: *timeout}
	switch *check {
	case "echo":
	case "shape":
		opts.Check = load.CheckShape
	default:
		fmt.Fprintf(stderr, "mcpload: unknown -check %q\n", *check)
		return 2
	}
	var (
		self0, self1 procstat.Stat
		srv0, srv1   procstat.Tree
		sampleErr    error
	)
	sample := func(self *procstat.Stat, srv *procstat.Tree) {
		var err error
		if *self, err = procstat.Read(os.Getpid()); err != nil {
			sampleErr = err
		}
		if *pid > 0 {
			if *tree {
				*srv, err = procstat.ReadTree(*pid)
			} else {
				srv.Root, err = procstat.Read(*pid)
			}
			if err != nil {
				sampleErr = err
			}
		}
	}
	opts.Begin = func() { sample(&self0, &srv0) }
	opts.End = func() { sample(&self1, &srv1) }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := load.Run(ctx, opts)
	if err != nil && res == nil {
		fmt.Fprintln(stderr, "mcpload:", err)
		return 1
	}
	calls := float64(res.Calls)
	perCall := func(d time.Duration) string {
		if calls == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f us", float64(d.Microseconds())/calls)
	}
	fmt.Fprintf(stdout, "era %s, %d VUs, %s window\n", era, *vus, res.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "calls      %d (%.0f/s)\n", res.Calls, res.Rate())
	fmt.Fprintf(stdout, "latency    p50 %s  p90 %s  p99 %s  max %s\n", us(res.Latency.Quantile(0.5)), us(res.Latency.Quantile(0.9)), us(res.Latency.Quantile(0.99)), us(res.Latency.Max()))
	fmt.Fprintf(stdout, "failures   %d in window, %d outside (transport %d, status %d, protocol %d, rpc %d)\n",
		res.Errors, res.OtherErrors, res.ByKind[load.KindTransport], res.ByKind[load.KindStatus], res.ByKind[load.KindProtocol], res.ByKind[load.KindRPC])
	for _, s := range res.Samples {
		fmt.Fprintln(stdout, "  ", s)
	}
	fmt.Fprintf(stdout, "load CPU   %s per call\n", perCall(self1.CPU-self0.CPU))
	if *pid > 0 {
		fmt.Fprintf(stdout, "server CPU %s per call, RSS %.1f MiB\n", perCall(srv1.Root.CPU-srv0.Root.CPU), float64(srv1.Root.RSS)/(1<<20))
		if *tree {
			fmt.Fprintf(stdout, "children   %s per call, RSS %.1f MiB in %d processes\n", perCall(procstat.DescCPU(srv0, srv1)), float64(srv1.DescRSS())/(1<<20), len(srv1.Descs))
		}
	}
	if sampleErr != nil {
		fmt.Fprintln(stderr, "mcpload: sampling:", sampleErr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mcpload:", err)
		return 1
	}
	if res.Failures() > 0 {
		return 1
	}
	return 0
}

func us(d time.Duration) string {
	return fmt.Sprintf("%.0fus", float64(d)/float64(time.Microsecond))
}
