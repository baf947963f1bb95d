package session

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpfort/mcpfort/internal/seal"
)

// State is what a session id carries.
type State struct {
	// ID is the session's random nonce: unique per session, used for the
	// denylist, event ids and the stdio pool key.
	ID [16]byte
	// Created and Expires bound the session's life (second precision).
	Created, Expires time.Time
	// Route names the gateway route the session belongs to; a session id
	// presented on another route is unknown there.
	Route string
	// Principal binds the session to the authenticated principal (a hash of
	// issuer and subject; zero for unauthenticated routes). A session id
	// presented with another principal's token is not found.
	Principal [16]byte
	// Version is the negotiated protocol version.
	Version string
	// Mode is the bridging mode the route chose at initialize.
	Mode Mode
	// UpstreamSession is the upstream server's own Mcp-Session-Id, if any.
	UpstreamSession string
	// Owner names the replica that owns the session's stdio process.
	Owner string
	// ClientCapabilities and ClientInfo are the raw JSON the client sent in
	// initialize, kept when the upstream is stateless (2026-07-28) and needs
	// them injected into every request's _meta.
	ClientCapabilities []byte
	ClientInfo         []byte
}

// Mode says how a legacy session reaches its upstream.
type Mode uint8

// Modes.
const (
	ModePassthrough Mode = iota // legacy upstream: the session maps onto an upstream session
	ModeToModern                // stateless upstream: the gateway injects _meta per request
)

const (
	formatV1  = 1
	maxString = 4096
	// MaxIDLength is the longest session id Open accepts.
	MaxIDLength = 8192
)

var (
	// ErrInvalid reports a session id that is malformed, forged, sealed
	// with an unknown key, or otherwise unusable.
	ErrInvalid = errors.New("session: invalid session id")
	// ErrExpired reports a session past its expiry.
	ErrExpired = errors.New("session: expired")
)

// Keyring seals with its newest key and opens with any of its keys.
// It is safe for concurrent use; keys are derived when the keyring is
// built or replaced (Replace), never per call.
type Keyring struct {
	keys atomic.Pointer[keys]
}

type keys struct {
	seal *seal.Keys // session ids and SealData, with a key id byte
	macs [][]byte   // replica forwarding keys (ReplicaKeys)
	// opened remembers ids these keys opened, so that a client's every
	// request in a session does not decode and decrypt the same id again.
	// It goes with the keys: an id the new keys would not open is never
	// served from it after Replace.
	opened openedCache
}

// openedCache maps session ids, exactly as presented, to what they
// decrypted to: one id is one ciphertext under one set of keys, so it
// always opens to the same state. A lookup compares the presented id with
// cached ones only after a match of its hash, whose seed is random per
// process. Bounded: when full it starts over.
type openedCache struct {
	mu sync.Mutex
	m  map[string]*State
}

// maxOpened bounds the cache: about 1,024 x 0.5 KiB at most.
const maxOpened = 1024

func (c *openedCache) get(id string) *State {
	c.mu.Lock()
	st := c.m[id]
	c.mu.Unlock()
	return st
}

func (c *openedCache) put(id string, st *State) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxOpened {
		c.m = make(map[string]*State, 64)
	}
	c.m[id] = st
	c.mu.Unlock()
}

// NewKeyring derives one AES-256-GCM key from each secret (newest first)
// with HKDF-SHA256 (internal/seal). Secrets must be at least 32 bytes of
// high entropy.
func NewKeyring(secrets ...[]byte) (*Keyring, error) {
	ks, err := deriveKeys(secrets)
	if err != nil {
		return nil, err
	}
	k := &Keyring{}
	k.keys.Store(ks)
	return k, nil
}

// Replace swaps in new secrets (newest first) for every later Seal and
// Open, as when a configured secret rotates: the caller keeps the older
// secrets in the list for as long as sessions sealed with them must
// still open. On error the keyring is unchanged.
func (k *Keyring) Replace(secrets ...[]byte) error {
	ks, err := deriveKeys(secrets)
	if err != nil {
		return err
	}
	k.keys.Store(ks)
	return nil
}

func deriveKeys(secrets [][]byte) (*keys, error) {
	if len(secrets) == 0 {
		return nil, errors.New("session: keyring needs at least one secret")
	}
	kr := &keys{}
	for i, s := range secrets {
		if len(s) < seal.MinSecret {
			return nil, fmt.Errorf("session: secret %d is %d bytes, want at least %d", i, len(s), seal.MinSecret)
		}
		mac, err := hkdf.Key(sha256.New, s, nil, "mcpfort replica forwarding v1", 32)
		if err != nil {
			return nil, err
		}
		kr.macs = append(kr.macs, mac)
	}
	var err error
	if kr.seal, err = seal.New(seal.Options{Info: "mcpfort session id v1", KeyID: true}, secrets...); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return kr, nil
}

