package stdio

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// process is one running upstream server.
//
// Locks: Pool.mu before process.mu before Conn.mu before Call.mu; no lock is
// held while writing to the process. The stdout reader never blocks on a
// client: every delivery is to a bounded queue that drops or fails instead.
type process struct {
	pool    *Pool
	log     *slog.Logger
	cmd     *exec.Cmd // nil in routing tests
	pid     int
	started time.Time

	stdin   io.Writer // *os.File for real processes
	wmu     sync.Mutex
	wbuf    []byte
	wclosed atomic.Bool

	stopping    atomic.Bool  // the pool is stopping it: its exit is not a crash
	terminating atomic.Bool  // Pool.stop ran
	lastActive  atomic.Int64 // unix nanoseconds of the last traffic

	// Guarded by Pool.mu.
	inflight   int       // slots reserved by calls of conns
	registered bool      // counted in Pool.nprocs by the pool, not its starter
	unlinked   bool      // no longer selectable: dead or being stopped
	reapedPool bool      // Pool.procExited ran
	slot       *userSlot // PerUser
	sess       *Conn     // PerSession
	warm       bool      // PerSession: in Pool.warm, started for no session yet

	envSum [sha256.Size]byte // of the EnvSource entries it was started with

	mu         sync.Mutex // guards the routing tables below
	dead       bool
	nextID     int64
	calls      map[int64]*Call
	srvReqs    map[jsonrpc.ID]delivery // server-to-client requests handed to a conn, by the process's id
	lastConn   *Conn                   // the conn of the most recent call
	initResult []byte
	// endingListens are the process's ids of subscriptions/listen calls
	// that were cancelled and whose response has not arrived; each channel
	// closes when it does (see settleListens).
	endingListens map[int64]chan struct{}

	sigMu  sync.Mutex // orders group signals before the leader is reaped
	reaped bool

	exited chan struct{} // closed once reaped
}

// delivery records where a server-to-client request went, so the client's
// response and the server's cancellation find their way.
type delivery struct {
	conn   *Conn
	connID int64
	call   *Call // the call it was attributed to, nil when unsolicited
}

func newProcess(p *Pool, stdin io.Writer) *process {
	pr := &process{
		pool:    p,
		log:     p.log,
		stdin:   stdin,
		started: time.Now(),
		calls:   make(map[int64]*Call),
		srvReqs: make(map[jsonrpc.ID]delivery),
		exited:  make(chan struct{}),
	}
	pr.touch()
	return pr
}

func (pr *process) touch() { pr.lastActive.Store(time.Now().UnixNano()) }

// spawn starts the command in its own process group with stdio pipes, and
// the goroutines that read its output and reap it.
func (p *Pool) spawn() (*process, error) {
	cmd := exec.Command(p.o.Command[0], p.o.Command[1:]...)
	cmd.Env = p.env
	var envSum [sha256.Size]byte
	if p.o.EnvSource != nil {
		extra := p.o.EnvSource()
		envSum = sumEnv(extra)
		cmd.Env = append(cmd.Env[:len(cmd.Env):len(cmd.Env)], extra...)
	}
	cmd.Dir = p.o.Dir
	// Its own process group, so that stopping it also stops whatever it
	// started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := pipe()
	if err != nil {
		closeAll()
		return nil, err
	}
	errR, errW, err := pipe()
	if err != nil {
		closeAll()
		return nil, err
	}
	// *os.File values are handed to the child as they are: no copying
	// goroutines, and Wait never touches our ends.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	// Counting the process's goroutines under the lock that Close takes
	// first means Close either waits for them or this start fails.
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		closeAll()
		return nil, ErrClosed
	}
	p.wg.Add(3)
	p.mu.Unlock()
	if err := cmd.Start(); err != nil {
		p.wg.Add(-3)
		closeAll()
		return nil, err
	}
	inR.Close()
	outW.Close()
	errW.Close()

	pr := newProcess(p, inW)
	pr.cmd = cmd
	pr.envSum = envSum
	pr.pid = cmd.Process.Pid
	pr.log = p.log.With("pid", pr.pid)
	p.starts.Add(1)
	pr.log.Debug("stdio process started")

	go pr.readStdout(outR)
	go pr.readStderr(errR)
	go pr.waitExit()
	return pr, nil
}

