package stdio

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Pool runs the processes of one stdio upstream and hands out Conns. All
// methods are safe for concurrent use.
type Pool struct {
	o   Options
	log *slog.Logger
	env []string

	wg      sync.WaitGroup     // every goroutine the pool starts
	ctx     context.Context    // ends when Close begins
	cancel  context.CancelFunc // ends ctx
	force   chan struct{}      // closed when Close's context ends: kill now
	forceMu sync.Once

	starts    atomic.Uint64
	crashes   atomic.Uint64
	warmTaken atomic.Uint64

	maxWarmStarts int // warm starts under way at once

	onExit func(pid int) // test hook, set by newHooked or before the first Acquire

	mu             sync.Mutex
	closed         bool
	nprocs         int // processes alive or being started
	procs          map[*process]struct{}
	inflight       int
	waiters        []*waiter
	conns          map[*Conn]struct{}
	sessions       map[string]*Conn // PerSession: keys in use (nil while starting)
	users          map[string]*userSlot
	shared         []*process // Shared: processes taking calls
	warm           []*process // PerSession: started, for no session yet
	warmStarting   int        // warm starts under way (counted in nprocs)
	sharedStarting bool
	probing        bool // a start is testing whether starts work again
	sharedFail     failure
	startBackoff   backoff // failed starts, any mode; reset by a good start
	backoff        backoff // Shared: crashes of running processes; PerSession: of warm ones
	drained        chan struct{}
}

// userSlot is the process of one PerUser key.
type userSlot struct {
	key      string
	proc     *process
	starting bool
	conns    int
	backoff  backoff
	fail     failure
}

// failure remembers the last start failure, so that callers already waiting
// for that start fail at once instead of at their queue deadline.
type failure struct {
	seq uint64
	err error
}

// backoff spaces restarts after crashes and failed starts.
type backoff struct {
	failures int
	until    time.Time
}

func (b *backoff) delay(now time.Time) time.Duration {
	if d := b.until.Sub(now); d > 0 {
		return d
	}
	return 0
}

// failed records a crash or failed start of a process that ran for uptime.
func (b *backoff) failed(now time.Time, uptime, min, max time.Duration) {
	if uptime >= max {
		b.failures = 0
	}
	b.failures++
	d := min
	for i := 1; i < b.failures && d < max; i++ {
		d *= 2
	}
	b.until = now.Add(min2(d, max))
}

