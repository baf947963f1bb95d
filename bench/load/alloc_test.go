package load

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// rawServer answers every request on its connections with reply, without
// net/http, so that it allocates nothing per request itself.
func rawServer(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(reply)) + "\r\n\r\n" + reply)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReaderSize(c, 16<<10)
				body := make([]byte, 64<<10)
				for {
					n := 0
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
						if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
							n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
						}
					}
					if _, err := io.ReadFull(br, body[:n]); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/mcp"
}

// TestCallAllocations checks that the hot path does not allocate: the
// generator shares the CPU with the server it measures.
func TestCallAllocations(t *testing.T) {
	for _, era := range []Era{EraNone, EraLegacy, EraModern} {
		t.Run(era.String(), func(t *testing.T) {
			tg, err := parseTarget(rawServer(t, `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`))
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(tg, clientOptions{era: era, check: CheckShape, tool: "echo", token: "t", maxBody: 1 << 20, timeout: 10 * time.Second}, 1)
			defer c.Close()
			if era == EraLegacy {
				c.useSession(Session{ID: "s", Version: VersionLegacy})
			}
			ctx := context.Background()
			if err := c.call(ctx); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(200, func() {
				if err := c.call(ctx); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > 0 {
				t.Errorf("%.1f allocations per call, want 0", allocs)
			}
		})
	}
}