// waitExit reaps the process. It first waits for the leader to exit without
// reaping it (waitid WNOWAIT): while the leader is a zombie its pid, which is
// the group id, cannot be reused, so killing the group is safe. The group is
// then killed, so no grandchild survives, and the leader reaped.
func (pr *process) waitExit() {
	defer pr.pool.wg.Done()
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pr.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	pr.sigMu.Lock()
	_ = syscall.Kill(-pr.pid, syscall.SIGKILL)
	pr.reaped = true
	pr.sigMu.Unlock()
	err := pr.cmd.Wait()

	crashed := !pr.stopping.Load()
	if crashed {
		pr.log.Warn("stdio process exited unexpectedly", "exit", exitString(err), "uptime", time.Since(pr.started).Round(time.Millisecond))
	} else {
		pr.log.Debug("stdio process stopped", "exit", exitString(err))
	}
	pr.fail(unavailable("process exited"))
	pr.closeStdin()
	pr.pool.procExited(pr)
	close(pr.exited)
	if h := pr.pool.onExit; h != nil {
		h(pr.pid)
	}
}

// sumEnv digests environment entries from Options.EnvSource, so that a warm
// process started before a secret rotated can be recognised without keeping
// a second copy of the secret.
func sumEnv(env []string) [sha256.Size]byte {
	h := sha256.New()
	for _, kv := range env {
		h.Write([]byte(kv))
		h.Write([]byte{0})
	}
	var s [sha256.Size]byte
	h.Sum(s[:0])
	return s
}

