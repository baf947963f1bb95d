package backend

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenSQLiteForms(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ db, file string }{
		{"sqlite", DefaultSQLiteFile},
		{"sqlite:a.db", "a.db"},
		{"file:b.db", "b.db"},
		{"c.db", "c.db"},
	} {
		s, err := Open(context.Background(), tt.db, dir)
		if err != nil {
			t.Fatalf("%s: %v", tt.db, err)
		}
		s.Close()
		if _, err := os.Stat(filepath.Join(dir, tt.file)); err != nil {
			t.Errorf("%s: %v", tt.db, err)
		}
	}
	if _, err := Open(context.Background(), "", dir); err == nil {
		t.Error("empty database accepted")
	}
}
