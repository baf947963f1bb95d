package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// SignedHead is a chain head kept outside the database: the sequence
// number and hash of a record, when the head was taken, and an Ed25519
// signature over them by the head-signing key, which is derived from the
// chain key. Someone who can write the database but not read the chain
// key cannot forge one, so a chain rewritten (even with every hash
// recomputed) or cut short before a head no longer matches it.
//
// Heads are signed rather than MACed so that they can be checked with the
// public key alone (HeadPublicKey, printed by "mcpfort audit head"): an
// auditor or a log pipeline can verify them without holding a secret that
// would let it forge them.
type SignedHead struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
	// KeyID names the head-signing key (KeyID of its public key).
	KeyID string `json:"key_id"`
	// Sig is the base64url Ed25519 signature of headMessage.
	Sig string `json:"sig"`
	// Line is the line of the file the head was read from (ReadHeads).
	Line int `json:"-"`
}

// headMessage is what a head's signature covers. The context string keeps
// the signature from meaning anything else.
func headMessage(seq int64, hash string, t time.Time) []byte {
	return fmt.Appendf(nil, "mcpfort audit chain head v1\nseq=%d\nhash=%s\ntime_us=%d\n", seq, hash, t.UnixMicro())
}

// headSigningKey derives the head-signing key from the chain key (HKDF-
// SHA256, RFC 5869), so that there is one secret to keep.
func headSigningKey(chainKey []byte) (ed25519.PrivateKey, error) {
	seed, err := hkdf.Key(sha256.New, chainKey, nil, "mcpfort audit head signing key v1", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// HeadPublicKey returns the public key that verifies heads signed under
// the chain key.
func HeadPublicKey(chainKey []byte) (ed25519.PublicKey, error) {
	priv, err := headSigningKey(chainKey)
	if err != nil {
		return nil, err
	}
	return priv.Public().(ed25519.PublicKey), nil
}

// KeyID names a head-signing public key: the first 16 bytes of its
// SHA-256, base64url.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// ParsePublicKey reads a head-signing public key as HeadsWriter.PublicKey
// prints it (base64url).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("audit: a head public key is 32 bytes, base64url")
	}
	return ed25519.PublicKey(b), nil
}

// check verifies the head's signature under pub.
func (h *SignedHead) check(pub ed25519.PublicKey) error {
	if h.KeyID != KeyID(pub) {
		return fmt.Errorf("it is signed by key %s, not by this chain's key %s", h.KeyID, KeyID(pub))
	}
	sig, err := base64.RawURLEncoding.DecodeString(h.Sig)
	if err != nil || !ed25519.Verify(pub, headMessage(h.Seq, h.Hash, h.Time), sig) {
		return errors.New("its signature does not verify: it was not written by the audit log")
	}
	return nil
}

// HeadsOptions configures OpenHeads.
type HeadsOptions struct {
	// Key is the chain key the heads are signed under. Required.
	Key []byte
	// File receives one head per line (JSON Lines), appended; it is
	// created readable by its owner only, in a directory only its owner
	// can list. "" writes no file.
	File string
	// Logger, if set, receives each head too (an Info line with the same
	// fields), for a copy kept wherever operational logs go.
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// HeadsWriter signs chain heads and writes them outside the database. It
// is safe for concurrent use.
type HeadsWriter struct {
	priv  ed25519.PrivateKey
	keyID string
	log   *slog.Logger
	now   func() time.Time

	mu   sync.Mutex
	file *os.File
	last int64
}

// OpenHeads opens (creating) the heads file. A line left incomplete by a
// crash is cut off first: it cannot hold a head, and a verifier would
// refuse it. Heads at or before the last one in the file are not written
// again.
func OpenHeads(opts HeadsOptions) (*HeadsWriter, error) {
	if len(opts.Key) < 32 {
		return nil, errors.New("audit: heads: the chain key is required")
	}
	priv, err := headSigningKey(opts.Key)
	if err != nil {
		return nil, fmt.Errorf("audit: heads: %w", err)
	}
	w := &HeadsWriter{priv: priv, keyID: KeyID(priv.Public().(ed25519.PublicKey)), log: opts.Logger, now: opts.Now}
	if w.now == nil {
		w.now = time.Now
	}
	if opts.File != "" {
		if err := os.MkdirAll(filepath.Dir(opts.File), 0o700); err != nil {
			return nil, fmt.Errorf("audit: heads: %w", err)
		}
		f, err := os.OpenFile(opts.File, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit: heads: %w", err)
		}
		if w.last, err = cutPartialLine(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: heads: %s: %w", opts.File, err)
		}
		w.file = f
	}
	return w, nil
}

// cutPartialLine truncates f after its last newline, and returns the
// sequence number of the last head in it (0 if none), so that a restart
// without new records does not repeat it.
func cutPartialLine(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return 0, err
	}
	n := min(st.Size(), 64<<10)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, st.Size()-n); err != nil {
		return 0, err
	}
	if buf[n-1] != '\n' {
		cut := bytes.LastIndexByte(buf, '\n') + 1
		if err := f.Truncate(st.Size() - n + int64(cut)); err != nil {
			return 0, err
		}
		buf = buf[:cut]
	}
	lines := bytes.Split(bytes.TrimRight(buf, "\n"), []byte("\n"))
	if h, err := parseHead(lines[len(lines)-1]); err == nil {
		return h.Seq, nil
	}
	return 0, nil
}