// ReplicaKeys returns the HMAC keys with which replicas sharing these
// secrets authenticate the requests they forward to each other, one per
// secret (HKDF-SHA256, its own info string), the newest first: the first
// marks, any verifies. They follow Replace, as sealing does.
func (k *Keyring) ReplicaKeys() [][]byte { return k.keys.Load().macs }

// GenerateSecret returns 32 random bytes for a keyring of one replica.
func GenerateSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

var additionalData = []byte("mcpfort-session")

// Seal encodes st into a session id.
func (k *Keyring) Seal(st *State) (string, error) {
	plain, err := st.marshal()
	if err != nil {
		return "", err
	}
	return k.keys.Load().seal.Seal(additionalData, plain)
}

// Open decodes a session id. It does not consult the denylist and does not
// check the route or principal; callers do.
func (k *Keyring) Open(id string, now time.Time) (*State, error) {
	if len(id) == 0 || len(id) > MaxIDLength {
		return nil, ErrInvalid
	}
	ks := k.keys.Load()
	cached := ks.opened.get(id)
	if cached == nil {
		var err error
		if cached, err = ks.open(id); err != nil {
			return nil, err
		}
		ks.opened.put(id, cached)
	}
	st := *cached // callers may change their copy
	if !now.Before(st.Expires) {
		return &st, ErrExpired
	}
	return &st, nil
}

// open decrypts and decodes a session id.
func (ks *keys) open(id string) (*State, error) {
	plain, err := ks.seal.Open(additionalData, id)
	if err != nil {
		return nil, ErrInvalid
	}
	st, err := unmarshal(plain)
	if err != nil {
		return nil, ErrInvalid
	}
	return st, nil
}

func (st *State) marshal() ([]byte, error) {
	for _, s := range [][]byte{[]byte(st.Route), []byte(st.Version), []byte(st.UpstreamSession), []byte(st.Owner), st.ClientCapabilities, st.ClientInfo} {
		if len(s) > maxString {
			return nil, fmt.Errorf("session: field of %d bytes is too long to seal", len(s))
		}
	}
	b := make([]byte, 0, 64+len(st.Route)+len(st.UpstreamSession)+len(st.ClientCapabilities)+len(st.ClientInfo))
	b = append(b, formatV1)
	b = append(b, st.ID[:]...)
	b = binary.AppendVarint(b, st.Created.Unix())
	b = binary.AppendVarint(b, st.Expires.Unix())
	b = append(b, st.Principal[:]...)
	b = append(b, byte(st.Mode))
	for _, s := range [][]byte{[]byte(st.Route), []byte(st.Version), []byte(st.UpstreamSession), []byte(st.Owner), st.ClientCapabilities, st.ClientInfo} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b, nil
}

var errMalformed = errors.New("malformed session record")

func unmarshal(b []byte) (*State, error) {
	bad := errMalformed
	if len(b) < 1+16 || b[0] != formatV1 {
		return nil, bad
	}
	st := &State{}
	b = b[1:]
	copy(st.ID[:], b[:16])
	b = b[16:]
	created, n := binary.Varint(b)
	if n <= 0 {
		return nil, bad
	}
	b = b[n:]
	expires, n := binary.Varint(b)
	if n <= 0 {
		return nil, bad
	}
	b = b[n:]
	st.Created, st.Expires = time.Unix(created, 0), time.Unix(expires, 0)
	if len(b) < 17 {
		return nil, bad
	}
	copy(st.Principal[:], b[:16])
	st.Mode = Mode(b[16])
	b = b[17:]
	var fields [6][]byte
	for i := range fields {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > maxString || uint64(len(b)-n) < l {
			return nil, bad
		}
		fields[i] = b[n : n+int(l)]
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return nil, bad
	}
	st.Route, st.Version, st.UpstreamSession, st.Owner = string(fields[0]), string(fields[1]), string(fields[2]), string(fields[3])
	if len(fields[4]) > 0 {
		st.ClientCapabilities = fields[4]
	}
	if len(fields[5]) > 0 {
		st.ClientInfo = fields[5]
	}
	return st, nil
}

// NewID returns a random session nonce.
func NewID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return id
}

// SealData seals an opaque value with the keys of session ids, for
// purpose: the AEAD's additional data names it, so that a value sealed for
// one purpose opens for no other, and never as a session id (whose
// additional data is another).
func (k *Keyring) SealData(purpose string, plain []byte) (string, error) {
	return k.keys.Load().seal.Seal(dataAD(purpose), plain)
}

// OpenData opens a value SealData sealed for the same purpose.
func (k *Keyring) OpenData(purpose, sealed string) ([]byte, error) {
	if len(sealed) == 0 || len(sealed) > MaxIDLength {
		return nil, ErrInvalid
	}
	p, err := k.keys.Load().seal.Open(dataAD(purpose), sealed)
	if err != nil {
		return nil, ErrInvalid
	}
	return p, nil
}

func dataAD(purpose string) []byte { return []byte("mcpfort-data:" + purpose) }
