package local

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/gateway/upstream"
)

// stream keeps the recent events of one SSE stream for resumption.
type stream struct {
	n        int
	max      int
	mu       sync.Mutex
	events   []*upstream.Event // seq first..first+len-1, without ids; decoded once
	first    int               // seq of events[0]; seqs start at 1 (0 is the priming event)
	done     bool
	finished time.Time
	wake     chan struct{}
}

func newStream(n, max int) *stream {
	return &stream{n: n, max: max, first: 1, wake: make(chan struct{})}
}

func (s *stream) append(ev *upstream.Event) {
	s.mu.Lock()
	s.events = append(s.events, ev)
	if len(s.events) > s.max {
		drop := len(s.events) - s.max
		s.events = append(s.events[:0:0], s.events[drop:]...)
		s.first += drop
	}
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

func (s *stream) finish() {
	s.mu.Lock()
	if !s.done {
		s.done = true
		s.finished = time.Now()
		close(s.wake)
		s.wake = make(chan struct{})
	}
	s.mu.Unlock()
}

func (s *stream) expired(now time.Time, ttl time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done && now.Sub(s.finished) > ttl
}

// end returns the seq the next event will have.
func (s *stream) end() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first + len(s.events)
}

// streamReply reads a stream from a position.
type streamReply struct {
	st   *stream
	info upstream.Info
	pos  int  // next seq to deliver; 0 means from the start
	live bool // the GET stream: never ends on its own
}

func (r *streamReply) Info() upstream.Info { return r.info }

func (r *streamReply) Next(ctx context.Context) (*upstream.Event, error) {
	s := r.st
	for {
		s.mu.Lock()
		if r.pos < s.first {
			r.pos = s.first // older events were dropped
		}
		if i := r.pos - s.first; i < len(s.events) {
			ev := s.events[i].WithID(eventID(s.n, r.pos))
			r.pos++
			s.mu.Unlock()
			return ev, nil
		}
		if s.done {
			s.mu.Unlock()
			return nil, io.EOF
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (r *streamReply) Close() error { return nil }