// PublicKey returns the head-signing public key, base64url.
func (w *HeadsWriter) PublicKey() string {
	return base64.RawURLEncoding.EncodeToString(w.priv.Public().(ed25519.PublicKey))
}

// WriteHead signs h and appends it to the file (synced) and the log. A
// head at or before the last one written is skipped: nothing moved.
func (w *HeadsWriter) WriteHead(h Head) error {
	if h.Seq <= 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if h.Seq <= w.last {
		return nil
	}
	now := w.now().UTC().Truncate(time.Microsecond)
	sh := SignedHead{Seq: h.Seq, Hash: h.Hash, Time: now, KeyID: w.keyID,
		Sig: base64.RawURLEncoding.EncodeToString(ed25519.Sign(w.priv, headMessage(h.Seq, h.Hash, now)))}
	if w.file != nil {
		line, err := json.Marshal(sh)
		if err != nil {
			return err
		}
		// One write per line: appends from one process never interleave.
		if _, err := w.file.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("audit: write head: %w", err)
		}
		if err := w.file.Sync(); err != nil {
			return fmt.Errorf("audit: write head: %w", err)
		}
	}
	if w.log != nil {
		w.log.LogAttrs(context.Background(), slog.LevelInfo, "audit: chain head", slog.Int64("seq", sh.Seq), slog.String("hash", sh.Hash),
			slog.Time("head_time", sh.Time), slog.String("key_id", sh.KeyID), slog.String("sig", sh.Sig))
	}
	w.last = h.Seq
	return nil
}

// Close closes the file.
func (w *HeadsWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.file == nil {
		return nil
	}
	err := w.file.Close()
	w.file = nil
	return err
}

// maxHeadLine bounds one line of a heads file.
const maxHeadLine = 4 << 10

// ReadHeads reads signed heads, one JSON object per line (blank lines are
// skipped). Any other line is an error naming it: a heads file that does
// not parse is not trusted in part.
func ReadHeads(r io.Reader) ([]SignedHead, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), maxHeadLine)
	var out []SignedHead
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		h, err := parseHead(line)
		if err != nil {
			return nil, fmt.Errorf("line %d is not a signed head: %w", n, err)
		}
		h.Line = n
		out = append(out, h)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", len(out)+1, err)
	}
	return out, nil
}

// parseHead reads one head strictly: every member present, no others.
func parseHead(line []byte) (SignedHead, error) {
	var h SignedHead
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, err
	}
	if dec.More() {
		return h, errors.New("trailing data")
	}
	switch {
	case h.Seq <= 0:
		return h, errors.New("seq must be positive")
	case h.Hash == "", h.KeyID == "", h.Sig == "", h.Time.IsZero():
		return h, errors.New("hash, time, key_id and sig are required")
	}
	return h, nil
}

// ReadHeadsFile reads the heads file at path.
func ReadHeadsFile(path string) ([]SignedHead, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit: heads: %w", err)
	}
	defer f.Close()
	hs, err := ReadHeads(f)
	if err != nil {
		return nil, fmt.Errorf("audit: heads file %s: %w", path, err)
	}
	return hs, nil
}

// label names a head in messages.
func (h *SignedHead) label() string {
	s := "the signed head of " + h.Time.UTC().Format(time.RFC3339)
	if h.Line > 0 {
		s += " (heads line " + strconv.Itoa(h.Line) + ")"
	}
	return s
}
