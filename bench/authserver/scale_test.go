package authserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// BenchmarkScaleLookups measures client and refresh-token lookups as the
// store grows: clients at 1,000, 100,000 and MCPFORT_BENCH_SCALE_CLIENTS
// (default 1,000,000), refresh families at 200,000. Filling the store
// takes minutes, so it runs only when MCPFORT_BENCH_SCALE=1.
//
//	MCPFORT_BENCH_SCALE=1 go test -run xxx -bench ScaleLookups -benchtime 20000x -timeout 60m ./bench/authserver/
func BenchmarkScaleLookups(b *testing.B) {
	if os.Getenv("MCPFORT_BENCH_SCALE") != "1" {
		b.Skip("set MCPFORT_BENCH_SCALE=1 to fill a store with a million clients")
	}
	maxClients := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("MCPFORT_BENCH_SCALE_CLIENTS")); err == nil && v > 0 {
		maxClients = v
	}
	backendsToRun := backends
	if v := os.Getenv("MCPFORT_BENCH_SCALE_BACKENDS"); v != "" {
		backendsToRun = []string{v}
	}
	for _, be := range backendsToRun {
		b.Run(be, func(b *testing.B) {
			store := openStore(b, be)
			ctx := context.Background()
			now := time.Now()
			clients, families := 0, 0
			// fill runs insert(i) for i in [from, to) on 8 goroutines: SQLite
			// serializes them on its writer, PostgreSQL commits in parallel.
			fill := func(from, to int, insert func(i int) error) {
				var wg sync.WaitGroup
				var failed atomic.Value
				const workers = 8
				for w := range workers {
					wg.Go(func() {
						for i := from + w; i < to; i += workers {
							if err := insert(i); err != nil {
								failed.Store(err)
								return
							}
						}
					})
				}
				wg.Wait()
				if err, _ := failed.Load().(error); err != nil {
					b.Fatal(err)
				}
			}
			grow := func(nc, nf int) {
				start := time.Now()
				fill(clients, nc, func(i int) error {
					return store.CreateClient(ctx, &storage.Client{ID: fmt.Sprint("mcpf_", i), Source: storage.ClientDynamic,
						Metadata:  oauth.ClientMetadata{ClientName: "c", RedirectURIs: []string{"http://127.0.0.1/cb"}, TokenEndpointAuthMethod: "none"},
						CreatedAt: now, UpdatedAt: now})
				})
				clients = max(clients, nc)
				fill(families, nf, func(i int) error {
					return store.CreateFamily(ctx, &storage.RefreshFamily{ID: fmt.Sprint("f", i), ClientID: "c", UserID: "u",
						ExpiresAt: now.Add(time.Hour), CurrentHash: sum(fmt.Sprint("rt", i)), CreatedAt: now, RotatedAt: now})
				})
				families = max(families, nf)
				b.Logf("%s: store at %d clients, %d families (filled in %v)", be, clients, families, time.Since(start).Round(time.Second))
			}
			for _, n := range []int{1_000, 100_000, maxClients} {
				grow(n, min(200_000, n))
				b.Run(fmt.Sprintf("GetClient/clients=%d", n), func(b *testing.B) {
					for b.Loop() {
						if _, err := store.GetClient(ctx, fmt.Sprint("mcpf_", rand.IntN(clients))); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run(fmt.Sprintf("GetFamilyByToken/families=%d", families), func(b *testing.B) {
					for b.Loop() {
						if _, _, err := store.GetFamilyByToken(ctx, sum(fmt.Sprint("rt", rand.IntN(families)))); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
