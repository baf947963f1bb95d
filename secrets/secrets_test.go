package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const canary = "CANARY-7f3e9a-do-not-print"

// TestValueRedacts formats a Value every way a program might print it.
func TestValueRedacts(t *testing.T) {
	v := NewValue(canary)
	type holder struct {
		Name string
		V    Value
		P    *Value
	}
	h := holder{Name: "x", V: v, P: &v}
	var out bytes.Buffer
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		fmt.Fprintf(&out, f+"\n", v)
		fmt.Fprintf(&out, f+"\n", h)
		fmt.Fprintf(&out, f+"\n", &h)
	}
	fmt.Fprintln(&out, v, h, []Value{v}, map[string]Value{"k": v})
	j, _ := json.Marshal(h)
	out.Write(j)
	txt, _ := v.MarshalText()
	out.Write(txt)
	log := slog.New(slog.NewJSONHandler(&out, nil))
	log.Info("m", "v", v, "h", h)
	slog.New(slog.NewTextHandler(&out, nil)).Info("m", "v", v, "h", h)
	func() {
		defer func() { fmt.Fprint(&out, recover()) }()
		panic(v)
	}()
	if strings.Contains(out.String(), canary) {
		t.Fatalf("canary printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), Redacted) {
		t.Fatal("no redaction marker printed")
	}
	if v.Reveal() != canary || string(v.Bytes()) != canary {
		t.Fatal("Reveal lost the value")
	}
}

func TestParseRef(t *testing.T) {
	good := map[string]Ref{
		"env:TOKEN":               {Scheme: "env", Name: "TOKEN"},
		"file:/run/s/x#/a~1b/~0c": {Scheme: "file", Name: "/run/s/x", Pointer: "/a/b/~c"[:0] + "/a~1b/~0c"},
		"file:rel/x":              {Scheme: "file", Name: "rel/x"},
		"vault://secret/app/db?version=3#/password":                                              {Scheme: "vault", Name: "secret/app/db", Params: map[string]string{"version": "3"}, Pointer: "/password"},
		"awssecrets://arn:aws:secretsmanager:eu-west-1:1:secret:x-AbC?version_stage=AWSPREVIOUS": {Scheme: "awssecrets", Name: "arn:aws:secretsmanager:eu-west-1:1:secret:x-AbC", Params: map[string]string{"version_stage": "AWSPREVIOUS"}},
		"awsssm:///prod/token?region=us-east-1":                                                  {Scheme: "awsssm", Name: "/prod/token", Params: map[string]string{"region": "us-east-1"}},
		"azurekeyvault://kv1/api-key/0123":                                                       {Scheme: "azurekeyvault", Name: "kv1/api-key/0123"},
		"gcpsecrets://proj/tok?version=5#/k":                                                     {Scheme: "gcpsecrets", Name: "proj/tok", Params: map[string]string{"version": "5"}, Pointer: "/k"},
	}
	for in, want := range good {
		got, err := ParseRef(in)
		if err != nil {
			t.Errorf("ParseRef(%q): %v", in, err)
			continue
		}
		want.raw = in
		if fmt.Sprint(got.Scheme, got.Name, got.Params, got.Pointer) != fmt.Sprint(want.Scheme, want.Name, want.Params, want.Pointer) || got.String() != in {
			t.Errorf("ParseRef(%q) = %+v, want %+v", in, got, want)
		}
	}
	for _, bad := range []string{"", "TOKEN", "env:", "env:A-B", "file:", "file:/x#no-slash", "file:/x#/~2",
		"vault://secret", "vault://secret/x?version=0", "vault:secret/x", "awssecrets://x?bogus=1", "azurekeyvault://kv",
		"gcpsecrets://p", "gcpsecrets://p/s/x", "http://x/y", "awssecrets://x?region=a&region=b"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) accepted", bad)
		}
	}
}

func TestSelect(t *testing.T) {
	doc := []byte(`{"a":{"b/c":"x","n":12,"t":true,"o":{},"arr":["p","q"]},"~k":"tilde"}`)
	for ptr, want := range map[string]string{"/a/b~1c": "x", "/a/n": "12", "/a/t": "true", "/a/arr/1": "q", "/~0k": "tilde"} {
		got, err := Select(doc, ptr)
		if err != nil || string(got) != want {
			t.Errorf("Select(%s) = %q, %v; want %q", ptr, got, err, want)
		}
	}
	for _, ptr := range []string{"/a/o", "/nope", "/a/arr/2", "/a/arr/01", "/a/b~1c/x"} {
		if _, err := Select(doc, ptr); !errors.Is(err, ErrPointer) {
			t.Errorf("Select(%s) err = %v", ptr, err)
		}
	}
	_, err := Select([]byte("x"+canary), "/a")
	if err == nil || strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "x") && strings.Contains(err.Error(), "'x'") {
		t.Errorf("non-JSON error = %v", err)
	}
}

func TestAllowed(t *testing.T) {
	allow := []string{"secret/mcpfort/", "EXACT", "prod-*"}
	for name, want := range map[string]bool{
		"secret/mcpfort/db": true, "secret/mcpfort": false, "secret/mcpfort-admin/x": false, "secret/mcpfort/../root": false,
		"EXACT": true, "EXACTLY": false, "prod-token": true, "staging-token": false,
	} {
		if got := Allowed(allow, name); got != want {
			t.Errorf("Allowed(%q) = %v", name, got)
		}
	}
}

type fakeBackend struct {
	mu      sync.Mutex
	val     string
	err     error
	fetched chan struct{} // if set, signalled at each fetch
}

