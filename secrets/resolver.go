package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Backend fetches the secrets of one remote scheme (vault, awssecrets,
// ...). Implementations are safe for concurrent use. Their errors must
// not contain the secret or the body of a response that may hold it.
type Backend interface {
	// Fetch returns the secret ref names, before its fragment is applied.
	Fetch(ctx context.Context, ref Ref) ([]byte, error)
}

// Options configure a Resolver. The zero value reads env: and file:
// references with the documented defaults and refuses every other scheme.
type Options struct {
	// Backends serve the remote schemes, by scheme name. env and file are
	// built in.
	Backends map[string]Backend
	// Allow lists, per scheme, the names references may use (see
	// Allowed). A remote scheme without a list refuses every reference,
	// so that whoever edits the configuration cannot read every secret
	// the gateway's identity can; env and file without a list accept any
	// name.
	Allow map[string][]string
	// Dir resolves relative file: paths. If empty, the working directory.
	Dir string
	// Getenv reads env: references. If nil, os.Getenv.
	Getenv func(string) string
	// RefreshInterval is how often secrets of remote backends are fetched
	// again. If zero, 5m.
	RefreshInterval time.Duration
	// FileCheckInterval is how often file: secrets are read again to see
	// whether they changed (Kubernetes Secret volumes and CSI mounts
	// replace files by swapping a symlink, which a read follows). If
	// zero, 10s.
	FileCheckInterval time.Duration
	// FetchTimeout bounds one fetch. If zero, 30s.
	FetchTimeout time.Duration
	// Logger receives refresh failures and rotations (field and
	// reference, never values). If nil, nothing is logged.
	Logger *slog.Logger
}

// Resolver resolves references and keeps their values fresh (Run). It is
// safe for concurrent use.
type Resolver struct {
	o Options

	mu      sync.Mutex
	secrets map[string]*Secret // by reference as written

	refreshes, failures, rotations atomic.Int64
}

// New returns a Resolver.
func New(o Options) *Resolver {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = 5 * time.Minute
	}
	if o.FileCheckInterval <= 0 {
		o.FileCheckInterval = 10 * time.Second
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Resolver{o: o, secrets: map[string]*Secret{}}
}

// Secret is one resolved reference, shared by every field that names it.
// Value returns the latest good value.
type Secret struct {
	ref    Ref
	fields []string // guarded by Resolver.mu
	cur    atomic.Pointer[Value]

	mu       sync.Mutex // guards watchers, next
	watchers []func(old, new Value)
	next     time.Time
	failing  bool
}

// Value returns the secret's latest good value.
func (s *Secret) Value() Value { return *s.cur.Load() }

// Ref returns the reference.
func (s *Secret) Ref() Ref { return s.ref }

// OnChange registers f, called (from the refreshing goroutine) after the
// value changes, with the value before and after.
func (s *Secret) OnChange(f func(old, new Value)) {
	s.mu.Lock()
	s.watchers = append(s.watchers, f)
	s.mu.Unlock()
}

// Resolve fetches the secret ref names for field (a configuration path
// such as "servers[0].http.bearer_token") and keeps it fresh while Run
// runs. The error names the field and the reference, never the value.
func (r *Resolver) Resolve(ctx context.Context, field string, ref Ref) (*Secret, error) {
	r.mu.Lock()
	if s := r.secrets[ref.raw]; s != nil {
		s.fields = append(s.fields, field)
		r.mu.Unlock()
		return s, nil
	}
	r.mu.Unlock()
	v, err := r.Fetch(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", field, ref, err)
	}
	s := &Secret{ref: ref, fields: []string{field}}
	s.cur.Store(&v)
	s.next = time.Now().Add(r.interval(ref))
	r.mu.Lock()
	defer r.mu.Unlock()
	if s2 := r.secrets[ref.raw]; s2 != nil { // resolved meanwhile
		s2.fields = append(s2.fields, field)
		return s2, nil
	}
	r.secrets[ref.raw] = s
	return s, nil
}

// Fetch resolves ref once, without keeping it. Check-only callers
// ("check-config --resolve-secrets") use it. The error never holds the
// value.
func (r *Resolver) Fetch(ctx context.Context, ref Ref) (Value, error) {
	if ref.IsZero() {
		return Value{}, errors.New("empty secret reference")
	}
	if ref.Scheme != SchemeEnv && ref.Scheme != SchemeFile && r.o.Backends[ref.Scheme] == nil {
		return Value{}, fmt.Errorf("the %s backend is not configured or not built into this binary", ref.Scheme)
	}
	if err := r.allowed(ref); err != nil {
		return Value{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.FetchTimeout)
	defer cancel()
	var raw []byte
	switch ref.Scheme {
	case SchemeEnv:
		v := r.o.Getenv(ref.Name)
		if v == "" {
			return Value{}, fmt.Errorf("environment variable %s is empty or unset", ref.Name)
		}
		raw = []byte(v)
	case SchemeFile:
		b, err := os.ReadFile(r.path(ref))
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				return Value{}, fmt.Errorf("read %s: %w", pe.Path, pe.Err)
			}
			return Value{}, err
		}
		raw = b
	default:
		got, err := r.o.Backends[ref.Scheme].Fetch(ctx, ref)
		if err != nil {
			return Value{}, err
		}
		raw = got
	}
	sel, err := Select(raw, ref.Pointer)
	if err != nil {
		return Value{}, err
	}
	// A trailing newline is an artefact of how files and secrets are
	// written (echo, kubectl create secret --from-file), never part of a
	// key or token.
	v := strings.TrimRight(string(sel), "\r\n")
	if v == "" {
		return Value{}, errors.New("the secret is empty")
	}
	return NewValue(v), nil
}

