package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("gwprof", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "mcpfort.yaml", "configuration `file`")
	cpu := fs.String("cpuprofile", "", "write a CPU profile to `file`")
	mem := fs.String("memprofile", "", "write a heap profile to `file` at shutdown")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "gwprof: %v\n", err)
		return 1
	}
	logger, closeLog := app.NewBufferedLogger(stderr, cfg.Log)
	defer closeLog()
	a, err := app.New(cfg, app.Options{Version: "gwprof", Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "gwprof: %v\n", err)
		return 1
	}
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			fmt.Fprintf(stderr, "gwprof: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "gwprof: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *mem != "" {
		// SIGUSR1 snapshots the heap while the server holds its load:
		// heap profiles FILE.1, FILE.2, ...
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
		go func() {
			for n := 1; ; n++ {
				select {
				case <-usr1:
				case <-ctx.Done():
					return
				}
				if err := writeHeap(fmt.Sprintf("%s.%d", *mem, n)); err != nil {
					fmt.Fprintf(stderr, "gwprof: %v\n", err)
				}
			}
		}()
	}
	code := 0
	if err := a.Run(ctx, func(net.Addr) {}); err != nil {
		fmt.Fprintf(stderr, "gwprof: %v\n", err)
		code = 1
	}
	if *mem != "" {
		if err := writeHeap(*mem); err != nil {
			fmt.Fprintf(stderr, "gwprof: %v\n", err)
			code = 1
		}
	}
	return code
}

// writeHeap writes a heap profile after a GC, so that it shows live memory.
func writeHeap(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = pprof.Lookup("heap").WriteTo(f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