func min2(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

type waitKind uint8

const (
	kindAcquire waitKind = iota // a process for a new conn
	kindCall                    // an in-flight slot for a call
)

// waiter is a caller waiting for capacity. Grants happen under Pool.mu, in
// arrival order, whenever capacity frees up.
type waiter struct {
	kind  waitKind
	conn  *Conn
	slot  *userSlot
	seq   uint64          // failure sequence number when the wait began
	ctx   context.Context // the caller's, for Options.Observer
	proc  *process
	err   error
	done  bool
	ready chan struct{}
}

// New checks the options and returns a pool. No process starts before the
// first Acquire, except the Options.Warm processes, which start at once.
func New(o Options) (*Pool, error) { return newHooked(o, nil) }

// newHooked is New with a test hook called with the pid of every reaped
// process, set before the first warm process starts.
func newHooked(o Options, onExit func(pid int)) (*Pool, error) {
	o, err := o.normalize()
	if err != nil {
		return nil, err
	}
	p := &Pool{
		o:        o,
		log:      o.Logger.With("upstream", o.Name),
		env:      o.environ(),
		force:    make(chan struct{}),
		procs:    make(map[*process]struct{}),
		conns:    make(map[*Conn]struct{}),
		sessions: make(map[string]*Conn),
		users:    make(map[string]*userSlot),
		drained:  make(chan struct{}),
		onExit:   onExit,
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if o.InsecureInheritEnv {
		p.log.Warn("stdio upstream inherits the whole gateway environment (InsecureInheritEnv)")
	}
	if o.IdleTimeout > 0 {
		p.wg.Add(1)
		go p.reapIdle()
	}
	p.maxWarmStarts = min(o.Warm, 2*runtime.GOMAXPROCS(0))
	p.mu.Lock()
	p.fillWarmLocked()
	p.mu.Unlock()
	return p, nil
}

// Isolation returns the pool's isolation mode.
func (p *Pool) Isolation() Isolation { return p.o.Isolation }

// Acquire returns a new conn for key: the client session id for PerSession,
// the principal for PerUser; Shared ignores it except in logs. PerSession
// starts the session's process (ErrKeyInUse if key has a live one); PerUser
// and Shared make sure a process is ready, starting one if needed. When the
// pool initializes processes, Acquire returns after the initialize
// handshake.
//
// Acquire waits for capacity up to Options.QueueTimeout, then fails with a
// *jsonrpc.Error (CodeOverloaded, or CodeUpstreamUnavailable when the process
// cannot be started). After Close it returns ErrClosed.
func (p *Pool) Acquire(ctx context.Context, key string) (*Conn, error) {
	switch p.o.Isolation {
	case PerSession:
		return p.acquireSession(ctx, key)
	case PerUser:
		return p.acquireUser(ctx, key)
	}
	return p.acquireShared(ctx, key)
}

func (p *Pool) acquireSession(ctx context.Context, key string) (*Conn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if _, inUse := p.sessions[key]; inUse {
		p.mu.Unlock()
		return nil, ErrKeyInUse
	}
	p.sessions[key] = nil
	p.mu.Unlock()
	fail := func(err error) (*Conn, error) {
		p.mu.Lock()
		delete(p.sessions, key)
		p.mu.Unlock()
		return nil, err
	}

	// A granted waiter holds either a warm process or one unit of nprocs,
	// ours to start with.
	w := &waiter{kind: kindAcquire}
	if err := p.wait(ctx, w); err != nil {
		return fail(err)
	}
	if pr := w.proc; pr != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		if pr.unlinked || p.closed {
			// It died (or the pool closed) since it was taken; its
			// exit gives its unit of nprocs back.
			delete(p.sessions, key)
			if p.closed {
				return nil, ErrClosed
			}
			return nil, unavailable("process exited before use")
		}
		p.warmTaken.Add(1)
		return p.attachLocked(pr, key), nil
	}
	tctx, cancel := context.WithTimeout(ctx, p.o.QueueTimeout)
	probe, err := p.startTurn(tctx, nil, func() bool { return true })
	cancel()
	if err != nil {
		p.unreserve(nil)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errTooLate) {
			return fail(unavailable("restarting after failed starts"))
		}
		return fail(err)
	}
	pr, err := p.startObserved(ctx, ctx)
	p.mu.Lock()
	if probe {
		p.probing = false
	}
	p.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil || p.ctx.Err() != nil {
			// The caller went away (or the pool closed): not the
			// command's failure, no backoff.
			p.unreserve(nil)
			if p.ctx.Err() != nil {
				return fail(ErrClosed)
			}
			return fail(ctx.Err())
		}
		p.startFailed(nil, err)
		return fail(unavailable("could not start the process: " + err.Error()))
	}
	p.mu.Lock()
	if pr.unlinked || p.closed {
		// It died (or the pool closed) between start and now.
		closed := p.closed
		p.nprocs--
		delete(p.sessions, key)
		p.grantLocked()
		p.mu.Unlock()
		p.stop(pr)
		if closed {
			return nil, ErrClosed
		}
		return nil, unavailable("process exited during start")
	}
	pr.registered = true
	p.startBackoff = backoff{}
	p.procs[pr] = struct{}{}
	c := p.attachLocked(pr, key)
	p.mu.Unlock()
	return c, nil
}

// attachLocked returns a new PerSession conn for key on pr.
func (p *Pool) attachLocked(pr *process, key string) *Conn {
	c := newConn(p, key)
	c.proc = pr
	c.init = pr.initResult
	pr.touch()
	pr.sess = c
	pr.lastConn = c
	p.sessions[key] = c
	p.conns[c] = struct{}{}
	return c
}

