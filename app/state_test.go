package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runOnce starts mcpfort on cfgText (state.dir is dir), calls during
// while it runs, and stops it. It returns what was logged.
func runOnce(t *testing.T, dir, cfgText string, during func()) string {
	t.Helper()
	cfg, err := config.Parse([]byte(cfgText), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.State.Dir = dir
	var logs lockedBuffer
	a, err := app.New(cfg, app.Options{Version: "test", Getenv: func(string) string { return "" }, Console: io.Discard,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(a net.Addr) { addr <- a }) }()
	select {
	case <-addr:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	during()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	return logs.String()
}

// TestStateFilesOwnerOnly starts mcpfort with the most permissive umask
// and checks that the state directory it creates is 0700 and every state
// file in it (database, WAL, keys) 0600; then that files and a directory
// left open to others by an earlier version are tightened or reported.
func TestStateFilesOwnerOnly(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	cfgText := fmt.Sprintf(`
listen: 127.0.0.1:%d
authserver: {enabled: true}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
`, freePort(t), filepath.Join(binDir, "mcpfort-everything"))

	dir := filepath.Join(t.TempDir(), "state", "mcpfort")
	check := func() {
		t.Helper()
		for _, d := range []string{dir} {
			fi, err := os.Stat(d)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: mode %v, want 0700", d, fi.Mode().Perm())
			}
		}
		var seen []string
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			seen = append(seen, d.Name())
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", d.Name(), fi.Mode().Perm())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"mcpfort.db", "mcpfort.db-wal", "mcpfort.db-shm", "session.key", "authserver.kek"} {
			if !strings.Contains(strings.Join(seen, " "), want) {
				t.Errorf("no %s in the state directory (%v)", want, seen)
			}
		}
	}
	runOnce(t, dir, cfgText, check)

	// An earlier version left everything open to others.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"mcpfort.db", "session.key", "authserver.kek"} {
		if err := os.Chmod(filepath.Join(dir, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logs := runOnce(t, dir, cfgText, func() {})
	if !strings.Contains(logs, "state directory is open to the group or others") {
		t.Errorf("no warning about the state directory; logs:\n%s", logs)
	}
	if !strings.Contains(logs, "its mode is now 0600") {
		t.Errorf("no warning about tightened files; logs:\n%s", logs)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	runOnce(t, dir, cfgText, check)
}
