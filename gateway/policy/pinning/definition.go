package pinning

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/mcpfort/mcpfort/gateway/policy/internal/jcs"
	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// pinnedMembers are the members of a Tool (2025-11-25 and 2026-07-28
// server/tools "Tool") that reach the model or decide how a call is made.
// Icons, _meta and execution hints are not pinned: they change what a user
// interface shows, not what the model reads.
var pinnedMembers = []string{"name", "title", "description", "inputSchema", "outputSchema", "annotations"}

// HashPrefix starts every definition hash.
const HashPrefix = "sha256:"

// Definition is one tool definition as the policy pins it.
type Definition struct {
	// Name is the tool's name.
	Name string
	// Canonical is the RFC 8785 canonical JSON of the pinned members.
	Canonical []byte
	// Hash is HashPrefix and the hex SHA-256 of Canonical.
	Hash string
}

// ErrDefinition reports a tool definition that cannot be pinned: not an
// object, no string name, or not canonicalisable (RFC 8785 requires I-JSON).
var ErrDefinition = errors.New("pinning: tool definition cannot be pinned")

// Canonicalize returns the pinned form of one tool object from a tools/list
// result.
func Canonicalize(tool []byte) (Definition, error) {
	if err := jsonx.Validate(tool, 0); err != nil || !jsonx.IsObject(tool) {
		return Definition{}, fmt.Errorf("%w: not a JSON object", ErrDefinition)
	}
	nameRaw, ok := jsonx.Get(tool, "name")
	name, isStr := jsonx.String(nameRaw)
	if !ok || !isStr || name == "" {
		return Definition{}, fmt.Errorf("%w: no name", ErrDefinition)
	}
	obj := []byte(`{}`)
	for _, k := range pinnedMembers {
		if v, ok := jsonx.Get(tool, k); ok {
			var err error
			if obj, err = jsonx.Set(obj, k, v); err != nil {
				return Definition{}, fmt.Errorf("%w: %v", ErrDefinition, err)
			}
		}
	}
	canon, err := jcs.Canonicalize(obj)
	if err != nil {
		return Definition{}, fmt.Errorf("%w: %v", ErrDefinition, err)
	}
	return Definition{Name: name, Canonical: canon, Hash: hashOf(canon)}, nil
}

func hashOf(canon []byte) string {
	sum := sha256.Sum256(canon)
	return HashPrefix + hex.EncodeToString(sum[:])
}

// bodyHash hashes a canonical definition without its name, so that a
// renamed tool can be recognised (and reported) as the same definition.
func bodyHash(canon []byte) string {
	without, err := jsonx.Delete(canon, "name")
	if err != nil {
		return ""
	}
	c, err := jcs.Canonicalize(without)
	if err != nil {
		return ""
	}
	return hashOf(c)
}

// validHash reports whether h is HashPrefix and 64 lowercase hex digits.
func validHash(h string) bool {
	hexPart, ok := strings.CutPrefix(h, HashPrefix)
	if !ok || len(hexPart) != 64 {
		return false
	}
	for i := 0; i < len(hexPart); i++ {
		c := hexPart[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
