package load

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Session is an open legacy-era session.
type Session struct {
	ID      string // Mcp-Session-Id; empty when the server assigns none
	Version string // negotiated protocol version
}

// useSession makes c speak inside s.
func (c *client) useSession(s Session) {
	c.sid, c.version = s.ID, s.Version
	c.hdr = c.hdr[:0]
	if s.ID != "" {
		c.hdr = append(c.hdr, header{"Mcp-Session-Id", s.ID})
	}
	c.hdr = append(c.hdr, header{"MCP-Protocol-Version", s.Version})
}

// ManyOptions configures OpenSessions, CallEach and HoldStreams. Zero
// values are documented defaults.
type ManyOptions struct {
	// URL is the MCP endpoint. Required.
	URL string
	// Conns is how many keep-alive connections (and goroutines) share the
	// work. Default 32. HoldStreams uses it for how many streams open at
	// once; each stream keeps its own connection.
	Conns int
	// Tool is the tool CallEach calls. Default "echo".
	Tool string
	// Timeout bounds each exchange (for a stream: until its headers
	// arrive). Default 30s.
	Timeout time.Duration
	// MaxBody bounds a response body. Default DefaultMaxBody.
	MaxBody int
	// MaxFailures stops the batch early once this many items failed, so
	// that a server that hangs does not cost Timeout per item. Default 100.
	MaxFailures int
	// Token, if set, is sent as "Authorization: Bearer" on every request.
	Token string
	// Blind makes HoldStreams send each GET without waiting for the
	// response headers: to measure what a server that never sends them
	// holds per stream.
	Blind bool
}

func (o *ManyOptions) client() clientOptions {
	return clientOptions{era: EraLegacy, check: CheckEcho, tool: o.Tool, token: o.Token, maxBody: o.MaxBody, timeout: o.Timeout}
}

func (o *ManyOptions) defaults() {
	if o.MaxFailures <= 0 {
		o.MaxFailures = 100
	}
	if o.Conns <= 0 {
		o.Conns = 32
	}
	if o.Tool == "" {
		o.Tool = "echo"
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
}

// Tally is the outcome of a batch of independent exchanges.
type Tally struct {
	OK       int64
	Failures int64
	ByKind   [numKinds]int64
	Samples  []string
	// Abandoned counts items never tried because the batch stopped early
	// (ManyOptions.MaxFailures) or the context ended.
	Abandoned int64
	Elapsed   time.Duration
	// Latency holds each successful item's duration.
	Latency *Histogram
}

func (l *errLog) into(t *Tally) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t.ByKind = l.byKind
	t.Samples = append([]string(nil), l.samples...)
	for _, n := range l.byKind {
		t.Failures += n
	}
}

// parallel runs work(i) for i in [0, n) on conns goroutines, each with its
// own client, and tallies the outcomes. It stops handing out work after
// o.MaxFailures failures; items never tried count as neither.
func parallel(ctx context.Context, t target, o ManyOptions, n int, work func(c *client, i int) error) *Tally {
	var (
		next   atomic.Int64
		failed atomic.Int64
		log    errLog
		wg     sync.WaitGroup
		mu     sync.Mutex
	)
	tally := &Tally{Latency: &Histogram{}}
	start := time.Now()
	for w := range min(o.Conns, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t, o.client(), w)
			defer c.Close()
			var h Histogram
			var ok int64
			for ctx.Err() == nil && failed.Load() < int64(o.MaxFailures) {
				i := int(next.Add(1) - 1)
				if i >= n {
					break
				}
				t0 := time.Now()
				if err := work(c, i); err != nil {
					failed.Add(1)
					log.add("session", err)
					continue
				}
				h.Record(time.Since(t0))
				ok++
			}
			mu.Lock()
			tally.Latency.Merge(&h)
			tally.OK += ok
			mu.Unlock()
		}()
	}
	wg.Wait()
	tally.Elapsed = time.Since(start)
	log.into(tally)
	tally.Abandoned = int64(n) - tally.OK - tally.Failures
	return tally
}

// OpenSessions opens n legacy sessions (initialize, then
// notifications/initialized) over o.Conns shared keep-alive connections and
// leaves them idle. Sessions that failed to open are counted in the Tally
// and missing from the list.
func OpenSessions(ctx context.Context, n int, o ManyOptions) ([]Session, *Tally, error) {
	o.defaults()
	t, err := parseTarget(o.URL)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Session, n)
	okAt := make([]bool, n)
	tally := parallel(ctx, t, o, n, func(c *client, i int) error {
		if err := c.setup(ctx); err != nil {
			return err
		}
		out[i] = Session{ID: c.sid, Version: c.version}
		okAt[i] = true
		return nil
	})
	list := out[:0]
	for i, s := range out {
		if okAt[i] {
			list = append(list, s)
		}
	}
	return list, tally, ctx.Err()
}

