package stdio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mcpfort/mcpfort/jsonrpc"
)

// serverBin is the test MCP server (internal/testserver), built once.
var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stdio-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBin = filepath.Join(dir, "testserver")
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	build := exec.Command(gobin, "build", "-o", serverBin, "./internal/testserver")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the test server:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// clientInit is what the tests' clients send as initialize params.
const clientInit = `{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"test","version":"1"}}`

// newPool returns a pool running the test server (with extra flags); it is
// closed, and checked to leave no process behind, when the test ends.
func newPool(t testing.TB, o Options, flags ...string) *Pool {
	t.Helper()
	if o.Command == nil {
		o.Command = append([]string{serverBin}, flags...)
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	var mu sync.Mutex
	var pids []int
	p, err := newHooked(o, func(pid int) {
		mu.Lock()
		pids = append(pids, pid)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if s := p.Stats(); s.Processes != 0 || s.InFlight != 0 {
			t.Errorf("after Close: %+v", s)
		}
		mu.Lock()
		defer mu.Unlock()
		if got, want := uint64(len(pids)), p.Stats().Starts; got != want {
			t.Errorf("%d processes reaped, %d started", got, want)
		}
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("process %d still exists after Close", pid)
			}
		}
	})
	return p
}

// alive reports whether pid names a process that is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesized command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone waits until pid has exited (a zombie counts as exited), up to
// timeout; it reports whether it did. A pidfd becomes readable when the
// process exits, for any process, not only children.
func waitGone(t testing.TB, pid int, timeout time.Duration) bool {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return errors.Is(err, unix.ESRCH)
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(timeout.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("poll pidfd: %v", err)
		}
		return n == 1
	}
}

// testLogger logs to the test log at debug level, only when -v.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

func msg(t testing.TB, s string) *jsonrpc.Message {
	t.Helper()
	m, err := jsonrpc.Decode([]byte(s), jsonrpc.Limits{})
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

// toolCall builds a tools/call request.
func toolCall(t testing.TB, id string, name string, args any, meta string) *jsonrpc.Message {
	t.Helper()
	a, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	params := `{"name":` + strconv.Quote(name) + `,"arguments":` + string(a)
	if meta != "" {
		params += `,"_meta":` + meta
	}
	return msg(t, `{"jsonrpc":"2.0","id":`+id+`,"method":"tools/call","params":`+params+`}}`)
}

// drain reads a call to its end: the messages before the response, and the
// response.
func drain(ctx context.Context, c *Call) (msgs []*jsonrpc.Message, resp *jsonrpc.Message, err error) {
	for {
		m, err := c.Next(ctx)
		if errors.Is(err, io.EOF) {
			return msgs, resp, nil
		}
		if err != nil {
			return msgs, resp, err
		}
		if m.Kind == jsonrpc.KindResponse {
			resp = m
		} else {
			msgs = append(msgs, m)
		}
	}
}

// callText makes a tools/call and returns the text of its result.
func callText(ctx context.Context, t testing.TB, c *Conn, id, name string, args any) (string, error) {
	t.Helper()
	call, err := c.Call(ctx, toolCall(t, id, name, args, ""))
	if err != nil {
		return "", err
	}
	_, resp, err := drain(ctx, call)
	if err != nil {
		return "", err
	}
	return resultText(t, resp), nil
}

// resultText returns the first text content of a tools/call response.
func resultText(t testing.TB, resp *jsonrpc.Message) string {
	t.Helper()
	if resp == nil {
		t.Fatal("no response")
	}
	if resp.Error != nil {
		return "error: " + string(resp.Error)
	}
	var r struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(resp.Result, &r); err != nil || len(r.Content) == 0 {
		t.Fatalf("unexpected result %s (%v)", resp.Raw, err)
	}
	if r.IsError {
		return "tool error: " + r.Content[0].Text
	}
	return r.Content[0].Text
}

// handshake does the client's side of initialize through a pass-through
// PerSession conn.
func handshake(ctx context.Context, t testing.TB, c *Conn) {
	t.Helper()
	call, err := c.Call(ctx, msg(t, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":`+clientInit+`}`))
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err := drain(ctx, call)
	if err != nil || resp == nil || resp.Result == nil {
		t.Fatalf("initialize: %v %v", resp, err)
	}
	if err := c.Send(ctx, msg(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil {
		t.Fatal(err)
	}
}

// setLogLevel turns on the server's log notifications for the conn's process.
func setLogLevel(ctx context.Context, t testing.TB, c *Conn, id string) {
	t.Helper()
	call, err := c.Call(ctx, msg(t, `{"jsonrpc":"2.0","id":`+id+`,"method":"logging/setLevel","params":{"level":"debug"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, resp, err := drain(ctx, call); err != nil || resp.Error != nil {
		t.Fatalf("setLevel: %v %v", resp, err)
	}
}

func jsonrpcCode(err error) int64 {
	var e *jsonrpc.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
