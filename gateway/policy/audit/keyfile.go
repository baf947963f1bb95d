package audit

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
)

// ReadKeyFile reads a chain key: the file's bytes, surrounding whitespace
// trimmed, at least 32 of them. The file should be readable by the
// gateway's user only.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: chain key: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < 32 {
		return nil, errors.New("audit: chain key file holds fewer than 32 bytes")
	}
	return b, nil
}

// CreateKeyFile writes a new random chain key (64 hex characters) to path,
// readable by its owner only, and fails if the file exists: a chain key is
// never replaced, or the records it keyed can no longer be verified.
func CreateKeyFile(path string) ([]byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	key := fmt.Appendf(nil, "%x", raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: chain key: %w", err)
	}
	if _, err := f.Write(append(key, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: chain key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("audit: chain key: %w", err)
	}
	return key, nil
}