// CallEach makes one verified tools/call inside each session, over
// o.Conns shared keep-alive connections.
func CallEach(ctx context.Context, sessions []Session, o ManyOptions) (*Tally, error) {
	o.defaults()
	t, err := parseTarget(o.URL)
	if err != nil {
		return nil, err
	}
	tally := parallel(ctx, t, o, len(sessions), func(c *client, i int) error {
		c.useSession(sessions[i])
		return c.call(ctx)
	})
	return tally, ctx.Err()
}

// Streams are held GET streams; Close releases them.
type Streams struct {
	mu      sync.Mutex
	clients []*client
}

// Len is the number of streams held.
func (s *Streams) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Close closes every stream's connection.
func (s *Streams) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		c.Close()
	}
	s.clients = nil
}

// HoldStreams opens, for each session, the GET stream on a connection of
// its own (2025-11-25 transports "Listening for Messages from the Server"),
// reads its status and headers (unless o.Blind), and holds it open unread
// until Close.
// o.Conns streams are opened at a time.
func HoldStreams(ctx context.Context, sessions []Session, o ManyOptions) (*Streams, *Tally, error) {
	o.defaults()
	t, err := parseTarget(o.URL)
	if err != nil {
		return nil, nil, err
	}
	streams := &Streams{clients: make([]*client, 0, len(sessions))}
	tally := parallel(ctx, t, o, len(sessions), func(_ *client, i int) error {
		c := newClient(t, o.client(), i)
		c.useSession(sessions[i])
		if err := c.openStream(ctx, o.Blind); err != nil {
			c.Close()
			return err
		}
		streams.mu.Lock()
		streams.clients = append(streams.clients, c)
		streams.mu.Unlock()
		return nil
	})
	return streams, tally, ctx.Err()
}

// BurstOptions configures Burst. Zero values are documented defaults.
type BurstOptions struct {
	// URL is the MCP endpoint. Required.
	URL string
	// Era the clients speak. Default EraLegacy.
	Era Era
	// N is the number of clients released at once. Default 1000.
	N int
	// Tool is the tool each client calls once. Default "echo".
	Tool string
	// Timeout bounds each exchange. Default 30s.
	Timeout time.Duration
	// MaxBody bounds a response body. Default DefaultMaxBody.
	MaxBody int
	// Token, if set, is sent as "Authorization: Bearer" on every request.
	Token string
}

// Burst releases o.N new clients at the same instant: each dials its own
// connection, sets up (initialize and notifications/initialized in the
// legacy era) and makes one verified tools/call. The Tally's latency is
// each client's time from release to its verified call.
func Burst(ctx context.Context, o BurstOptions) (*Tally, error) {
	if o.N <= 0 {
		o.N = 1000
	}
	if o.Tool == "" {
		o.Tool = "echo"
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	t, err := parseTarget(o.URL)
	if err != nil {
		return nil, err
	}
	var (
		log   errLog
		wg    sync.WaitGroup
		ready sync.WaitGroup
		start = make(chan struct{})
		t0    time.Time
	)
	took := make([]time.Duration, o.N)
	clients := make([]*client, o.N)
	ready.Add(o.N)
	for i := range o.N {
		c := newClient(t, clientOptions{era: o.Era, check: CheckEcho, tool: o.Tool, token: o.Token, maxBody: o.MaxBody, timeout: o.Timeout}, i)
		clients[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-start
			err := c.setup(ctx)
			if err == nil {
				err = c.call(ctx)
			}
			if err != nil {
				log.add("burst", err)
				took[i] = -1
				return
			}
			took[i] = time.Since(t0)
		}()
	}
	ready.Wait()
	t0 = time.Now()
	close(start)
	wg.Wait()
	tally := &Tally{Elapsed: time.Since(t0), Latency: &Histogram{}}
	for _, c := range clients {
		c.Close()
	}
	for _, d := range took {
		if d >= 0 {
			tally.OK++
			tally.Latency.Record(d)
		}
	}
	log.into(tally)
	return tally, ctx.Err()
}
