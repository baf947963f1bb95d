package redisstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	mcpsdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit/ratelimittest"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit/redisstore"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	redisstate "github.com/mcpfort/mcpfort/storage/redis"
)

const redisURL = "redis://127.0.0.1:6379/0"

// newNamespace gives a test its own key prefix on the shared Redis and
// deletes every key under it when the test ends.
func newNamespace(t *testing.T) string {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		rdb.Close()
		t.Skipf("redis on 127.0.0.1:6379 is not reachable: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "mcpfort-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// open returns a Store on a Redis client of its own (a replica's), closed
// when the test ends.
func open(t *testing.T, url string, timeout time.Duration, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	rdb, err := redisstate.NewClient(redisstate.ClientOptions{URL: url, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	s, err := redisstore.New(rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	ratelimittest.Run(t, ratelimittest.Harness{New: func(t *testing.T) func() ratelimit.Store {
		prefix := newNamespace(t)
		return func() ratelimit.Store { return open(t, redisURL, 0, redisstore.Options{KeyPrefix: prefix}) }
	}})
}

func TestKeysExpire(t *testing.T) {
	prefix := newNamespace(t)
	s := open(t, redisURL, 0, redisstore.Options{KeyPrefix: prefix})
	now := time.Now()
	if _, err := s.Take(context.Background(), now, []ratelimit.Take{{Key: "k", Interval: 5 * time.Second, Burst: 3, Cost: 2}}); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	sum := sha256.Sum256([]byte("k"))
	ttl, err := rdb.PTTL(context.Background(), prefix+hex.EncodeToString(sum[:16])).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 9*time.Second || ttl > 10*time.Second {
		t.Fatalf("PTTL = %v, want the 10s until the bucket is full again", ttl)
	}
}

// TestUnreachable checks that a Redis that does not answer costs a request
// at most the timeout, and that the Limiter fails closed (503) or open as
// configured, counting either way.
func TestUnreachable(t *testing.T) {
	// A listener that accepts and never answers: the worst case, a hung
	// server rather than a refused connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	closedLn, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := closedLn.Addr().String()
	closedLn.Close()

	for _, addr := range []string{ln.Addr().String(), refused} {
		for _, failOpen := range []bool{false, true} {
			name := addr
			if failOpen {
				name += "/fail-open"
			}
			t.Run(name, func(t *testing.T) {
				s := open(t, "redis://"+addr, 50*time.Millisecond, redisstore.Options{})
				l, err := ratelimit.New(ratelimit.Options{
					Rules: []ratelimit.Rule{{Name: "r", Limit: 10, Period: time.Second}},
					Store: s, Timeout: 100 * time.Millisecond, AllowOnStoreError: failOpen,
				})
				if err != nil {
					t.Fatal(err)
				}
				h := l.Wrap(func(context.Context, *gateway.Call) (upstream.Reply, error) {
					return upstream.Message([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`)), nil
				})
				m, _ := jsonrpc.Decode([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`), jsonrpc.Limits{})
				start := time.Now()
				_, err = h(context.Background(), &gateway.Call{Route: "r", Era: mcp.EraModern, Msg: m})
				if took := time.Since(start); took > time.Second {
					t.Fatalf("took %v with Redis unreachable", took)
				}
				var ge *gateway.Error
				switch {
				case failOpen && err != nil:
					t.Fatalf("fail-open: %v", err)
				case !failOpen && (!errors.As(err, &ge) || ge.Status != http.StatusServiceUnavailable || ge.RPC.Code != jsonrpc.CodeOverloaded):
					t.Fatalf("fail-closed: got %v, want 503 CodeOverloaded", err)
				}
				st := l.Stats()
				if st.StoreErrors != 1 || (failOpen && st.FailedOpen != 1) || (!failOpen && st.FailedOpen != 0) {
					t.Fatalf("stats %+v", st)
				}
			})
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := redisstore.New(nil, redisstore.Options{}); err == nil {
		t.Error("New without a client succeeded")
	}
}

// TestTwoGatewayReplicas runs two real gateways, each with its own Limiter
// and Redis client over one key prefix, behind a round-robin client: the
// limit is enforced once across both.
func TestTwoGatewayReplicas(t *testing.T) {
	prefix := newNamespace(t)
	kr, _ := session.NewKeyring(session.GenerateSecret())
	for _, era := range policytest.Eras[:2] {
		t.Run(era.Name, func(t *testing.T) {
			up := policytest.NewUpstream(t, era.Stateless)
			var urls []string
			var limiters []*ratelimit.Limiter
			for range 2 {
				l, err := ratelimit.New(ratelimit.Options{
					Rules: []ratelimit.Rule{{Name: "per-user-" + era.Name, By: []ratelimit.Dimension{ratelimit.BySubject}, Limit: 4, Period: time.Hour, Methods: []string{"tools/call"}}},
					Store: open(t, redisURL, 0, redisstore.Options{KeyPrefix: prefix}),
				})
				if err != nil {
					t.Fatal(err)
				}
				limiters = append(limiters, l)
				urls = append(urls, policytest.NewGateway(t, up.URL, policytest.Options{Keyring: kr, Middleware: []gateway.Middleware{l.Wrap}}).URL)
			}
			hc := policytest.Client(policytest.Identity("carol", "app"), policytest.Alternating(urls...))
			cs := policytest.Connect(t, urls[0], era, hc)
			for i := range 4 {
				if _, err := cs.CallTool(context.Background(), &mcpsdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			_, err := cs.CallTool(context.Background(), &mcpsdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
			if err == nil || !strings.Contains(err.Error(), "Too Many Requests") {
				t.Fatalf("5th call: %v, want Too Many Requests", err)
			}
			a, b := limiters[0].Stats(), limiters[1].Stats()
			if a.Allowed+b.Allowed != 4 || a.Allowed == 0 || b.Allowed == 0 || a.Limited+b.Limited != 1 {
				t.Fatalf("replica stats %+v and %+v: want 4 admitted between both and 1 refused", a, b)
			}
		})
	}
}