// takeWarmLocked returns a warm process for a new session, or nil. A warm
// process started with other EnvSource values than the current ones (a
// secret rotated since) is stopped, and so are the others started with it.
func (p *Pool) takeWarmLocked() *process {
	if len(p.warm) == 0 {
		return nil
	}
	var cur [32]byte
	if p.o.EnvSource != nil {
		cur = sumEnv(p.o.EnvSource())
	}
	var stale []*process
	var pr *process
	for len(p.warm) > 0 {
		x := p.warm[0]
		p.warm[0] = nil
		p.warm = p.warm[1:]
		x.warm = false
		if x.envSum != cur {
			stale = append(stale, x)
			continue
		}
		pr = x
		break
	}
	for _, x := range stale {
		x.log.Debug("warm stdio process started with an older environment; stopping it")
		p.stopLocked(x)
	}
	p.fillWarmLocked()
	return pr
}

// fillWarmLocked starts warm processes in the background until Warm are
// ready or starting, within MaxProcesses and maxWarmStarts at a time.
// Callers waiting for a process come first: they were granted the free
// capacity before this runs.
func (p *Pool) fillWarmLocked() {
	for !p.closed && len(p.warm)+p.warmStarting < p.o.Warm && p.warmStarting < p.maxWarmStarts && p.nprocs < p.o.MaxProcesses {
		p.nprocs++
		p.warmStarting++
		p.wg.Add(1)
		go p.startWarm()
	}
}

// startWarm starts one warm process, after the crash backoff of warm
// processes and the backoff of failed starts.
func (p *Pool) startWarm() {
	defer p.wg.Done()
	var pr *process
	probe, err := p.startTurn(p.ctx, &p.backoff, func() bool { return true })
	if err == nil {
		pr, err = p.start(p.ctx)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if probe {
		p.probing = false
	}
	p.warmStarting--
	if err != nil {
		p.nprocs--
		if errors.Is(err, ErrClosed) || p.ctx.Err() != nil {
			return
		}
		p.startFailedLocked(nil, err) // backoff; refills after it
		return
	}
	if pr.unlinked || p.closed {
		// It died during start (its exit is not counted: ours to give
		// back), or the pool closed.
		p.nprocs--
		p.stopLocked(pr)
		if !p.closed {
			p.startBackoff.failed(time.Now(), 0, p.o.RestartBackoffMin, p.o.RestartBackoffMax)
			p.grantLocked()
		}
		return
	}
	pr.registered = true
	pr.warm = true
	p.startBackoff = backoff{}
	p.procs[pr] = struct{}{}
	p.warm = append(p.warm, pr)
	p.grantLocked()
}

func (p *Pool) acquireUser(ctx context.Context, key string) (*Conn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	s := p.users[key]
	if s == nil {
		s = &userSlot{key: key}
		p.users[key] = s
	}
	s.conns++ // keeps the slot while we wait
	p.mu.Unlock()

	w := &waiter{kind: kindAcquire, slot: s}
	if err := p.wait(ctx, w); err != nil {
		p.mu.Lock()
		s.conns--
		p.dropSlotLocked(s)
		p.mu.Unlock()
		return nil, err
	}
	c := newConn(p, key)
	c.slot = s
	c.init = w.proc.initResult
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	return c, nil
}

func (p *Pool) acquireShared(ctx context.Context, key string) (*Conn, error) {
	w := &waiter{kind: kindAcquire}
	if err := p.wait(ctx, w); err != nil {
		return nil, err
	}
	c := newConn(p, key)
	c.init = w.proc.initResult
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	return c, nil
}

// reserveCall waits for an in-flight slot for one call of c.
func (p *Pool) reserveCall(ctx context.Context, c *Conn) (*process, error) {
	w := waiter{kind: kindCall, conn: c, slot: c.slot}
	if err := p.wait(ctx, &w); err != nil {
		return nil, err
	}
	return w.proc, nil
}

// wait grants w at once or queues it until granted, the queue deadline, or
// the end of ctx.
func (p *Pool) wait(ctx context.Context, w *waiter) (err error) {
	p.mu.Lock()
	w.seq = p.failSeqLocked(w)
	w.ctx = ctx
	if p.tryLocked(w) {
		p.mu.Unlock()
		return w.err
	}
	if len(p.waiters) >= p.o.MaxQueue {
		p.mu.Unlock()
		return overloaded("queue full")
	}
	w.ready = make(chan struct{})
	p.waiters = append(p.waiters, w)
	var queued time.Time
	obs := p.o.Observer
	if obs != nil {
		// Under the lock: before any start this wait asked for begins.
		queued = time.Now()
	}
	p.mu.Unlock()
	if obs != nil {
		defer func() { obs.QueueWait(ctx, queued, err) }()
	}
	t := time.NewTimer(p.o.QueueTimeout)
	defer t.Stop()
	var ctxErr error
	select {
	case <-w.ready:
		return w.err
	case <-t.C:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.done {
		return w.err // granted meanwhile: take it
	}
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			break
		}
	}
	if ctxErr != nil && !errors.Is(ctxErr, context.DeadlineExceeded) {
		return ctxErr
	}
	if p.restartingLocked(w) {
		return unavailable("restarting after a crash")
	}
	return overloaded("no capacity within the queue timeout")
}

