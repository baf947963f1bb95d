package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/authserver/keys"
	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/gateway/policy/audit/auditcmd"
	"github.com/mcpfort/mcpfort/secrets"
)

// auditKeyFormat marks a sealed audit chain key file.
const auditKeyFormat = "mcpfort-audit-chain-key/v1"

// auditKeyFile is the chain key file: the key sealed with the
// key-encryption key, and the first record it keys. The sealing binds
// keyed_from (additional data), so that someone who can write the file but
// not read the key-encryption key cannot move the point from which records
// must be keyed.
type auditKeyFile struct {
	Format    string    `json:"format"`
	KeyedFrom int64     `json:"keyed_from"`
	Created   time.Time `json:"created"`
	Sealed    string    `json:"sealed"`
}

func auditKeyAD(keyedFrom int64) string {
	return "mcpfort/audit-chain-key/v1|keyed_from=" + strconv.FormatInt(keyedFrom, 10)
}

// auditKeySize is the chain key's size: 32 random bytes.
const auditKeySize = 32

// readAuditKey reads the chain key at path. A sealed file is opened with
// one of the key-encryption keys keks returns; a bare key (at least 32
// bytes, as operators kept it before keys were sealed) keyed the chain
// from its first record. A missing file is fs.ErrNotExist.
func readAuditKey(path string, keks func() ([][]byte, error)) (key []byte, keyedFrom int64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("audit chain key: %w", err)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		key, err := audit.ReadKeyFile(path)
		return key, 1, err
	}
	var f auditKeyFile
	if err := json.Unmarshal(b, &f); err != nil || f.Format != auditKeyFormat || f.KeyedFrom < 1 {
		return nil, 0, fmt.Errorf("audit chain key: %s is not a %s file", path, auditKeyFormat)
	}
	sealed, err := base64.StdEncoding.DecodeString(f.Sealed)
	if err != nil {
		return nil, 0, fmt.Errorf("audit chain key: %s: sealed key is not base64", path)
	}
	ks, err := keks()
	if err != nil {
		return nil, 0, fmt.Errorf("audit chain key: %w", err)
	}
	key, err = openSecret(ks, sealed, auditKeyAD(f.KeyedFrom))
	if err != nil {
		return nil, 0, fmt.Errorf("audit chain key %s: %w", path, err)
	}
	if len(key) != auditKeySize {
		return nil, 0, fmt.Errorf("audit chain key: %s holds %d bytes, want %d", path, len(key), auditKeySize)
	}
	return key, f.KeyedFrom, nil
}

// createAuditKey writes a new chain key keying records from keyedFrom on,
// sealed with kek, to path (mode 0600; its directory, if created, 0700).
// It fails with fs.ErrExist if the file exists: a chain key is never
// replaced.
func createAuditKey(path string, kek []byte, keyedFrom int64, now time.Time) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit chain key: %w", err)
	}
	key := make([]byte, auditKeySize)
	_, _ = rand.Read(key)
	b, err := sealAuditKey(key, kek, keyedFrom, now)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit chain key: %w", err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("audit chain key: %w", err)
	}
	return key, nil
}

