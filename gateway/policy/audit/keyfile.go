package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// ReadKeyFile reads a bare chain key: the file's bytes, surrounding
// whitespace trimmed, at least 32 of them. The file should be readable by
// the gateway's user only. (The gateway creates its key sealed with the
// key-encryption key; a bare key is what operators provided before.)
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