func (p *Pool) failSeqLocked(w *waiter) uint64 {
	if w.slot != nil {
		return w.slot.fail.seq
	}
	return p.sharedFail.seq
}

// restartingLocked reports whether w was waiting on a restart delayed by
// backoff.
func (p *Pool) restartingLocked(w *waiter) bool {
	switch {
	case w.slot != nil:
		return w.slot.proc == nil && (w.slot.backoff.failures > 0 || p.startBackoff.failures > 0)
	case p.o.Isolation == Shared:
		return len(p.shared) == 0 && (p.backoff.failures > 0 || p.startBackoff.failures > 0)
	}
	return w.kind == kindAcquire && p.startBackoff.failures > 0
}

// tryLocked grants w if capacity allows, reserving it; it reports whether w
// is settled (granted, or failed with w.err).
func (p *Pool) tryLocked(w *waiter) bool {
	if p.closed {
		w.err = ErrClosed
		return true
	}
	max := p.o.MaxInFlight
	take := func(pr *process) bool {
		if w.kind == kindAcquire {
			w.proc = pr
			return true
		}
		if pr.inflight >= max {
			return false
		}
		pr.inflight++
		p.inflight++
		w.proc = pr
		return true
	}
	switch p.o.Isolation {
	case PerSession:
		if w.kind == kindAcquire {
			if pr := p.takeWarmLocked(); pr != nil {
				w.proc = pr
				return true
			}
			if p.nprocs < p.o.MaxProcesses {
				p.nprocs++
				return true
			}
			return false
		}
		w.conn.mu.Lock()
		pr := w.conn.proc
		w.conn.mu.Unlock()
		if pr == nil || pr.unlinked {
			w.err = ErrGone
			return true
		}
		return take(pr)

	case PerUser:
		s := w.slot
		if s.proc != nil {
			return take(s.proc)
		}
		if s.fail.seq > w.seq {
			w.err = unavailable("could not start the process: " + s.fail.err.Error())
			return true
		}
		if !s.starting && p.nprocs < p.o.MaxProcesses {
			p.startAsyncLocked(w.ctx, s)
		}
		return false

	default: // Shared
		var best *process
		for _, pr := range p.shared {
			if (w.kind == kindAcquire || pr.inflight < max) && (best == nil || pr.inflight < best.inflight) {
				best = pr
			}
		}
		canStart := !p.sharedStarting && p.nprocs < p.o.MaxProcesses
		if best != nil {
			// Busy processes get company before the next call has to
			// wait; the call in hand does not wait for the start.
			now := time.Now()
			if w.kind == kindCall && best.inflight > 0 && canStart && p.backoff.delay(now) == 0 && p.startBackoff.delay(now) == 0 {
				p.startAsyncLocked(context.Background(), nil)
			}
			return take(best)
		}
		if len(p.shared) == 0 && p.sharedFail.seq > w.seq {
			w.err = unavailable("could not start the process: " + p.sharedFail.err.Error())
			return true
		}
		if canStart {
			p.startAsyncLocked(w.ctx, nil)
		}
		return false
	}
}

// grantLocked settles the waiters that capacity now allows, in order, then
// refills the warm processes with what capacity is left.
func (p *Pool) grantLocked() {
	defer p.fillWarmLocked()
	if len(p.waiters) == 0 {
		return
	}
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		if p.tryLocked(w) {
			w.done = true
			close(w.ready)
		} else {
			kept = append(kept, w)
		}
	}
	clear(p.waiters[len(kept):])
	p.waiters = kept
}

