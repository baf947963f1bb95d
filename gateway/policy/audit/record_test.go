package audit

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway/policy/internal/jcs"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

// TestCanonicalEncoding checks the hand-written canonical form against
// the general one: encoding/json, then RFC 8785.
func TestCanonicalEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := []string{"", "a", "ü\u2028\"\\\n\t\x01<>&", "sha256:00ff", "😀 \ufb33", "tools/call", `{"text":"x"}`}
	s := func() string { return pick[rng.IntN(len(pick))] }
	for i := range 500 {
		r := &Record{Seq: int64(i), Time: time.UnixMicro(rng.Int64N(1 << 52)), RequestID: s(), RPCID: s(), Issuer: s(), Subject: s(),
			Client: s(), Server: s(), Method: s(), Tool: s(), ArgsHash: s(), Decision: s(), Reason: s(), Status: s(),
			ErrorCode: rng.Int64N(1<<40) - 1<<39, LatencyMicros: rng.Int64N(1 << 40), Arguments: s(), Result: s(), PrevHash: s(),
			TraceID: s(), AnswerKey: s()}
		b, err := json.Marshal(canonical{
			Seq: r.Seq, TimeUS: r.Time.UnixMicro(), RequestID: r.RequestID, RPCID: r.RPCID, Issuer: r.Issuer,
			Subject: r.Subject, Client: r.Client, Server: r.Server, Method: r.Method, Tool: r.Tool, ArgsHash: r.ArgsHash,
			Decision: r.Decision, Reason: r.Reason, Status: r.Status, ErrorCode: r.ErrorCode, LatencyUS: r.LatencyMicros,
			Arguments: r.Arguments, Result: r.Result, PrevHash: r.PrevHash, TraceID: r.TraceID, AnswerKey: r.AnswerKey,
		})
		if err != nil {
			t.Fatal(err)
		}
		want, err := jcs.Canonicalize(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendCanonical(nil, r); string(got) != string(want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func BenchmarkComputeHash(b *testing.B) {
	r := &Record{Seq: 12345, Time: time.Now(), RequestID: "req-1", RPCID: "42", Issuer: "https://as.example.com", Subject: "user-1234",
		Client: "https://client.example.com/cimd.json", Server: "github", Method: "tools/call", Tool: "search",
		ArgsHash: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Decision: Allow, Status: StatusOK,
		LatencyMicros: 1234, PrevHash: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
	b.ReportAllocs()
	for b.Loop() {
		computeHash(r, nil)
	}
}

// BenchmarkHasher is the chain hash of one record as Append computes it,
// unkeyed and keyed.
func BenchmarkHasher(b *testing.B) {
	r := &Record{Seq: 12345, Time: time.Now(), RequestID: "req-1", RPCID: "42", Issuer: "https://as.example.com", Subject: "user-1234",
		Client: "https://client.example.com/cimd.json", Server: "github", Method: "tools/call", Tool: "search",
		ArgsHash: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Decision: Allow, Status: StatusOK,
		LatencyMicros: 1234, PrevHash: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
	canon := appendCanonical(nil, r)
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"sha256", nil}, {"hmac", []byte("0123456789abcdef0123456789abcdef")}} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHasher(tc.key)
			b.ReportAllocs()
			for b.Loop() {
				h.sum(canon)
			}
		})
	}
}

func BenchmarkAppendSQLite(b *testing.B) { benchmarkAppendSQLite(b, nil) }

// BenchmarkAppendSQLiteKeyed appends as the gateway does by default: an
// HMAC-keyed chain.
func BenchmarkAppendSQLiteKeyed(b *testing.B) {
	benchmarkAppendSQLite(b, []byte("0123456789abcdef0123456789abcdef"))
}

// BenchmarkAppendSQLiteBatch appends keyed records in transactions of
// 1, 4, 28 (what 32 concurrent calls share), 32 and 512 records: what one
// transaction costs against what one record does (cpu-ns/record is the
// process's CPU, SQLite's included).
func BenchmarkAppendSQLiteBatch(b *testing.B) {
	for _, n := range []int{1, 4, 28, 32, 512} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			benchmarkAppendSQLiteN(b, []byte("0123456789abcdef0123456789abcdef"), n)
		})
	}
}

// BenchmarkAppendSQLiteAnswerKeys appends keyed records that each carry
// an answer key (a legacy session's answer with an event id), which the
// append looks up, in transactions of 1 and 28 records.
func BenchmarkAppendSQLiteAnswerKeys(b *testing.B) {
	for _, n := range []int{1, 28} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			benchmarkAppendSQLiteKeys(b, []byte("0123456789abcdef0123456789abcdef"), n, true)
		})
	}
}

func benchmarkAppendSQLite(b *testing.B, key []byte) { benchmarkAppendSQLiteN(b, key, 512) }

func benchmarkAppendSQLiteN(b *testing.B, key []byte, batch int) {
	benchmarkAppendSQLiteKeys(b, key, batch, false)
}

func benchmarkAppendSQLiteKeys(b *testing.B, key []byte, batch int, answerKeys bool) {
	s, err := NewStore(storagetest.Open(b, "sqlite:"+filepath.Join(b.TempDir(), "a.db")), StoreOptions{Key: key})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]Record, batch)
	n := 0
	cpu0 := processCPU()
	b.ReportAllocs()
	for b.Loop() {
		for i := range recs {
			recs[i] = Record{Time: time.Now(), RPCID: "42", Issuer: "https://as.example.com", Subject: "user-1234", Client: "cli",
				Server: "github", Method: "tools/call", Tool: "search", ArgsHash: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
				Decision: Allow, Status: StatusOK, LatencyMicros: 1234}
			if answerKeys {
				n++
				recs[i].AnswerKey = strconv.Itoa(n)
			}
		}
		if err := s.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*len(recs)), "cpu-ns/record")
}

// processCPU is the process's user and system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestClean: strings are stored as valid UTF-8 without NUL bytes, cut
// at a character boundary past their limit; clean ones are kept as they
// are.
func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"", 8, ""},
		{"plain ascii", 64, "plain ascii"},
		{"héllo ✓", 64, "héllo ✓"},
		{"bad\xffutf8", 64, "bad\uFFFDutf8"},
		{"nul\x00byte", 64, "nul\uFFFDbyte"},
		{"abcdefgh", 8, "abcdefgh"},
		{"abcdefghi", 8, "abcdefgh…"},
		{"abcdefé", 7, "abcdef…"},
	} {
		if got := clean(tc.in, tc.limit); got != tc.want {
			t.Errorf("clean(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}
