package observe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// writes records every Write call it gets.
type writes struct {
	mu    sync.Mutex
	calls []string
	fail  error
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return 0, w.fail
	}
	w.calls = append(w.calls, string(p))
	return len(p), nil
}

func (w *writes) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

func TestLogBufferKeepsLinesUntilFlush(t *testing.T) {
	w := &writes{}
	b := NewLogBuffer(w, time.Hour)
	for i := range 3 {
		if n, err := fmt.Fprintf(b, "line %d\n", i); err != nil || n != 7 {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := w.get(); len(got) != 0 {
		t.Fatalf("written before the interval: %q", got)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := w.get(); len(got) != 1 || got[0] != "line 0\nline 1\nline 2\n" {
		t.Fatalf("one write of the three lines in order, got %q", got)
	}
	if err := b.Flush(); err != nil || len(w.get()) != 1 {
		t.Fatalf("an empty flush wrote: %q %v", w.get(), err)
	}
}

func TestLogBufferWritesAfterInterval(t *testing.T) {
	w := &writes{}
	b := NewLogBuffer(w, 20*time.Millisecond)
	defer b.Close()
	io.WriteString(b, "a\n")
	io.WriteString(b, "b\n")
	deadline := time.Now().Add(5 * time.Second)
	for len(w.get()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("lines not written within 5s of a 20ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := w.get(); len(got) != 1 || got[0] != "a\nb\n" {
		t.Fatalf("got %q", got)
	}
	// The timer is armed again by the next line.
	io.WriteString(b, "c\n")
	for len(w.get()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the second line was not written")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLogBufferFull(t *testing.T) {
	w := &writes{}
	b := NewLogBuffer(w, time.Hour)
	line := strings.Repeat("x", 1000) + "\n"
	n := MaxBuffered / len(line)
	for range n {
		io.WriteString(b, line)
	}
	if got := w.get(); len(got) != 0 {
		t.Fatalf("%d lines (%d bytes) written before the buffer was full", n, n*len(line))
	}
	io.WriteString(b, line) // does not fit: what is kept goes first
	got := w.get()
	if len(got) != 1 || len(got[0]) != n*len(line) {
		t.Fatalf("want one write of %d bytes, got %d writes", n*len(line), len(got))
	}
	// A line as large as the buffer is written at once, after what is kept.
	big := strings.Repeat("y", MaxBuffered) + "\n"
	io.WriteString(b, big)
	got = w.get()
	if len(got) != 3 || got[1] != line || got[2] != big {
		t.Fatalf("want the kept line then the big one, got %d writes", len(got))
	}
}

func TestLogBufferOffAndClosed(t *testing.T) {
	w := &writes{}
	off := NewLogBuffer(w, 0)
	io.WriteString(off, "now\n")
	if got := w.get(); len(got) != 1 {
		t.Fatalf("interval 0 must write at once, got %q", got)
	}
	w2 := &writes{}
	b := NewLogBuffer(w2, time.Hour)
	io.WriteString(b, "kept\n")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(b, "after\n")
	if got := w2.get(); len(got) != 2 || got[0] != "kept\n" || got[1] != "after\n" {
		t.Fatalf("Close writes what is kept, then lines go straight through: %q", got)
	}
}

func TestLogBufferWriteError(t *testing.T) {
	boom := errors.New("disk full")
	w := &writes{fail: boom}
	b := NewLogBuffer(w, time.Hour)
	io.WriteString(b, "lost\n")
	if err := b.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush = %v, want the write's error", err)
	}
	w.mu.Lock()
	w.fail = nil
	w.mu.Unlock()
	if err := b.Flush(); err != nil || len(w.get()) != 0 {
		t.Fatalf("a failed flush must drop its lines, not write them twice: %q %v", w.get(), err)
	}
}

// A warning goes out at once, after the lines kept before it: the order of
// the log is the order of the calls.
func TestFlushingHandler(t *testing.T) {
	w := &writes{}
	b := NewLogBuffer(w, time.Hour)
	log := slog.New(FlushingHandler(slog.NewJSONHandler(b, nil), b, slog.LevelWarn)).With("route", "/mcp")
	log.Info("http request", "n", 1)
	log.Info("http request", "n", 2)
	if got := w.get(); len(got) != 0 {
		t.Fatalf("info lines written at once: %q", got)
	}
	log.WithGroup("g").Error("upstream failed", "err", "refused")
	got := w.get()
	if len(got) != 1 {
		t.Fatalf("want one write, got %q", got)
	}
	lines := strings.Split(strings.TrimSuffix(got[0], "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"n":1`) || !strings.Contains(lines[1], `"n":2`) ||
		!strings.Contains(lines[2], `"upstream failed"`) || !strings.Contains(lines[2], `"route":"/mcp"`) {
		t.Fatalf("want both info lines, then the error, in order: %q", lines)
	}
	if !log.Enabled(context.Background(), slog.LevelInfo) {
		t.Fatal("Enabled must be the wrapped handler's")
	}
}

// Concurrent records stay whole and none is lost.
func TestLogBufferConcurrent(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	})
	b := NewLogBuffer(w, time.Millisecond)
	log := slog.New(FlushingHandler(slog.NewTextHandler(b, nil), b, slog.LevelWarn))
	var wg sync.WaitGroup
	const goroutines, each = 8, 500
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if i%100 == 0 {
					log.Warn("w", "g", g, "i", i)
				} else {
					log.Info("i", "g", g, "i", i)
				}
			}
		}()
	}
	wg.Wait()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != goroutines*each {
		t.Fatalf("%d lines, want %d", len(lines), goroutines*each)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "time=") || !strings.Contains(l, " i=") {
			t.Fatalf("torn line %q", l)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// BenchmarkAccessLogLine compares one access-log line written at once with
// one kept by a LogBuffer, both to a file (what the process's stderr
// usually is: a file or a pipe).
func BenchmarkAccessLogLine(b *testing.B) {
	f, err := os.Create(b.TempDir() + "/log")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		name  string
		every time.Duration
	}{{"each", 0}, {"buffered", 100 * time.Millisecond}} {
		b.Run(c.name, func(b *testing.B) {
			buf := NewLogBuffer(f, c.every)
			log := slog.New(FlushingHandler(slog.NewJSONHandler(buf, nil), buf, slog.LevelWarn))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				log.LogAttrs(ctx, slog.LevelInfo, "http request", slog.String("request_id", "0123456789abcdef"),
					slog.String("method", "POST"), slog.String("route", "/mcp"), slog.Int("status", 200),
					slog.Duration("duration", 1234*time.Microsecond), slog.String("mcp_method", "tools/call"))
			}
			b.StopTimer()
			buf.Close()
		})
	}
}
