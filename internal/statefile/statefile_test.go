package statefile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestPrepareSQLite(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "a", "b")
	db := filepath.Join(dir, "x.db")
	if err := PrepareSQLite(db); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, db: 0o600} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", p, fi.Mode().Perm(), err, want)
		}
	}
	// Existing files open to others are tightened; the database is kept.
	if err := os.WriteFile(db, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db+"-wal", nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := PrepareSQLite(db); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{db, db + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", p, fi.Mode().Perm(), err)
		}
	}
	if b, _ := os.ReadFile(db); string(b) != "data" {
		t.Errorf("database content changed: %q", b)
	}
	if err := PrepareSQLite(":memory:"); err != nil {
		t.Fatal(err)
	}
	// A symbolic link is not followed to chmod its target.
	target := filepath.Join(t.TempDir(), "t")
	os.WriteFile(target, nil, 0o644)
	os.Chmod(target, 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if changed, err := Tighten(link); err != nil || changed {
		t.Errorf("Tighten(symlink) = %v, %v", changed, err)
	}
}