// sealAuditKey returns the chain key file's content: key sealed with kek.
func sealAuditKey(key, kek []byte, keyedFrom int64, created time.Time) ([]byte, error) {
	sealed, err := keys.SealSecret(kek, key, auditKeyAD(keyedFrom))
	if err != nil {
		return nil, fmt.Errorf("audit chain key: %w", err)
	}
	b, err := json.MarshalIndent(auditKeyFile{Format: auditKeyFormat, KeyedFrom: keyedFrom, Created: created.UTC().Truncate(time.Second),
		Sealed: base64.StdEncoding.EncodeToString(sealed)}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// resealAuditKey seals the chain key file at path again with kek, for a
// rotated key-encryption key, so that the old one is no longer needed to
// open it. The key and the record it keys from stay; the file is replaced
// atomically (a new file renamed over it), so a crash leaves the old file
// or the new one, never a torn one.
func resealAuditKey(path string, key, kek []byte, keyedFrom int64, now time.Time) error {
	b, err := sealAuditKey(key, kek, keyedFrom, now)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-key-*")
	if err != nil {
		return fmt.Errorf("audit chain key: %w", err)
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr, os.Chmod(tmp.Name(), 0o600)); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("audit chain key: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("audit chain key: %w", err)
	}
	return nil
}

// auditKeyPath is audit.key_file, or state.dir/audit.key.
func (a *App) auditKeyPath() string {
	if f := a.cfg.Audit.KeyFile; f != "" {
		return a.cfg.Resolve(f)
	}
	return filepath.Join(a.cfg.State.Dir, "audit.key")
}

// auditHeadsPath is audit.heads.file, or state.dir/audit-heads.jsonl; ""
// when heads are off or kept in the log only.
func (a *App) auditHeadsPath() string {
	h := a.cfg.Audit.Heads
	switch {
	case h.InsecureDisable, h.File == "none":
		return ""
	case h.File != "":
		return a.cfg.Resolve(h.File)
	}
	return filepath.Join(a.cfg.State.Dir, "audit-heads.jsonl")
}

// auditKEKs are the key-encryption keys that open the chain key file, the
// one that seals first: the configured keyring, or
// state.dir/authserver.kek (created if create is set).
func (a *App) auditKEKs(create bool) ([][]byte, error) {
	if a.cfg.AuthServer.KeyEncryptionKey != nil || create {
		r, err := a.keyEncryptionKeys()
		if err != nil {
			return nil, err
		}
		_, opening := r.keys()
		return opening, nil
	}
	b, err := os.ReadFile(filepath.Join(a.cfg.State.Dir, "authserver.kek"))
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	k, err := keys.ParseKEK(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, err
	}
	return [][]byte{k}, nil
}

// auditChainKey returns the chain key and the first record it keys,
// creating the key on first start: it then keys the records after the
// chain's current head, and those before it (written unkeyed by an
// earlier version) stay verifiable as plain SHA-256. store is opened
// without a key.
func (a *App) auditChainKey(ctx context.Context, store *audit.Store) ([]byte, int64, error) {
	if ref := a.cfg.Audit.Key; ref != nil {
		key, err := a.auditKeyFromRef(ctx)
		if err != nil {
			return nil, 0, err
		}
		if _, err := store.CheckKey(ctx, key); err != nil {
			return nil, 0, fmt.Errorf("%w (chain key audit.key %s)", err, ref)
		}
		return key, 1, nil
	}
	path := a.auditKeyPath()
	keks := func() ([][]byte, error) { return a.auditKEKs(true) }
	key, keyedFrom, err := readAuditKey(path, keks)
	if err == nil {
		if _, err := store.CheckKey(ctx, key); err != nil {
			return nil, 0, fmt.Errorf("%w (chain key %s)", err, path)
		}
		a.resealAuditKeyOnRotation(path, key, keyedFrom)
		return key, keyedFrom, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, 0, err
	}
	head, err := store.CheckKey(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: the chain key %s is missing; restore it (a new key would leave the chain unverifiable)", err, path)
	}
	ks, err := keks()
	if err != nil {
		return nil, 0, err
	}
	key, err = createAuditKey(path, ks[0], head.Seq+1, a.now())
	if errors.Is(err, fs.ErrExist) {
		return readAuditKey(path, keks) // another process created it first
	}
	if err != nil {
		return nil, 0, err
	}
	a.log.Info("audit: created the chain key", "path", path, "keyed_from", head.Seq+1)
	a.resealAuditKeyOnRotation(path, key, head.Seq+1)
	return key, head.Seq + 1, nil
}

// resealAuditKeyOnRotation seals the chain key file again whenever the
// configured key-encryption key rotates: the file then opens with the new
// key alone.
func (a *App) resealAuditKeyOnRotation(path string, key []byte, keyedFrom int64) {
	if a.cfg.AuthServer.KeyEncryptionKey == nil || a.keks == nil {
		return
	}
	a.keks.onChange(func(current []byte, _ [][]byte) {
		if err := resealAuditKey(path, key, current, keyedFrom, a.now()); err != nil {
			a.log.Error("audit: the chain key file stays sealed with the previous key-encryption key", "path", path, "err", err)
			return
		}
		a.log.Info("audit: the chain key file is sealed with the rotated key-encryption key", "path", path)
	})
}

// AuditCommandOptions returns what "mcpfort audit" takes from the
// configuration: the chain key (read, never created) and the signed heads
// file to verify against.
func AuditCommandOptions(cfg *config.Config) (auditcmd.Options, error) {
	a := &App{cfg: cfg, getenv: os.Getenv}
	a.defaults()
	opts := auditcmd.Options{HeadsFile: a.auditHeadsPath()}
	if cfg.Audit.Key != nil {
		key, err := a.auditKeyFromRef(context.Background())
		if err != nil {
			return opts, err
		}
		opts.Key, opts.KeyedFrom = key, 1
		return opts, nil
	}
	key, keyedFrom, err := readAuditKey(a.auditKeyPath(), func() ([][]byte, error) { return a.auditKEKs(false) })
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return opts, nil
	case err != nil:
		return opts, err
	}
	opts.Key, opts.KeyedFrom = key, keyedFrom
	return opts, nil
}

// auditKeyFromRef reads the chain key from audit.key: a bare key, keying
// the chain from its first record, as a bare key file does. It is read at
// start only: a chain key is never replaced while records are written.
func (a *App) auditKeyFromRef(ctx context.Context) ([]byte, error) {
	ref := a.cfg.Audit.Key
	s, err := a.secret(ctx, "audit.key", *ref)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(s.Value())
	if err != nil {
		return nil, fmt.Errorf("audit.key: %s: %w", ref, err)
	}
	s.OnChange(func(_, _ secrets.Value) {
		a.log.Warn("audit.key changed; the chain key is never replaced while the process runs, and a start with another key fails unless the chain verifies with it", "ref", ref.String())
	})
	return key, nil
}