func (f *fakeBackend) Fetch(context.Context, Ref) ([]byte, error) {
	if f.fetched != nil {
		select {
		case f.fetched <- struct{}{}:
		default:
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return []byte(f.val), f.err
}

func (f *fakeBackend) set(v string, err error) {
	f.mu.Lock()
	f.val, f.err = v, err
	f.mu.Unlock()
}

func mustRef(t *testing.T, s string) Ref {
	t.Helper()
	r, err := ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResolverAllowAndErrors(t *testing.T) {
	fb := &fakeBackend{val: canary}
	r := New(Options{Backends: map[string]Backend{SchemeVault: fb}, Allow: map[string][]string{SchemeVault: {"secret/ok/"}, SchemeEnv: {"GOOD"}},
		Getenv: func(k string) string { return map[string]string{"GOOD": canary, "BAD": canary}[k] }})
	ctx := context.Background()
	if s, err := r.Resolve(ctx, "f.a", mustRef(t, "vault://secret/ok/x")); err != nil || s.Value().Reveal() != canary {
		t.Fatalf("allowed: %v", err)
	}
	_, err := r.Resolve(ctx, "f.b", mustRef(t, "vault://secret/other/x"))
	if err == nil || !strings.Contains(err.Error(), "f.b: vault://secret/other/x") || !strings.Contains(err.Error(), "allow-list") {
		t.Fatalf("not allowed: %v", err)
	}
	if _, err := r.Resolve(ctx, "f.c", mustRef(t, "env:BAD")); err == nil {
		t.Fatal("env allow-list not applied")
	}
	if _, err := r.Resolve(ctx, "f.d", mustRef(t, "awsssm://x")); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("unconfigured backend: %v", err)
	}
	// A remote scheme without an allow-list refuses everything.
	r2 := New(Options{Backends: map[string]Backend{SchemeVault: fb}})
	if _, err := r2.Fetch(ctx, mustRef(t, "vault://secret/ok/x")); err == nil {
		t.Fatal("remote scheme without allow-list accepted")
	}
	fb.set(canary, errors.New("backend down"))
	if _, err := r.Fetch(ctx, mustRef(t, "vault://secret/ok/y#/k")); err == nil || strings.Contains(err.Error(), canary) {
		t.Fatalf("error: %v", err)
	}
}

// TestFileRotation rewrites a file as Kubernetes does (a new file swapped
// in by rename) and checks that the new value is seen at the next check,
// that a broken file keeps the last good value, and that watchers run.
func TestFileRotation(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "creds.json")
	write := func(s string) {
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"token":"one"}` + "\n")
	var logs bytes.Buffer
	r := New(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	s, err := r.Resolve(ctx, "servers[0].http.bearer_token", mustRef(t, "file:creds.json#/token"))
	if err != nil || s.Value().Reveal() != "one" {
		t.Fatalf("resolve: %v", err)
	}
	changed := make(chan [2]string, 4)
	s.OnChange(func(old, new Value) { changed <- [2]string{old.Reveal(), new.Reveal()} })
	write(`{"token":"` + canary + `"}`)
	r.RefreshNow(ctx)
	if got := <-changed; got != [2]string{"one", canary} || s.Value().Reveal() != canary {
		t.Fatalf("rotation: %v", got)
	}
	write(`{"nottoken":1}`)
	r.RefreshNow(ctx)
	if s.Value().Reveal() != canary {
		t.Fatal("a broken file replaced the last good value")
	}
	os.Remove(p)
	r.RefreshNow(ctx)
	if s.Value().Reveal() != canary {
		t.Fatal("a missing file replaced the last good value")
	}
	st := r.Stats()
	if st.Failures != 2 || st.Rotations != 1 || st.Secrets != 1 {
		t.Fatalf("stats %+v", st)
	}
	if strings.Contains(logs.String(), canary) || !strings.Contains(logs.String(), "servers[0].http.bearer_token") {
		t.Fatalf("logs:\n%s", logs.String())
	}
}

// TestRotationUnderLoad changes a remote secret while readers call Value
// without pause: no read fails or sees an empty value, and the new value
// is in use within one refresh interval of the change.
func TestRotationUnderLoad(t *testing.T) {
	fb := &fakeBackend{val: "v1", fetched: make(chan struct{}, 1)}
	const interval = 100 * time.Millisecond
	r := New(Options{Backends: map[string]Backend{SchemeVault: fb}, Allow: map[string][]string{SchemeVault: {"secret/"}},
		RefreshInterval: interval, FileCheckInterval: interval})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := r.Resolve(ctx, "f", mustRef(t, "vault://secret/x"))
	if err != nil {
		t.Fatal(err)
	}
	changed := make(chan time.Time, 1)
	s.OnChange(func(_, v Value) {
		if v.Reveal() == "v2" {
			changed <- time.Now()
		}
	})
	go r.Run(ctx)
	stop := make(chan struct{})
	var bad atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if v := s.Value().Reveal(); v != "v1" && v != "v2" {
					bad.Add(1)
				}
				time.Sleep(50 * time.Microsecond) // paces the calls; waits for nothing
			}
		})
	}
	// Wait for one refresh of the old value, so the change lands at an
	// arbitrary point of the interval.
	<-fb.fetched // the first fetch
	<-fb.fetched // a refresh
	fb.set("v2", nil)
	at := time.Now()
	got := <-changed
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d reads saw neither value", bad.Load())
	}
	// One interval, plus slack for a loaded machine.
	if d := got.Sub(at); d > interval+interval/2 {
		t.Fatalf("new value used after %v, interval %v", d, interval)
	}
	if s.Value().Reveal() != "v2" {
		t.Fatal("value not rotated")
	}
}