// startAsyncLocked starts a process for slot (PerUser) or for the shared
// set, after the backoff delay, in the background; waiters are granted when
// it is ready. ctx is the caller's that asked for the start, for
// Options.Observer only: the start itself runs on the pool's context.
func (p *Pool) startAsyncLocked(ctx context.Context, s *userSlot) {
	p.nprocs++
	b := &p.backoff
	if s != nil {
		s.starting = true
		b = &s.backoff
	} else {
		p.sharedStarting = true
	}
	first := true
	wanted := func() bool {
		// Asked for by a waiter; after a backoff delay only if still
		// wanted, so that delayed starts do not pile up.
		w := first || (s != nil && s.conns > 0) || (s == nil && len(p.waiters) > 0)
		first = false
		return w
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var pr *process
		probe, err := p.startTurn(p.ctx, b, wanted)
		if err == nil {
			pr, err = p.startObserved(ctx, p.ctx)
		}
		p.mu.Lock()
		if probe {
			p.probing = false
		}
		if s != nil {
			s.starting = false
		} else {
			p.sharedStarting = false
		}
		if errors.Is(err, errUnwanted) || errors.Is(err, ErrClosed) || p.ctx.Err() != nil {
			p.nprocs--
			if s != nil {
				p.dropSlotLocked(s)
			}
			p.grantLocked()
			p.mu.Unlock()
			return
		}
		if err == nil && (pr.unlinked || p.closed) {
			err = errors.New("process exited during start")
			defer p.stop(pr) // after the unlock below
		}
		defer p.mu.Unlock()
		if err != nil {
			p.nprocs--
			p.startFailedLocked(s, err)
			return
		}
		pr.registered = true
		p.startBackoff = backoff{}
		p.procs[pr] = struct{}{}
		if s != nil {
			pr.slot = s
			s.proc = pr
		} else {
			p.shared = append(p.shared, pr)
		}
		p.grantLocked()
	}()
}

var (
	errUnwanted = errors.New("start no longer wanted")
	errTooLate  = errors.New("start would come after the deadline")
)

// startTurn waits until a start may proceed: after the crash backoff b (nil
// for none) and the pool-wide backoff of failed starts, which are the
// command's fault whoever asked. While failed starts are retried one start
// probes at a time; it reports probe and must clear Pool.probing when done.
// wanted is asked under Pool.mu before each attempt; a start nobody wants
// any more returns errUnwanted. A delay past ctx's deadline fails at once.
func (p *Pool) startTurn(ctx context.Context, b *backoff, wanted func() bool) (probe bool, err error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return false, ErrClosed
		}
		if !wanted() {
			p.mu.Unlock()
			return false, errUnwanted
		}
		now := time.Now()
		delay := p.startBackoff.delay(now)
		if b != nil {
			delay = max(delay, b.delay(now))
		}
		if delay == 0 && p.startBackoff.failures > 0 {
			if p.probing {
				delay = p.o.RestartBackoffMin
			} else {
				p.probing = true
				probe = true
			}
		}
		p.mu.Unlock()
		if delay == 0 {
			return probe, nil
		}
		if dl, ok := ctx.Deadline(); ok && now.Add(delay).After(dl) {
			return false, errTooLate
		}
		if err := p.sleep(ctx, delay); err != nil {
			return false, err
		}
	}
}

// start spawns a process and, when configured, initializes it.
func (p *Pool) start(ctx context.Context) (*process, error) {
	pr, err := p.spawn()
	if err != nil {
		return nil, err
	}
	if p.o.InitializeParams != nil {
		ictx, cancel := context.WithTimeout(ctx, p.o.StartTimeout)
		stop := context.AfterFunc(p.ctx, cancel) // Close does not wait for a hung start
		err := pr.initialize(ictx, p.o.InitializeParams)
		stop()
		cancel()
		if err != nil {
			pr.log.Warn("stdio process failed to initialize", "error", err)
			pr.stopping.Store(true)
			pr.fail(unavailable("initialize failed"))
			pr.signal(syscall.SIGKILL)
			return nil, err
		}
	}
	return pr, nil
}

