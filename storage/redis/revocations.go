package redis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RevocationEvent is one revocation published by an authorization server:
// exactly one of TokenID, GrantID and Subject selects the access tokens it
// revokes (see the resource server's Revocation, which it mirrors).
type RevocationEvent struct {
	Issuer       string
	TokenID      string
	GrantID      string
	Subject      string
	ClientID     string
	IssuedBefore time.Time // Subject events: tokens issued up to then
	Until        time.Time // when every token concerned has expired
}

// wireEvent is the stream entry's "e" field: JSON, times in Unix
// milliseconds.
type wireEvent struct {
	Iss    string `json:"iss"`
	Jti    string `json:"jti,omitempty"`
	Sid    string `json:"sid,omitempty"`
	Sub    string `json:"sub,omitempty"`
	Client string `json:"client_id,omitempty"`
	Before int64  `json:"before,omitempty"`
	Until  int64  `json:"until"`
}

// maxEventBytes bounds one entry: identifiers are short.
const maxEventBytes = 4096

func encodeEvent(ev RevocationEvent) ([]byte, error) {
	w := wireEvent{Iss: ev.Issuer, Jti: ev.TokenID, Sid: ev.GrantID, Sub: ev.Subject, Client: ev.ClientID, Until: ev.Until.UnixMilli()}
	if !ev.IssuedBefore.IsZero() {
		w.Before = ev.IssuedBefore.UnixMilli()
	}
	b, err := json.Marshal(w)
	if err == nil && len(b) > maxEventBytes {
		err = errors.New("redis: revocation event too large")
	}
	return b, err
}

// decodeEvent parses a stream entry. The stream is shared state that only
// mcpfort writes, but it is parsed strictly anyway: unknown or misspelt
// members, trailing data and oversized entries are refused.
func decodeEvent(b []byte) (RevocationEvent, error) {
	if len(b) > maxEventBytes {
		return RevocationEvent{}, errors.New("revocation event too large")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var w wireEvent
	if err := d.Decode(&w); err != nil {
		return RevocationEvent{}, fmt.Errorf("revocation event: %w", err)
	}
	if d.More() {
		return RevocationEvent{}, errors.New("revocation event: trailing data")
	}
	if w.Iss == "" || w.Until <= 0 || w.Before < 0 {
		return RevocationEvent{}, errors.New("revocation event: missing issuer or end")
	}
	ev := RevocationEvent{Issuer: w.Iss, TokenID: w.Jti, GrantID: w.Sid, Subject: w.Sub, ClientID: w.Client,
		Until: time.UnixMilli(w.Until)}
	if w.Before > 0 {
		ev.IssuedBefore = time.UnixMilli(w.Before)
	}
	return ev, nil
}

// RevocationFeedOptions configures a RevocationFeed.
type RevocationFeedOptions struct {
	// Stream is the stream's key. If empty, "mcpfort:revocations".
	Stream string
	// MaxLen caps the stream (XADD MAXLEN ~): the oldest events go first.
	// It must exceed the revocations made within one access-token
	// lifetime, or a replica that starts or reconnects after a burst
	// misses the oldest of them. If zero, 100,000.
	MaxLen int64
	// Timeout bounds one round trip. If zero, 250ms.
	Timeout time.Duration
	// Poll is how long one blocking read waits for new events. Every
	// answer, even an empty one, proves the reader current, so this also
	// sets how often a reader's currency is refreshed. If zero, 250ms.
	Poll time.Duration
	// Logger receives a warning when the feed cannot be read and a note
	// when it can again. If nil, nothing is logged.
	Logger *slog.Logger
}

// RevocationFeed carries an authorization server's revocations to every
// replica through a Redis stream: publishers XADD, and each replica
// follows the stream with XREAD, from its beginning (the stream is capped,
// and events outlive no token they concern by much), so a replica that
// starts or reconnects catches up with the revocations it missed.
type RevocationFeed struct {
	rdb    *goredis.Client
	stream string
	maxLen int64
	poll   time.Duration
	tmo    time.Duration
	log    *slog.Logger
}

// NewRevocationFeed returns a feed on rdb (see NewClient), which stays
// the caller's to close. It does not contact Redis.
func NewRevocationFeed(rdb *goredis.Client, o RevocationFeedOptions) *RevocationFeed {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.MaxLen <= 0 {
		o.MaxLen = 100_000
	}
	if o.Stream == "" {
		o.Stream = "mcpfort:revocations"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &RevocationFeed{rdb: rdb, stream: o.Stream, maxLen: o.MaxLen, poll: o.Poll, tmo: o.Timeout, log: o.Logger}
}

// Publish appends ev to the stream.
func (f *RevocationFeed) Publish(ctx context.Context, ev RevocationEvent) error {
	b, err := encodeEvent(ev)
	if err != nil {
		return err
	}
	ctx, cancel := bound(ctx, f.tmo)
	defer cancel()
	return f.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: f.stream, MaxLen: f.maxLen, Approx: true, Values: []any{"e", b}}).Err()
}

// readCount is how many entries one read returns at most.
const readCount = 1000

// Follow reads the stream from its beginning, then every event as it is
// published, until ctx ends. It calls apply for each event, in order, and
// current(t) each time it has applied every event published before t. When
// Redis cannot be read it retries, with backoff up to 2s, from where it
// left off; current is not called meanwhile, which is how the caller
// learns that it may be missing revocations. Entries that do not parse are
// logged and skipped.
func (f *RevocationFeed) Follow(ctx context.Context, apply func(RevocationEvent), current func(time.Time)) {
	last := "0-0"
	failures := 0
	for ctx.Err() == nil {
		sent := time.Now()
		rctx, cancel := context.WithTimeout(ctx, f.poll+f.tmo)
		res, err := f.rdb.XRead(rctx, &goredis.XReadArgs{Streams: []string{f.stream, last}, Count: readCount, Block: f.poll}).Result()
		cancel()
		if err != nil && !errors.Is(err, goredis.Nil) {
			if ctx.Err() != nil {
				return
			}
			if failures == 0 {
				f.log.Warn("revocation feed unreachable; tokens of the embedded authorization server are refused once it is stale", "error", err.Error())
			}
			failures++
			t := time.NewTimer(min(time.Duration(1<<min(failures, 5))*62*time.Millisecond, 2*time.Second))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		if failures > 0 {
			f.log.Info("revocation feed reachable again")
			failures = 0
		}
		n := 0
		for _, s := range res {
			for _, m := range s.Messages {
				n++
				last = m.ID
				raw, _ := m.Values["e"].(string)
				ev, err := decodeEvent([]byte(raw))
				if err != nil {
					f.log.Warn("skipping a malformed revocation event", "id", m.ID, "error", err.Error())
					continue
				}
				apply(ev)
			}
		}
		if n < readCount {
			current(sent)
		}
	}
}

// Ping checks that Redis answers.
func (f *RevocationFeed) Ping(ctx context.Context) error {
	ctx, cancel := bound(ctx, f.tmo)
	defer cancel()
	return f.rdb.Ping(ctx).Err()
}
