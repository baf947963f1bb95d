package app

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/mcpfort/mcpfort/internal/statefile"
	"github.com/mcpfort/mcpfort/storage/backend"
)

// stateFiles are the files mcpfort itself creates in the state directory.
var stateFiles = []string{"session.key", "authserver.kek", "audit.key", "assertion.key"}

// prepareState makes the state directory owner-only before anything is
// written there: created with mode 0700 if missing; an existing one open
// to the group or others is reported (it may be the configuration's
// directory, shared with other files, so it is not changed). Keys and the
// embedded database found open to others are set to 0600, and each such
// change is logged.
func (a *App) prepareState() error {
	dir := a.cfg.State.Dir
	loose, err := statefile.CheckDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := statefile.MkdirAll(dir); err != nil {
			return err
		}
	case err != nil:
		return err
	case loose:
		a.log.Warn("the state directory is open to the group or others; it holds keys and the database: chmod 700 it", "dir", dir)
	}
	files := append([]string(nil), stateFiles...)
	if a.cfg.State.Database == "sqlite" {
		files = append(files, statefile.SQLiteFiles(backend.DefaultSQLiteFile)...)
	}
	for _, name := range files {
		p := filepath.Join(dir, name)
		tightened, err := statefile.Tighten(p)
		if err != nil {
			return err
		}
		if tightened {
			a.log.Warn("a state file was open to the group or others; its mode is now 0600", "file", p)
		}
	}
	return nil
}