// startObserved is start, reported to Options.Observer with the context
// of the caller the process is for.
func (p *Pool) startObserved(caller, ctx context.Context) (*process, error) {
	obs := p.o.Observer
	if obs == nil {
		return p.start(ctx)
	}
	begin := time.Now()
	pr, err := p.start(ctx)
	obs.ProcessStart(caller, begin, err)
	return pr, err
}

// sleep waits d unless ctx ends or the pool closes.
func (p *Pool) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.ctx.Done():
		return ErrClosed
	}
}

// unreserve gives back a process reservation that was not used.
func (p *Pool) unreserve(*userSlot) {
	p.mu.Lock()
	p.nprocs--
	p.grantLocked()
	p.mu.Unlock()
}

func (p *Pool) startFailed(s *userSlot, err error) {
	p.mu.Lock()
	p.nprocs--
	p.startFailedLocked(s, err)
	p.mu.Unlock()
}

// startFailedLocked records a failed start: backoff for the next one, and an
// error for the callers waiting on this one.
func (p *Pool) startFailedLocked(s *userSlot, err error) {
	p.log.Warn("stdio process failed to start", "error", err)
	p.startBackoff.failed(time.Now(), 0, p.o.RestartBackoffMin, p.o.RestartBackoffMax)
	if s != nil {
		s.fail = failure{seq: s.fail.seq + 1, err: err}
	} else {
		p.sharedFail = failure{seq: p.sharedFail.seq + 1, err: err}
	}
	p.grantLocked()
	if s != nil {
		p.dropSlotLocked(s)
	}
}

// release frees the in-flight slot of an ended call.
func (p *Pool) release(pr *process, c *Call) {
	if c.conn == nil {
		return // the pool's own initialize holds no slot
	}
	p.mu.Lock()
	if !pr.unlinked {
		pr.inflight--
		p.inflight--
	}
	p.grantLocked()
	p.checkDrainedLocked()
	p.mu.Unlock()
}

// unlink takes a process that died or is being stopped out of service.
func (p *Pool) unlink(pr *process) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr.unlinked {
		return
	}
	pr.unlinked = true
	p.inflight -= pr.inflight
	pr.inflight = 0
	crashed := !pr.stopping.Load()
	if crashed && pr.cmd != nil {
		p.crashes.Add(1)
	}
	switch {
	case pr.warm:
		// A warm process died unused: the next one waits out the
		// crash backoff.
		pr.warm = false
		for i, x := range p.warm {
			if x == pr {
				p.warm = append(p.warm[:i], p.warm[i+1:]...)
				break
			}
		}
		if crashed {
			p.backoff.failed(time.Now(), time.Since(pr.started), p.o.RestartBackoffMin, p.o.RestartBackoffMax)
		}
	case pr.slot != nil:
		if pr.slot.proc == pr {
			pr.slot.proc = nil
		}
		if crashed {
			pr.slot.backoff.failed(time.Now(), time.Since(pr.started), p.o.RestartBackoffMin, p.o.RestartBackoffMax)
		}
	case pr.sess != nil:
		if p.sessions[pr.sess.key] == pr.sess {
			delete(p.sessions, pr.sess.key)
		}
		delete(p.conns, pr.sess)
		pr.sess.markGone()
	case p.o.Isolation == Shared:
		for i, x := range p.shared {
			if x == pr {
				p.shared = append(p.shared[:i], p.shared[i+1:]...)
				break
			}
		}
		if crashed && pr.registered {
			p.backoff.failed(time.Now(), time.Since(pr.started), p.o.RestartBackoffMin, p.o.RestartBackoffMax)
		}
	}
	p.grantLocked()
	p.checkDrainedLocked()
}

// procExited accounts for a reaped process.
func (p *Pool) procExited(pr *process) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !pr.registered || pr.reapedPool {
		return // its starter still holds its reservation
	}
	pr.reapedPool = true
	delete(p.procs, pr)
	p.nprocs--
	if s := pr.slot; s != nil {
		p.dropSlotLocked(s)
	}
	p.grantLocked()
}

