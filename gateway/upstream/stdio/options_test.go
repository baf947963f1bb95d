package stdio

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseIsolation(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Isolation
		bad  bool
	}{
		{"", PerSession, false},
		{"per_session", PerSession, false},
		{"per_user", PerUser, false},
		{"shared", Shared, false},
		{"Shared", 0, true},
		{"global", 0, true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseIsolation(tt.in)
			if (err != nil) != tt.bad || got != tt.want {
				t.Fatalf("ParseIsolation(%q) = %v, %v", tt.in, got, err)
			}
			if !tt.bad && tt.in != "" && got.String() != tt.in {
				t.Errorf("String() = %q", got.String())
			}
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string // substrings of the error, all reported at once
	}{
		{"no command", Options{}, []string{"Command is required"}},
		{"unknown program", Options{Command: []string{"no-such-program-mcpfort"}}, []string{"no-such-program-mcpfort"}},
		{"everything wrong", Options{
			Command:          []string{"/bin/sh"},
			Env:              []string{"NOEQUALS"},
			InitializeParams: []byte(`[1]`),
			Isolation:        7,
			MaxProcesses:     -1,
			ShutdownGrace:    -time.Second,
		}, []string{`"NOEQUALS"`, "InitializeParams", "unknown isolation", "limits", "durations"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	got, err := Options{Command: []string{"sh", "-c", "true"}, Isolation: Shared}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	got.Logger = nil
	want := Options{
		Name:              "sh",
		Command:           got.Command,
		Isolation:         Shared,
		MaxProcesses:      4,
		MaxInFlight:       64,
		MaxQueue:          1024,
		QueueTimeout:      10 * time.Second,
		IdleTimeout:       10 * time.Minute,
		RestartBackoffMin: 100 * time.Millisecond,
		RestartBackoffMax: 30 * time.Second,
		StartTimeout:      30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxMessageSize:    4 << 20,
		MaxCallBuffer:     1 << 20,
		UnsolicitedBuffer: 64,
		ShutdownGrace:     5 * time.Second,
		InitializeParams:  DefaultInitializeParams(),
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("defaults (-want +got):\n%s", d)
	}
	if !strings.HasPrefix(got.Command[0], "/") {
		t.Errorf("program not resolved: %q", got.Command[0])
	}
}

func TestEnviron(t *testing.T) {
	t.Setenv("MCPFORT_TEST_SECRET", "s3cret")
	t.Setenv("LC_ALL", "C")
	env := Options{Env: []string{"A=1", "PATH=/x"}}.environ()
	joined := "\n" + strings.Join(env, "\n") + "\n"
	if strings.Contains(joined, "MCPFORT_TEST_SECRET") {
		t.Errorf("gateway secret passed to the process: %q", env)
	}
	for _, w := range []string{"\nLC_ALL=C\n", "\nA=1\n", "\nPATH=/x\n"} {
		if !strings.Contains(joined, w) {
			t.Errorf("environment lacks %q: %q", w, env)
		}
	}
	if env[len(env)-1] != "PATH=/x" {
		t.Errorf("Env does not come last (and win): %q", env)
	}
	if !strings.Contains(strings.Join(Options{InsecureInheritEnv: true}.environ(), "\n"), "MCPFORT_TEST_SECRET=s3cret") {
		t.Errorf("InsecureInheritEnv did not inherit")
	}
}

func TestBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	var b backoff
	var got []time.Duration
	for range 6 {
		b.failed(now, 0, 100*time.Millisecond, time.Second)
		got = append(got, b.delay(now))
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("delays (-want +got):\n%s", d)
	}
	// A process that ran long enough resets the count.
	b.failed(now, time.Second, 100*time.Millisecond, time.Second)
	if d := b.delay(now); d != 100*time.Millisecond {
		t.Errorf("after a long run: %v", d)
	}
}
