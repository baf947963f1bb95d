package stdio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/mcp"
)

// Isolation decides which clients share an upstream process.
type Isolation uint8

// Isolation modes. The zero value is PerSession, the safest.
const (
	// PerSession gives every client session a process of its own.
	PerSession Isolation = iota
	// PerUser gives every key (the authenticated principal) a process,
	// shared by that principal's sessions.
	PerUser
	// Shared lets all keys share a bounded set of processes. Responses and
	// progress are routed by id, but a server message carrying neither (a
	// log line, a server-to-client request) can only be attributed by
	// timing: it goes to the one call in flight when there is exactly one,
	// else to nobody. A server that emits user data outside its request
	// handlers should run PerUser or PerSession.
	Shared
)

// String returns the configuration name of the mode.
func (i Isolation) String() string {
	switch i {
	case PerSession:
		return "per_session"
	case PerUser:
		return "per_user"
	case Shared:
		return "shared"
	}
	return fmt.Sprintf("isolation(%d)", uint8(i))
}

// ParseIsolation returns the mode named s ("per_session", "per_user" or
// "shared"); "" means PerSession.
func ParseIsolation(s string) (Isolation, error) {
	switch s {
	case "", "per_session":
		return PerSession, nil
	case "per_user":
		return PerUser, nil
	case "shared":
		return Shared, nil
	}
	return 0, fmt.Errorf("stdio: unknown isolation %q (want per_session, per_user or shared)", s)
}

// Options configures a Pool. Every zero field means the documented default;
// only Command is required.
type Options struct {
	// Name identifies the upstream in logs. If empty, the base name of
	// Command[0].
	Name string

	// Command is the program and its arguments. A program name without a
	// slash is looked up in PATH when the pool is created.
	Command []string

	// Env holds extra "KEY=value" entries for the process environment. The
	// process does not inherit the gateway's environment, which may hold the
	// gateway's own secrets: it gets PATH, HOME, USER, LOGNAME, SHELL, TMPDIR,
	// TZ, LANG and LC_* from the gateway (when set) plus Env, later entries
	// winning.
	Env []string
	// EnvSource, if set, is called at each process start for more
	// "KEY=value" entries, after Env: values from secret references, so
	// that a process started after a rotation gets the new value.
	EnvSource func() []string

	// InsecureInheritEnv passes the gateway's whole environment to the
	// process (then Env). Insecure: the process sees every secret in the
	// gateway's environment. New logs a warning when it is set.
	InsecureInheritEnv bool

	// Dir is the working directory of the process. If empty, the gateway's.
	Dir string

	// Isolation decides who shares a process. If zero, PerSession.
	Isolation Isolation

	// MaxProcesses bounds the processes alive at once, starting ones
	// included. If zero, 64 for PerSession and PerUser, 4 for Shared.
	MaxProcesses int

	// Warm is the number of PerSession processes the pool keeps started
	// but not yet given to any session, so that a new session does not wait
	// for a process to start. A warm process has received nothing (or, when
	// InitializeParams is set, only the pool's own initialize handshake, as
	// every PerSession process does): the session's first message is the
	// first it sees. Warm processes count against MaxProcesses, are started
	// with the environment of the moment (one started before EnvSource
	// changed its value is stopped instead of handed out), at most
	// min(Warm, 2*GOMAXPROCS) at a time, and are replaced in the background
	// when taken or when they exit. Each costs an idle process's memory. If
	// zero, none: a process starts when a session asks for it. Only
	// PerSession pools may set it.
	Warm int

	// MaxInFlight bounds the calls in flight on one process. If zero, 64.
	MaxInFlight int

	// MaxQueue bounds the callers waiting for a process or an in-flight
	// slot; the next one gets CodeOverloaded at once. If zero, 1024;
	// negative means no waiting at all.
	MaxQueue int

	// QueueTimeout is how long a caller waits for a process or a slot
	// before it gets CodeOverloaded (or CodeUpstreamUnavailable while the
	// upstream is restarting after a crash). If zero, 10s.
	QueueTimeout time.Duration

	// IdleTimeout stops a process that has had no call in flight and no
	// traffic for this long. For PerSession it also ends the session. If
	// zero, 10 minutes; negative means never.
	IdleTimeout time.Duration

	// RestartBackoffMin and RestartBackoffMax bound the delay before a
	// process that crashed or failed to start is started again; the delay
	// doubles with each consecutive failure. If zero, 100ms and 30s. A
	// process that ran for RestartBackoffMax resets the count.
	RestartBackoffMin time.Duration
	RestartBackoffMax time.Duration

	// StartTimeout bounds starting a process, including the initialize
	// handshake when InitializeParams is set. If zero, 30s.
	StartTimeout time.Duration

	// WriteTimeout bounds one write to a process's stdin; a process that
	// stops reading for this long is considered hung and killed. If zero,
	// 30s.
	WriteTimeout time.Duration

	// MaxMessageSize bounds one line of process output; a longer line fails
	// the process, which can no longer be framed. If zero, 4 MiB.
	MaxMessageSize int

	// MaxCallBuffer bounds the bytes of server messages (progress, logs,
	// server-to-client requests) queued for one call whose reader is slow;
	// past it the call fails with CodeOverloaded, and the process and other
	// calls are unaffected. The final response is not counted. If zero,
	// 1 MiB.
	MaxCallBuffer int

	// UnsolicitedBuffer bounds the messages queued on Conn.Unsolicited;
	// past it messages are dropped (server-to-client requests are answered
	// with an error so the server does not wait forever). If zero, 64.
	UnsolicitedBuffer int

	// ShutdownGrace is how long a stopping process gets after its stdin is
	// closed and then after SIGTERM, before SIGKILL (MCP 2025-11-25
	// basic/lifecycle "Shutdown", stdio). If zero, 5s; each step gets half.
	ShutdownGrace time.Duration

	// InitializeParams, when set, makes the pool itself perform the MCP
	// initialize handshake (request with these params, then
	// notifications/initialized) on every new process before handing it
	// out, and keep the InitializeResult (Conn.InitializeResult). PerUser
	// and Shared processes serve several clients, so they need it; so do
	// clients of the 2026-07-28 revision, which never send initialize. When
	// nil, processes are handed out untouched and the client's own
	// initialize is forwarded (PerSession pass-through). It must be a JSON
	// object. PerUser and Shared pools cannot pass through, so for them nil
	// means DefaultInitializeParams.
	InitializeParams []byte

	// Logger receives process lifecycle events and stderr lines. If nil,
	// nothing is logged.
	Logger *slog.Logger

	// Observer, if set, is told what costs a caller time in the pool: a
	// wait in the queue and a process start. If nil, the pool takes no
	// timestamps for it.
	Observer Observer
}