// dropSlotLocked forgets a PerUser slot nobody uses, once its backoff is
// over (forgetting it earlier would forget the crash loop).
func (p *Pool) dropSlotLocked(s *userSlot) {
	if s.conns == 0 && s.proc == nil && !s.starting && s.backoff.delay(time.Now()) == 0 && p.users[s.key] == s {
		delete(p.users, s.key)
	}
}

func (p *Pool) checkDrainedLocked() {
	if p.closed && p.inflight == 0 {
		select {
		case <-p.drained:
		default:
			close(p.drained)
		}
	}
}

// stopLocked is stop for callers holding Pool.mu (stop takes it to unlink
// the process), while the pool is not closed or the caller is one of its
// counted goroutines.
func (p *Pool) stopLocked(pr *process) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.stop(pr)
	}()
}

// stop stops a process in the background, once.
func (p *Pool) stop(pr *process) {
	if pr.terminating.Swap(true) {
		return
	}
	pr.stopping.Store(true)
	pr.fail(unavailable("process stopped"))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		pr.terminate(p.force)
	}()
}

func (p *Pool) connClosed(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	if s := c.slot; s != nil {
		s.conns--
		p.dropSlotLocked(s)
	}
	if p.sessions[c.key] == c {
		delete(p.sessions, c.key)
	}
}

// reapIdle stops processes that have been idle for IdleTimeout.
func (p *Pool) reapIdle() {
	defer p.wg.Done()
	period := p.o.IdleTimeout / 2
	period = max(period, 5*time.Millisecond)
	period = min(period, time.Minute)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		var idle []*process
		now := time.Now()
		p.mu.Lock()
		for pr := range p.procs {
			if pr.unlinked || pr.warm || pr.inflight > 0 || now.Sub(time.Unix(0, pr.lastActive.Load())) < p.o.IdleTimeout {
				continue
			}
			pr.mu.Lock()
			waiting := len(pr.srvReqs) > 0 || len(pr.calls) > 0
			pr.mu.Unlock()
			if !waiting {
				idle = append(idle, pr)
			}
		}
		for _, s := range p.users {
			p.dropSlotLocked(s)
		}
		p.mu.Unlock()
		for _, pr := range idle {
			pr.log.Debug("stdio process idle; stopping it", "idle_timeout", p.o.IdleTimeout)
			p.stop(pr)
		}
	}
}

// Stats is a snapshot of the pool for metrics.
type Stats struct {
	Processes int    // alive or starting
	InFlight  int    // calls in flight
	Queued    int    // callers waiting for capacity
	Conns     int    // open conns
	Warm      int    // PerSession: started processes waiting for a session
	WarmTaken uint64 // sessions that got a warm process since New
	Starts    uint64 // processes started since New
	Crashes   uint64 // processes that exited without being asked to
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Processes: p.nprocs,
		InFlight:  p.inflight,
		Queued:    len(p.waiters),
		Conns:     len(p.conns),
		Warm:      len(p.warm),
		WarmTaken: p.warmTaken.Load(),
		Starts:    p.starts.Load(),
		Crashes:   p.crashes.Load(),
	}
}

// Close shuts the pool down: new Acquire and Call fail with ErrClosed and
// waiting callers are released; calls in flight may finish until ctx ends;
// then every process is stopped (stdin closed, SIGTERM, SIGKILL, each step
// ShutdownGrace/2 apart, by process group; immediately SIGKILL once ctx has
// ended) and reaped. Close returns when every process is reaped and every
// goroutine of the pool has ended; it returns ctx.Err() if it had to cut the
// drain or the grace short.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.cancel()
		p.grantLocked() // every waiter settles with ErrClosed
		p.checkDrainedLocked()
	}
	p.mu.Unlock()
	stopForce := context.AfterFunc(ctx, func() { p.forceMu.Do(func() { close(p.force) }) })
	defer stopForce()

	select {
	case <-p.drained:
	case <-ctx.Done():
	}
	p.mu.Lock()
	procs := make([]*process, 0, len(p.procs))
	for pr := range p.procs {
		procs = append(procs, pr)
	}
	conns := make([]*Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	for _, pr := range procs {
		p.stop(pr)
	}
	p.wg.Wait()
	return ctx.Err()
}
