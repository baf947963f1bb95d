package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
)

// BenchmarkHeldGETStreams measures what a held legacy GET stream costs the
// gateway: MCPFORT_STREAMS (default 1000) sessions each open GET /mcp over
// its own loopback connection, relayed to an upstream that holds each
// stream open. The upstream and the clients run in a child process (this
// test binary again), so the gateway's process holds only the gateway. It
// reports, per stream, the growth of the live heap and of goroutine stacks
// (runtime.MemStats after a GC: HeapAlloc, StackInuse), of both together,
// of the process's RSS (which also holds GC headroom and freed spans), and
// the goroutines.
//
//	go test -run '^$' -bench HeldGETStreams -benchtime 1x ./gateway/
func BenchmarkHeldGETStreams(b *testing.B) {
	n := 1000
	if v := os.Getenv("MCPFORT_STREAMS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("MCPFORT_STREAMS=%q", v)
		}
	}
	if os.Getenv("MCPFORT_STREAMS_HEAPPROF") != "" {
		runtime.MemProfileRate = 1
	}
	for range b.N {
		heldStreams(b, n)
	}
}

// streamPeer starts this test binary as the peer of heldStreams (mode
// "upstream" or "clients") and returns its stdin, its first output line and
// the process.
func streamPeer(b *testing.B, mode string, env ...string) (io.WriteCloser, *bufio.Reader, *exec.Cmd) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestStreamPeer$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), append(env, "MCPFORT_STREAM_PEER="+mode)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	return in, bufio.NewReader(out), cmd
}

func heldStreams(b *testing.B, n int) {
	_, upOut, _ := streamPeer(b, "upstream")
	upURL, err := upOut.ReadString('\n')
	if err != nil {
		b.Fatal("upstream peer: ", err)
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	rem, err := remote.New(remote.Options{URL: strings.TrimSpace(upURL)})
	if err != nil {
		b.Fatal(err)
	}
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraLegacy})
	if err != nil {
		b.Fatal(err)
	}
	gw := httptest.NewUnstartedServer(g)
	gw.Config.ReadHeaderTimeout = 10 * time.Second
	gw.Start()
	defer gw.Close()

	sids := make([]string, n)
	now := time.Now()
	for i := range sids {
		sids[i], _ = kr.Seal(&session.State{ID: session.NewID(), Route: "r", Version: "2025-11-25",
			UpstreamSession: "up-" + strconv.Itoa(i), Created: now, Expires: now.Add(time.Hour)})
	}
	f, err := os.CreateTemp(b.TempDir(), "sids")
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprint(f, strings.Join(sids, "\n"))
	f.Close()
	sids = nil

	before := memNow()
	cin, cout, _ := streamPeer(b, "clients", "MCPFORT_STREAM_GW="+gw.URL, "MCPFORT_STREAM_SIDS="+f.Name())
	line, err := cout.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		b.Fatalf("clients peer: %q %v", line, err)
	}
	after := memNow()
	if path := os.Getenv("MCPFORT_STREAMS_HEAPPROF"); path != "" {
		hf, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		_ = pprof.Lookup("heap").WriteTo(hf, 0)
		hf.Close()
	}
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) / 1024 }
	heap, stack := per(after.heap, before.heap), per(after.stack, before.stack)
	b.ReportMetric(heap, "heap-KiB/stream")
	b.ReportMetric(stack, "stack-KiB/stream")
	b.ReportMetric(heap+stack, "KiB/stream")
	b.ReportMetric(per(after.rss, before.rss), "rss-KiB/stream")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/stream")
	ss := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	metrics.Read(ss)
	b.Logf("goroutine starting stack size %d bytes", ss[0].Value.Uint64())
	b.Logf("%d streams: heap %.1f KiB, stacks %.1f KiB, together %.1f KiB, RSS %.1f KiB, %.1f goroutines per stream",
		n, heap, stack, heap+stack, per(after.rss, before.rss), float64(after.goroutines-before.goroutines)/float64(n))
	cin.Close() // the clients hang up
}

type memSample struct {
	heap, stack, rss uint64
	goroutines       int
}

func memNow() memSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSample{heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				s.rss = kb << 10
			}
		}
	}
	return s
}

// TestStreamPeer is the child process of BenchmarkHeldGETStreams; it is
// skipped unless MCPFORT_STREAM_PEER names its role. As "upstream" it
// prints its URL and holds every GET open with an empty event stream; as
// "clients" it opens one GET per session id through the gateway, each on
// its own connection, prints "ready" once every stream has its headers,
// and holds them until its stdin closes.
func TestStreamPeer(t *testing.T) {
	switch os.Getenv("MCPFORT_STREAM_PEER") {
	case "upstream":
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet {
				w.WriteHeader(http.StatusAccepted)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}))
		defer srv.Close()
		fmt.Println(srv.URL)
		_, _ = io.Copy(io.Discard, os.Stdin)
	case "clients":
		raw, err := os.ReadFile(os.Getenv("MCPFORT_STREAM_SIDS"))
		if err != nil {
			t.Fatal(err)
		}
		addr := strings.TrimPrefix(os.Getenv("MCPFORT_STREAM_GW"), "http://")
		var conns []net.Conn
		for _, sid := range strings.Split(string(raw), "\n") {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			fmt.Fprintf(c, "GET /mcp HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nMcp-Session-Id: %s\r\nMcp-Protocol-Version: 2025-11-25\r\n\r\n", addr, sid)
		}
		for _, c := range conns {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("GET: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		for _, c := range conns {
			c.Close()
		}
	default:
		t.Skip("the child process of BenchmarkHeldGETStreams")
	}
}