func exitString(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// signal sends sig to the whole process group, unless the leader has been
// reaped (then the group id may belong to someone else).
func (pr *process) signal(sig syscall.Signal) {
	if pr.cmd == nil {
		return
	}
	pr.sigMu.Lock()
	defer pr.sigMu.Unlock()
	if !pr.reaped {
		_ = syscall.Kill(-pr.pid, sig)
	}
}

// readStdout frames and routes the process output until it ends.
func (pr *process) readStdout(r *os.File) {
	defer pr.pool.wg.Done()
	defer r.Close()
	lr := newLineReader(r, pr.pool.o.MaxMessageSize)
	for {
		line, err := lr.next()
		if err != nil {
			switch {
			case errors.Is(err, errLineTooLong):
				pr.log.Error("stdio process wrote a line over the message size limit; stopping it", "limit", pr.pool.o.MaxMessageSize)
				pr.fail(unavailable("process output could not be framed"))
				pr.signal(syscall.SIGKILL)
			case !pr.stopping.Load():
				// Without stdout the process can no longer answer: end it.
				pr.fail(unavailable("process closed its output"))
				pr.signal(syscall.SIGKILL)
			}
			return
		}
		pr.handleLine(line)
	}
}

// handleLine parses and routes one line of output. Lines that are not
// JSON-RPC are logged (their length, never their content) and dropped: MCP
// says a server MUST NOT write them, but one bad line must not cost the
// other calls their answers.
func (pr *process) handleLine(line []byte) {
	ms, err := parseLine(line)
	if err != nil {
		pr.log.Warn("stdio process wrote a malformed line; dropped", "bytes", len(line), "error", err)
		return
	}
	if len(ms) > 0 {
		pr.touch()
	}
	for _, m := range ms {
		pr.route(m)
	}
}

// readStderr logs each stderr line, truncated to maxStderrLine bytes. MCP
// 2025-11-25 basic/transports "stdio": stderr is for logging of any kind,
// and clients SHOULD NOT assume it indicates an error; hence level info.
func (pr *process) readStderr(r *os.File) {
	defer pr.pool.wg.Done()
	defer r.Close()
	br := bufio.NewReaderSize(r, maxStderrLine)
	skipping := false
	// A chatty or hostile process must not flood the gateway's log: at most
	// maxStderrRate lines a second, and a count of the rest.
	var window time.Time
	var lines, dropped int
	for {
		frag, err := br.ReadSlice('\n')
		if len(frag) > 0 && !skipping {
			if now := time.Now(); now.Sub(window) >= time.Second {
				if dropped > 0 {
					pr.log.Warn("stdio process stderr lines dropped", "lines", dropped)
				}
				window, lines, dropped = now, 0, 0
			}
			line := strings.ToValidUTF8(string(trimEOL(frag)), "\uFFFD")
			switch {
			case line == "" && err != nil:
			case lines >= maxStderrRate:
				dropped++
			default:
				lines++
				pr.log.Info("stdio process stderr", "line", line, "truncated", err == bufio.ErrBufferFull)
			}
		}
		skipping = err == bufio.ErrBufferFull
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// write sends one message as one line. Writes are serialized and bounded by
// WriteTimeout: a process that stops reading its stdin is hung, and is
// killed.
func (pr *process) write(b []byte) error {
	pr.wmu.Lock()
	defer pr.wmu.Unlock()
	if pr.wclosed.Load() {
		return unavailable("process input closed")
	}
	pr.wbuf = append(pr.wbuf[:0], b...)
	pr.wbuf = append(pr.wbuf, '\n')
	f, isFile := pr.stdin.(*os.File)
	if isFile {
		_ = f.SetWriteDeadline(time.Now().Add(pr.pool.o.WriteTimeout))
	}
	_, err := pr.stdin.Write(pr.wbuf)
	if cap(pr.wbuf) > 256<<10 {
		pr.wbuf = nil // do not pin one large message's buffer
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			pr.log.Error("stdio process stopped reading its input; stopping it", "timeout", pr.pool.o.WriteTimeout)
			go pr.fail(unavailable("process stopped reading its input"))
			pr.signal(syscall.SIGKILL)
		}
		return unavailable("write to process: " + err.Error())
	}
	pr.touch()
	return nil
}

// writeAsync writes from the stdout reader, which must never wait on the
// process's input (the process may be blocked writing its output to us).
func (pr *process) writeAsync(b []byte) {
	p := pr.pool
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = pr.write(b)
	}()
}

// closeStdin closes the process's input: the polite way to ask a stdio
// server to exit (MCP 2025-11-25 basic/lifecycle "Shutdown"). Closing the
// file also unblocks a write in progress.
func (pr *process) closeStdin() {
	if pr.wclosed.Swap(true) {
		return
	}
	if c, ok := pr.stdin.(io.Closer); ok {
		c.Close()
	}
}

// fail marks the process dead: its calls in flight fail with err at once and
// it is no longer chosen for new calls. It does not stop the process; the
// callers that decide it must go signal it.
func (pr *process) fail(err *jsonrpc.Error) {
	pr.mu.Lock()
	if pr.dead {
		pr.mu.Unlock()
		return
	}
	pr.dead = true
	calls := pr.calls
	pr.calls = nil
	srv := pr.srvReqs
	pr.srvReqs = nil
	pr.lastConn = nil
	for id, ch := range pr.endingListens {
		close(ch)
		delete(pr.endingListens, id)
	}
	pr.mu.Unlock()

	pr.pool.unlink(pr)
	for _, c := range calls {
		c.finish(nil, err)
	}
	for _, d := range srv {
		d.conn.dropServerRequest(d.connID)
	}
}

// terminate stops the process the way MCP 2025-11-25 basic/lifecycle
// "Shutdown" describes for stdio: close its input, wait, SIGTERM, wait,
// SIGKILL; always by process group. force cuts the waits short.
func (pr *process) terminate(force <-chan struct{}) {
	pr.stopping.Store(true)
	pr.fail(unavailable("process stopped"))
	pr.closeStdin()
	half := pr.pool.o.ShutdownGrace / 2
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t := time.NewTimer(half)
		select {
		case <-pr.exited:
			t.Stop()
			return
		case <-t.C:
		case <-force:
			t.Stop()
			sig = syscall.SIGKILL
		}
		if sig == syscall.SIGKILL {
			pr.log.Warn("stdio process did not stop in time; killing its process group")
		}
		pr.signal(sig)
		if sig == syscall.SIGKILL {
			break
		}
	}
	<-pr.exited
}

// register adds a call and returns its process id. It fails when the process
// is dead.
func (pr *process) register(c *Call) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.dead {
		return false
	}
	pr.nextID++
	c.upID = pr.nextID
	c.proc = pr
	pr.calls[c.upID] = c
	if c.conn != nil {
		pr.lastConn = c.conn
	}
	return true
}

// take removes the call from the routing table; only the caller that takes
// it may end it and release its slot, so every ending happens once.
func (pr *process) take(c *Call) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.calls[c.upID] != c {
		return false
	}
	delete(pr.calls, c.upID)
	return true
}

// abandon ends a call before its response: the client went away, cancelled,
// or fell too far behind. The process is told (notifications/cancelled,
// MCP 2025-11-25 basic/utilities/cancellation) so it can stop the work;
// its late response will match no call and be dropped.
func (pr *process) abandon(c *Call, cause error, tell bool) {
	pr.abandonWithReason(c, cause, tell, nil, false)
}

