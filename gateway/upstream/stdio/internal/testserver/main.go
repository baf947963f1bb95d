// Command testserver is an MCP server on the official Go SDK, speaking stdio,
// that the stdio pool's tests drive. Besides well-behaved tools (echo, slow,
// progress, elicit) it misbehaves on demand, through tools and flags, so the
// tests can check that the pool contains every failure to one process.
//
// Flags:
//
//	-ignore-sigterm   ignore SIGTERM (the pool must escalate to SIGKILL)
//	-exit-at-start    exit with status 3 before reading anything
//	-banner           write one line to stderr at start
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type textIn struct {
	Text string `json:"text"`
}

type slowIn struct {
	MS int `json:"ms"`
}

type progressIn struct {
	Steps int    `json:"steps"`
	Tag   string `json:"tag"`
}

type lineIn struct {
	Bytes int `json:"bytes"`
}

type empty struct{}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

func main() {
	ignoreTerm := flag.Bool("ignore-sigterm", false, "ignore SIGTERM")
	exitAtStart := flag.Bool("exit-at-start", false, "exit at once with status 3")
	banner := flag.Bool("banner", false, "write a line to stderr at start")
	flag.Parse()
	if *exitAtStart {
		os.Exit(3)
	}
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	if *banner {
		fmt.Fprintf(os.Stderr, "testserver %d ready\n", os.Getpid())
	}

	var cancelled atomic.Int64
	s := mcp.NewServer(&mcp.Implementation{Name: "testserver", Version: "1.0.0"}, nil)

	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "returns its text"},
		func(ctx context.Context, req *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
			return text(in.Text), nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: "pid", Description: "returns the process id"},
		func(ctx context.Context, req *mcp.CallToolRequest, in empty) (*mcp.CallToolResult, any, error) {
			return text(strconv.Itoa(os.Getpid())), nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "sleeps ms milliseconds unless cancelled"},
		func(ctx context.Context, req *mcp.CallToolRequest, in slowIn) (*mcp.CallToolResult, any, error) {
			// With a progress token, say when the wait begins, so a test can
			// cancel a call that is certainly running.
			if tok := req.Params.GetProgressToken(); tok != nil {
				err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Message: "started"})
				if err != nil {
					return nil, nil, err
				}
			}
			t := time.NewTimer(time.Duration(in.MS) * time.Millisecond)
			defer t.Stop()
			select {
			case <-t.C:
				return text("slept"), nil, nil
			case <-ctx.Done():
				cancelled.Add(1)
				return nil, nil, ctx.Err()
			}
		})

	mcp.AddTool(s, &mcp.Tool{Name: "cancelled", Description: "how many slow calls were cancelled"},
		func(ctx context.Context, req *mcp.CallToolRequest, in empty) (*mcp.CallToolResult, any, error) {
			return text(strconv.FormatInt(cancelled.Load(), 10)), nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: "progress", Description: "sends progress notifications and log messages"},
		func(ctx context.Context, req *mcp.CallToolRequest, in progressIn) (*mcp.CallToolResult, any, error) {
			tok := req.Params.GetProgressToken()
			for i := 1; i <= in.Steps; i++ {
				if tok != nil {
					err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
						ProgressToken: tok, Progress: float64(i), Total: float64(in.Steps),
						Message: in.Tag,
					})
					if err != nil {
						return nil, nil, err
					}
				}
				//lint:ignore SA1019 logging is what this tool exercises.
				if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: in.Tag}); err != nil {
					return nil, nil, err
				}
			}
			return text("done " + in.Tag), nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: "elicit", Description: "asks the client a question"},
		func(ctx context.Context, req *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: in.Text})
			if err != nil {
				return nil, nil, err
			}
			return text("elicit " + res.Action), nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: "touch_tools", Description: "adds a tool, which makes the server announce a list change"},
		func(ctx context.Context, req *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
			mcp.AddTool(s, &mcp.Tool{Name: "extra_" + in.Text},
				func(context.Context, *mcp.CallToolRequest, empty) (*mcp.CallToolResult, any, error) {
					return text("extra"), nil, nil
				})
			return text("touched"), nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: "crash", Description: "exits at once with status 2"},
		func(ctx context.Context, req *mcp.CallToolRequest, in empty) (*mcp.CallToolResult, any, error) {
			os.Exit(2)
			return nil, nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: "garbage", Description: "writes lines that are not MCP messages to stdout"},
		func(ctx context.Context, req *mcp.CallToolRequest, in empty) (*mcp.CallToolResult, any, error) {
			os.Stdout.WriteString("this is not json\n{\"jsonrpc\":\"2.0\"}\n\xff\xfe\n[1,2]\n{\"jsonrpc\":\"2.0\",\"id\":424242,\"result\":{}}\n")
			return text("after garbage"), nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: "longline", Description: "writes one line of the given length to stdout"},
		func(ctx context.Context, req *mcp.CallToolRequest, in lineIn) (*mcp.CallToolResult, any, error) {
			os.Stdout.WriteString(strings.Repeat("x", in.Bytes) + "\n")
			return text("after longline"), nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: "stderr", Description: "writes its text to stderr"},
		func(ctx context.Context, req *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
			fmt.Fprintln(os.Stderr, in.Text)
			return text("written"), nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: "spawn", Description: "starts a grandchild that sleeps and returns its pid"},
		func(ctx context.Context, req *mcp.CallToolRequest, in empty) (*mcp.CallToolResult, any, error) {
			// The grandchild inherits stdout, so the pool only sees EOF once
			// the whole process group is gone.
			cmd := exec.Command("sleep", "3600")
			cmd.Stdout = os.Stdout
			if err := cmd.Start(); err != nil {
				return nil, nil, err
			}
			return text(strconv.Itoa(cmd.Process.Pid)), nil, nil
		})

	mcp.AddTool(s, &mcp.Tool{Name: "history", Description: "every message received on stdin so far, as method[:clientInfo.name], comma-separated"},
		func(ctx context.Context, req *mcp.CallToolRequest, in empty) (*mcp.CallToolResult, any, error) {
			return text(seen.String()), nil, nil
		})

	r, w := io.Pipe()
	go func() {
		// Every byte from stdin passes the recorder before the server.
		br := bufio.NewReader(os.Stdin)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				seen.record(line)
				if _, werr := w.Write(line); werr != nil {
					return
				}
			}
			if err != nil {
				w.CloseWithError(err)
				return
			}
		}
	}()
	if err := s.Run(context.Background(), &mcp.IOTransport{Reader: r, Writer: nopCloser{os.Stdout}}); err != nil {
		os.Exit(1)
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// history records what the process received, for the tests that check no
// message reached it before its session's initialize.
type history struct {
	mu  sync.Mutex
	log []string
}

var seen history

func (h *history) record(line []byte) {
	var m struct {
		Method string `json:"method"`
		Params struct {
			ClientInfo struct {
				Name string `json:"name"`
			} `json:"clientInfo"`
		} `json:"params"`
	}
	e := "?"
	if json.Unmarshal(line, &m) == nil {
		e = m.Method
		if e == "" {
			e = "response"
		}
		if m.Method == "initialize" {
			e += ":" + m.Params.ClientInfo.Name
		}
	}
	h.mu.Lock()
	h.log = append(h.log, e)
	h.mu.Unlock()
}

func (h *history) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.log, ",")
}
