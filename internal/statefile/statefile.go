// Package statefile creates and checks the files that hold mcpfort's
// state (the SQLite database, generated keys): owner-only files (0600) in
// owner-only directories (0700), whatever the process umask.
//
// It imports only the standard library.
package statefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Modes of state directories and files.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// Loose reports whether mode lets the group or others in.
func Loose(mode fs.FileMode) bool { return mode.Perm()&0o077 != 0 }

// MkdirAll creates dir and its missing parents with mode 0700. An
// existing directory is left as it is (see [CheckDir]).
func MkdirAll(dir string) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	return nil
}

// CheckDir reports whether the directory dir exists and is open to the
// group or others.
func CheckDir(dir string) (loose bool, err error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return false, err
	}
	return Loose(fi.Mode()), nil
}

// Tighten sets an existing file that the group or others may read or
// write to mode 0600, and reports whether it did. A missing file is not
// an error.
func Tighten(path string) (bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() || !Loose(fi.Mode()) {
		return false, nil
	}
	if err := os.Chmod(path, FileMode); err != nil {
		return false, fmt.Errorf("tighten %s: %w", path, err)
	}
	return true, nil
}

// SQLiteFiles are the files of the SQLite database at path: the database
// and its write-ahead log and shared-memory index.
func SQLiteFiles(path string) []string {
	return []string{path, path + "-wal", path + "-shm"}
}

// PrepareSQLite makes the SQLite database at path owner-only before
// SQLite opens it: a missing parent directory is created 0700, a missing
// database file is created empty with mode 0600 (SQLite gives the -wal and
// -shm files it creates the database file's mode), and an existing
// database, -wal or -shm file open to others is set to 0600. ":memory:"
// databases have no files.
func PrepareSQLite(path string) error {
	if path == "" || strings.HasPrefix(path, ":memory:") {
		return nil
	}
	if err := MkdirAll(filepath.Dir(path)); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("create database file: %w", err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create database file: %w", err)
	}
	for _, p := range SQLiteFiles(path) {
		if _, err := Tighten(p); err != nil {
			return err
		}
	}
	return nil
}