// Observer receives the pool's timing events, for traces and metrics. Its
// methods are called without the pool's lock held and must not block.
type Observer interface {
	// QueueWait reports that a caller waited in the queue for a process
	// or an in-flight slot, from start until now; err is nil when it got
	// one. Callers granted capacity at once did not wait and are not
	// reported. ctx is the caller's.
	QueueWait(ctx context.Context, start time.Time, err error)
	// ProcessStart reports a process start (spawn and, when the pool
	// initializes processes, the initialize handshake), from start until
	// now; err is nil when the process is ready. ctx is that of the caller
	// the process was started for: the one that acquired it (PerSession),
	// or the waiting caller that asked for it (PerUser and Shared, whose
	// starts run in the background); context.Background() for a Shared
	// start made ahead of demand, which no caller waits for. Starts
	// abandoned before they spawned anything are not reported.
	ProcessStart(ctx context.Context, start time.Time, err error)
}

// Defaults.
const (
	defaultMaxProcesses       = 64
	defaultMaxProcessesShared = 4
	defaultMaxInFlight        = 64
	defaultMaxQueue           = 1024
	defaultQueueTimeout       = 10 * time.Second
	defaultIdleTimeout        = 10 * time.Minute
	defaultBackoffMin         = 100 * time.Millisecond
	defaultBackoffMax         = 30 * time.Second
	defaultStartTimeout       = 30 * time.Second
	defaultWriteTimeout       = 30 * time.Second
	defaultMaxMessageSize     = 4 << 20
	defaultMaxCallBuffer      = 1 << 20
	defaultUnsolicited        = 64
	defaultShutdownGrace      = 5 * time.Second

	// maxStderrLine bounds one logged stderr line; the rest is dropped.
	maxStderrLine = 1024
	// maxStderrRate bounds the stderr lines logged per process per second.
	maxStderrRate = 100
)