func (pr *process) abandonWithReason(c *Call, cause error, tell bool, reason []byte, async bool) {
	if !pr.take(c) {
		return
	}
	pr.pool.release(pr, c)
	if tell && c.cancellable() {
		if c.method == mcp.MethodSubscriptionsListen {
			pr.listenEnding(c.upID)
		}
		b := jsonrpc.AppendNotification(nil, mcp.NotificationCancelled, c.cancelledParams(reason))
		if async {
			pr.writeAsync(b)
		} else {
			_ = pr.write(b)
		}
	}
	c.finish(nil, cause)
}

// listenSettleTimeout bounds how long a new subscriptions/listen waits for
// the process to answer the listens cancelled before it (settleListens). A
// server that never answers a cancelled request (MCP 2025-11-25
// basic/utilities/cancellation lets it stay silent) delays the next listen
// by this much, once per cancelled listen.
const listenSettleTimeout = 2 * time.Second

// listenEnding notes that the listen call with process id id was cancelled.
func (pr *process) listenEnding(id int64) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.dead {
		return
	}
	if pr.endingListens == nil {
		pr.endingListens = map[int64]chan struct{}{}
	}
	pr.endingListens[id] = make(chan struct{})
}

// listenEnded reports whether id is a cancelled listen, and then forgets it:
// its late response arrived.
func (pr *process) listenEnded(id int64) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	ch, ok := pr.endingListens[id]
	if ok {
		close(ch)
		delete(pr.endingListens, id)
	}
	return ok
}

// settleListens waits, before a subscriptions/listen is written, until the
// process has answered every listen cancelled before it, or
// listenSettleTimeout or ctx passes.
//
// Every 2026-07-28 request of one principal reaches the process in one
// server session, and a server may keep listen subscriptions per session:
// the Go SDK (v1.8) keeps one per notification kind and session, and
// deletes all of the session's when a listen ends. A listen that a client
// opens just after closing another (a reconnect, the next scenario of a
// test suite) would then lose its subscriptions to the cleanup of the one
// before it, depending on which of the two the server handles first. The
// answer to the cancelled listen comes after its cleanup, so waiting for
// it orders the two. Listens open at the same time in one session still
// depend on the server keeping them apart.
func (pr *process) settleListens(ctx context.Context) {
	pr.mu.Lock()
	var pending []chan struct{}
	for _, ch := range pr.endingListens {
		pending = append(pending, ch)
	}
	pr.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	t := time.NewTimer(listenSettleTimeout)
	defer t.Stop()
	for _, ch := range pending {
		select {
		case <-ch:
		case <-t.C:
			pr.log.Debug("stdio server did not answer a cancelled subscriptions/listen in time; sending the next one anyway")
			return
		case <-ctx.Done():
			return
		}
	}
}

// initialize performs the MCP initialize handshake on behalf of every client
// the process will serve (MCP 2025-11-25 basic/lifecycle "Initialization"):
// the request, the result kept for Conn.InitializeResult, then
// notifications/initialized.
func (pr *process) initialize(ctx context.Context, params []byte) error {
	c := newCall(nil, jsonrpc.ID{}, mcp.MethodInitialize, pr.pool.o.MaxCallBuffer)
	if !pr.register(c) {
		return errors.New("process exited before initialize")
	}
	c.origID = jsonrpc.Int64ID(c.upID)
	req := jsonrpc.AppendRequest(nil, c.origID, mcp.MethodInitialize, oneLine(params, false))
	if err := pr.write(req); err != nil {
		return err
	}
	for {
		m, err := c.Next(ctx)
		if err != nil {
			pr.take(c)
			if errors.Is(err, context.DeadlineExceeded) {
				return errors.New("no initialize response within the start timeout")
			}
			return err
		}
		if m.Kind != jsonrpc.KindResponse {
			continue
		}
		if m.Error != nil {
			e, derr := jsonrpc.DecodeError(m.Error)
			if derr != nil {
				return errors.New("initialize failed")
			}
			return fmt.Errorf("initialize failed: %d %s", e.Code, e.Message)
		}
		pr.mu.Lock()
		pr.initResult = m.Result
		pr.mu.Unlock()
		return pr.write(jsonrpc.AppendNotification(nil, mcp.NotificationInitialized, nil))
	}
}

// parseUpID reads an id the pool issued: a JSON integer, or the same digits
// as a string, which some servers echo ids and tokens as.
func parseUpID(id jsonrpc.ID) (int64, bool) { return parseNumber([]byte(id.Raw())) }

func parseNumber(raw []byte) (int64, bool) {
	if len(raw) > 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	if len(raw) == 0 || len(raw) > 18 { // no overflow
		return 0, false
	}
	var n int64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n > 0
}
