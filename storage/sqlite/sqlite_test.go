package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/sqlite"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (storage.Store, func() storage.Store) {
		path := filepath.Join(t.TempDir(), "mcpfort.db")
		open := func() storage.Store {
			s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return open(), open
	})
}

func TestAuditConformance(t *testing.T) {
	storagetest.RunAudit(t, func(t *testing.T) (storage.AuditStore, func() storage.AuditStore) {
		open := opener(t)
		return open(), func() storage.AuditStore { return open() }
	})
}

func TestPinConformance(t *testing.T) {
	storagetest.RunPins(t, func(t *testing.T) (storage.PinStore, func() storage.PinStore) {
		open := opener(t)
		return open(), func() storage.PinStore { return open() }
	})
}

func TestVaultConformance(t *testing.T) {
	storagetest.RunVault(t, func(t *testing.T) (storage.VaultStore, func() storage.VaultStore) {
		open := opener(t)
		return open(), func() storage.VaultStore { return open() }
	})
}

// opener opens a new database, then the same one again, each closed when
// the test ends.
func opener(t *testing.T) func() storage.Backend {
	path := filepath.Join(t.TempDir(), "mcpfort.db")
	return func() storage.Backend {
		s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func TestOpenRequiresPath(t *testing.T) {
	if _, err := sqlite.Open(context.Background(), sqlite.Options{}); err == nil {
		t.Fatal("Open without a path succeeded")
	}
}