// DefaultInitializeParams returns the initialize params a PerUser or Shared
// pool sends when Options.InitializeParams is nil: the latest legacy protocol
// version and no client capabilities, so the server never sends a
// server-to-client request that some client sharing it could not answer.
func DefaultInitializeParams() []byte {
	return []byte(`{"protocolVersion":"` + mcp.LatestLegacy + `","capabilities":{},"clientInfo":{"name":"mcpfort","version":"1"}}`)
}

// inherited reports whether the environment variable k passes to a process by
// default: what programs need to find themselves and behave, no more.
func inherited(k string) bool {
	switch k {
	case "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ", "LANG":
		return true
	}
	return strings.HasPrefix(k, "LC_")
}

// normalize fills the defaults and checks the options.
func (o Options) normalize() (Options, error) {
	var errs []error
	if len(o.Command) == 0 || o.Command[0] == "" {
		errs = append(errs, errors.New("stdio: Command is required"))
	} else if !strings.Contains(o.Command[0], "/") {
		p, err := exec.LookPath(o.Command[0])
		if err != nil {
			errs = append(errs, fmt.Errorf("stdio: command %q: %w", o.Command[0], err))
		} else {
			o.Command = append([]string{p}, o.Command[1:]...)
		}
	}
	if o.Isolation > Shared {
		errs = append(errs, fmt.Errorf("stdio: unknown isolation %d", o.Isolation))
	}
	for _, kv := range o.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			errs = append(errs, fmt.Errorf("stdio: Env entry %q is not KEY=value", kv))
		}
	}
	if o.InitializeParams != nil && (jsonx.Validate(o.InitializeParams, 0) != nil || !jsonx.IsObject(o.InitializeParams)) {
		errs = append(errs, errors.New("stdio: InitializeParams must be a JSON object"))
	}
	if o.Isolation != PerSession && o.InitializeParams == nil {
		o.InitializeParams = DefaultInitializeParams()
	}
	if o.Warm < 0 {
		errs = append(errs, errors.New("stdio: Warm must not be negative"))
	} else if o.Warm > 0 && o.Isolation != PerSession {
		errs = append(errs, fmt.Errorf("stdio: Warm needs PerSession isolation, not %s", o.Isolation))
	}
	if o.MaxProcesses < 0 || o.MaxInFlight < 0 || o.MaxMessageSize < 0 || o.MaxCallBuffer < 0 || o.UnsolicitedBuffer < 0 {
		errs = append(errs, errors.New("stdio: limits must not be negative"))
	}
	if o.RestartBackoffMin < 0 || o.RestartBackoffMax < 0 || o.StartTimeout < 0 || o.WriteTimeout < 0 || o.ShutdownGrace < 0 || o.QueueTimeout < 0 {
		errs = append(errs, errors.New("stdio: durations must not be negative (except IdleTimeout)"))
	}
	if len(errs) > 0 {
		return o, errors.Join(errs...)
	}
	if o.Name == "" {
		o.Name = o.Command[0][strings.LastIndexByte(o.Command[0], '/')+1:]
	}
	if o.MaxProcesses == 0 {
		o.MaxProcesses = defaultMaxProcesses
		if o.Isolation == Shared {
			o.MaxProcesses = defaultMaxProcessesShared
		}
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxInFlight, defaultMaxInFlight)
	def(&o.MaxQueue, defaultMaxQueue)
	if o.MaxQueue < 0 {
		o.MaxQueue = 0
	}
	def(&o.MaxMessageSize, defaultMaxMessageSize)
	def(&o.MaxCallBuffer, defaultMaxCallBuffer)
	def(&o.UnsolicitedBuffer, defaultUnsolicited)
	defd(&o.QueueTimeout, defaultQueueTimeout)
	defd(&o.IdleTimeout, defaultIdleTimeout)
	defd(&o.RestartBackoffMin, defaultBackoffMin)
	defd(&o.RestartBackoffMax, defaultBackoffMax)
	if o.RestartBackoffMax < o.RestartBackoffMin {
		o.RestartBackoffMax = o.RestartBackoffMin
	}
	defd(&o.StartTimeout, defaultStartTimeout)
	defd(&o.WriteTimeout, defaultWriteTimeout)
	defd(&o.ShutdownGrace, defaultShutdownGrace)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// environ builds the process environment.
func (o Options) environ() []string {
	var env []string
	if o.InsecureInheritEnv {
		env = os.Environ()
	} else {
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			if inherited(k) {
				env = append(env, kv)
			}
		}
	}
	// exec.Cmd keeps the last value of a duplicated key.
	return append(env, o.Env...)
}
