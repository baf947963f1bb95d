package observe

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// LogBuffer batches the operational log's lines into fewer writes: a line
// is kept in memory until FlushEvery has passed since the first line
// kept, the lines kept reach MaxBuffered bytes, Flush is called, or (through
// FlushingHandler) a record at warning level or above is logged. Under
// load the access log costs one write(2) per request without it; with it,
// one per interval.
//
// What is kept is lost if the process dies without Close (a fatal runtime
// error, SIGKILL): at most FlushEvery of informational lines, never a
// warning or an error logged through FlushingHandler, which are written at
// once with everything logged before them, in order. Write never splits a
// line: slog hands each record over in one Write call and each call is
// kept or written whole.
type LogBuffer struct {
	w     io.Writer
	every time.Duration

	mu     sync.Mutex
	buf    []byte
	timer  *time.Timer // armed while buf holds lines
	closed bool
}

// MaxBuffered is how many bytes of lines a LogBuffer keeps before it
// writes them out without waiting for its interval.
const MaxBuffered = 64 << 10

// NewLogBuffer returns a LogBuffer writing to w at least every interval.
// An interval of zero or less writes every line at once (no buffering).
func NewLogBuffer(w io.Writer, interval time.Duration) *LogBuffer {
	return &LogBuffer{w: w, every: interval}
}

// Write keeps p (one log record) to be written later, or writes it at once
// when the buffer is off, closed, or p alone would not fit.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.every <= 0 || len(p) >= MaxBuffered {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		return b.w.Write(p)
	}
	if len(b.buf)+len(p) > MaxBuffered {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(b.buf) == 0 {
		if b.timer == nil {
			b.timer = time.AfterFunc(b.every, func() { _ = b.Flush() })
		} else {
			b.timer.Reset(b.every)
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes every line kept. A failed write drops them: there is no
// better place to report it than the log itself.
func (b *LogBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *LogBuffer) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	_, err := b.w.Write(b.buf)
	if cap(b.buf) > 2*MaxBuffered {
		b.buf = nil
	} else {
		b.buf = b.buf[:0]
	}
	return err
}

// Close writes what is kept; later lines are written at once.
func (b *LogBuffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.flushLocked()
}

// FlushingHandler wraps h so that a record at level or above (a warning,
// say) is written at once, with the lines b kept before it.
func FlushingHandler(h slog.Handler, b *LogBuffer, level slog.Level) slog.Handler {
	return &flushing{Handler: h, b: b, level: level}
}

type flushing struct {
	slog.Handler
	b     *LogBuffer
	level slog.Level
}

func (f *flushing) Handle(ctx context.Context, r slog.Record) error {
	err := f.Handler.Handle(ctx, r)
	if r.Level >= f.level {
		if ferr := f.b.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (f *flushing) WithAttrs(as []slog.Attr) slog.Handler {
	return &flushing{Handler: f.Handler.WithAttrs(as), b: f.b, level: f.level}
}

func (f *flushing) WithGroup(name string) slog.Handler {
	return &flushing{Handler: f.Handler.WithGroup(name), b: f.b, level: f.level}
}