func (r *Resolver) path(ref Ref) string {
	p := ref.Name
	if !filepath.IsAbs(p) && r.o.Dir != "" {
		p = filepath.Join(r.o.Dir, p)
	}
	return p
}

// allowed checks ref against its scheme's allow-list.
func (r *Resolver) allowed(ref Ref) error {
	list, ok := r.o.Allow[ref.Scheme]
	if !ok && (ref.Scheme == SchemeEnv || ref.Scheme == SchemeFile) {
		return nil
	}
	if !Allowed(list, ref.AllowName(r.o.Dir)) {
		return fmt.Errorf("%s is not in the %s allow-list", ref.AllowName(r.o.Dir), ref.Scheme)
	}
	return nil
}

func (r *Resolver) interval(ref Ref) time.Duration {
	switch ref.Scheme {
	case SchemeEnv:
		return 0 // the environment of a running process does not change
	case SchemeFile:
		return r.o.FileCheckInterval
	}
	return r.o.RefreshInterval
}

// Run refreshes every resolved secret when it is due until ctx ends:
// files every FileCheckInterval, remote secrets every RefreshInterval.
// A failed refresh keeps the last good value, is logged (field,
// reference, error) and counted, and is tried again at the next check.
func (r *Resolver) Run(ctx context.Context) {
	// Ticks at a quarter of the shortest interval, so a secret is
	// refreshed at most a quarter interval late.
	tick := max(min(r.o.FileCheckInterval, r.o.RefreshInterval)/4, time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.refresh(ctx, time.Now(), false)
		}
	}
}

// RefreshNow refreshes every secret at once, due or not (tests, and a
// signal handler if an operator wants one).
func (r *Resolver) RefreshNow(ctx context.Context) { r.refresh(ctx, time.Now(), true) }

func (r *Resolver) refresh(ctx context.Context, now time.Time, all bool) {
	r.mu.Lock()
	list := make([]*Secret, 0, len(r.secrets))
	for _, s := range r.secrets {
		list = append(list, s)
	}
	r.mu.Unlock()
	for _, s := range list {
		iv := r.interval(s.ref)
		s.mu.Lock()
		due := iv > 0 && (all || !now.Before(s.next))
		if due {
			s.next = now.Add(iv)
		}
		s.mu.Unlock()
		if due && ctx.Err() == nil {
			r.refreshOne(ctx, s)
		}
	}
}

func (r *Resolver) refreshOne(ctx context.Context, s *Secret) {
	r.refreshes.Add(1)
	v, err := r.Fetch(ctx, s.ref)
	r.mu.Lock()
	fields := slices.Clone(s.fields)
	r.mu.Unlock()
	s.mu.Lock()
	wasFailing := s.failing
	s.failing = err != nil
	s.mu.Unlock()
	if err != nil {
		r.failures.Add(1)
		r.o.Logger.Warn("secret refresh failed; the last good value stays in use", "fields", fields, "ref", s.ref.String(), "err", err)
		return
	}
	if wasFailing {
		r.o.Logger.Info("secret refresh works again", "fields", fields, "ref", s.ref.String())
	}
	old := s.Value()
	if old.Equal(v) {
		return
	}
	s.cur.Store(&v)
	r.rotations.Add(1)
	r.o.Logger.Info("secret rotated", "fields", fields, "ref", s.ref.String())
	s.mu.Lock()
	ws := slices.Clone(s.watchers)
	s.mu.Unlock()
	for _, f := range ws {
		f(old, v)
	}
}

// Stats are counters of refreshes.
type Stats struct {
	// Secrets is the number of distinct references resolved.
	Secrets int
	// Refreshes counts fetches after the first; Failures those that
	// failed; Rotations those that found a new value.
	Refreshes, Failures, Rotations int64
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	r.mu.Lock()
	n := len(r.secrets)
	r.mu.Unlock()
	return Stats{Secrets: n, Refreshes: r.refreshes.Load(), Failures: r.failures.Load(), Rotations: r.rotations.Load()}
}
