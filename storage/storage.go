package storage

import (
	"context"
	"errors"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
)

// Errors returned by every backend. Callers test them with errors.Is.
var (
	// ErrNotFound: no such record.
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict: a record with the same unique key exists.
	ErrConflict = errors.New("storage: conflict")
	// ErrAlreadyUsed: a single-use value (authorization code, assertion
	// id) was presented a second time.
	ErrAlreadyUsed = errors.New("storage: already used")
	// ErrReused: a refresh token the family had already rotated away from
	// was presented; the family has been revoked.
	ErrReused = errors.New("storage: refresh token reused")
	// ErrRevoked: the refresh-token family is revoked.
	ErrRevoked = errors.New("storage: revoked")
	// ErrExpired: the refresh-token family is past its absolute lifetime.
	ErrExpired = errors.New("storage: expired")
)

// Client sources.
const (
	// ClientStatic is an operator-configured client.
	ClientStatic = "static"
	// ClientDynamic is registered through RFC 7591 dynamic registration.
	ClientDynamic = "dynamic"
)

// Client is a registered OAuth client. Clients identified by a client ID
// metadata document URL are not stored here (see CIMDCache).
type Client struct {
	ID     string
	Source string // ClientStatic or ClientDynamic
	// SecretHash is the SHA-256 digest of the client secret; nil for public
	// clients and private_key_jwt clients.
	SecretHash []byte
	// RegistrationTokenHash is the SHA-256 digest of the RFC 7592
	// registration access token; nil for static clients.
	RegistrationTokenHash []byte
	Metadata              oauth.ClientMetadata
	CreatedAt             time.Time
	UpdatedAt             time.Time
	// LastUsedAt is when the client last obtained a token, zero if never;
	// it drives the expiry of unused dynamic registrations.
	LastUsedAt      time.Time
	SecretExpiresAt time.Time // zero: never
}

// ClientStore persists registered clients.
type ClientStore interface {
	// CreateClient stores a new client; ErrConflict if the ID exists.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient returns the client or ErrNotFound.
	GetClient(ctx context.Context, id string) (*Client, error)
	// UpdateClient replaces the client's secret hash, registration token
	// hash, metadata, UpdatedAt and SecretExpiresAt; ErrNotFound if absent.
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient removes the client; ErrNotFound if absent.
	DeleteClient(ctx context.Context, id string) error
	// TouchClient sets LastUsedAt to at if it is older than at minus
	// granularity, so that hot clients cost no write per token.
	TouchClient(ctx context.Context, id string, at time.Time, granularity time.Duration) error
	// DeleteStaleClients removes dynamic clients that were created before
	// neverUsedBefore and never used, or last used before idleBefore (a
	// zero idleBefore disables that rule). It returns how many it removed.
	DeleteStaleClients(ctx context.Context, neverUsedBefore, idleBefore time.Time) (int, error)
}

// User is a person who can sign in: a local account with a password, or a
// federated identity from an upstream OpenID provider (Issuer, Subject).
type User struct {
	ID string
	// Username is unique among local users; empty for federated users.
	Username string
	// PasswordHash is a PHC-format argon2id hash; empty for federated users.
	PasswordHash string
	Disabled     bool
	// Issuer and Subject identify a federated user; the pair is unique.
	Issuer  string
	Subject string
	Email   string
	Name    string
	// Groups the user belongs to: set by the operator for local users,
	// taken from the identity provider's claim for federated ones. Scopes
	// beyond a resource's base scopes are granted by group.
	Groups    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// UserStore persists users.
type UserStore interface {
	// CreateUser stores a new user; ErrConflict on a duplicate ID, username
	// or (issuer, subject).
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	GetUserBySubject(ctx context.Context, issuer, subject string) (*User, error)
	// UpdateUser replaces the password hash, disabled flag, email, name,
	// groups and UpdatedAt; ErrNotFound if absent.
	UpdateUser(ctx context.Context, u *User) error
	// ListUsers returns up to limit users ordered by ID, starting after the
	// given ID ("" for the first page).
	ListUsers(ctx context.Context, afterID string, limit int) ([]*User, error)
}

// Consent records what a user allowed a client: consent is per user per
// client and remembered until revoked.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	Resources []string
	// RedirectURIs are the loopback redirect URIs, port included, the user
	// allowed a public client to use.
	RedirectURIs []string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ConsentStore persists consents.
type ConsentStore interface {
	// PutConsent creates or replaces the consent of (UserID, ClientID).
	PutConsent(ctx context.Context, c *Consent) error
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	// ListConsents returns the user's consents ordered by client ID.
	ListConsents(ctx context.Context, userID string) ([]*Consent, error)
	// DeleteConsent removes the consent; ErrNotFound if absent.
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// AuthCode is an issued authorization code, keyed by the SHA-256 digest of
// the code.
type AuthCode struct {
	Hash          []byte
	ClientID      string
	UserID        string
	RedirectURI   string // as sent in the authorization request
	CodeChallenge string // S256
	Scopes        []string
	Resources     []string
	AuthTime      time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time
	// UsedAt is when the code was redeemed; zero until then.
	UsedAt time.Time
	// FamilyID and AccessTokenID record what the redemption issued so
	// that a replay can revoke it (OAuth 2.1 section 4.1.3).
	FamilyID      string
	AccessTokenID string
	AccessExpires time.Time
	// Nonce is the OpenID Connect nonce of the authorization request.
	Nonce string
}

// CodeStore persists authorization codes.
type CodeStore interface {
	CreateCode(ctx context.Context, c *AuthCode) error
	// ConsumeCode marks the code used at time at and returns it. If it had
	// been used already it marks it replayed and returns the stored code
	// with ErrAlreadyUsed. ErrNotFound if unknown. Expiry is the caller's
	// to check.
	ConsumeCode(ctx context.Context, hash []byte, at time.Time) (*AuthCode, error)
	// IssueFromCode records, in one transaction, what redeeming the code
	// issues: the access token id and expiry and, if family is not nil,
	// the new refresh-token family, which it creates. If the code was
	// replayed since ConsumeCode it changes nothing and returns
	// ErrAlreadyUsed; ErrNotFound if the code is unknown. Recording before
	// the token is handed out means a later replay always finds, and can
	// revoke, what the code issued.
	IssueFromCode(ctx context.Context, hash []byte, family *RefreshFamily, accessTokenID string, accessExpires time.Time) error
	// DeleteExpiredCodes removes codes that expired before the given time.
	DeleteExpiredCodes(ctx context.Context, before time.Time) (int, error)
}

// RefreshFamily is the chain of refresh tokens descending from one grant.
// Only CurrentHash is valid; presenting an older token of the chain
// revokes the family (OAuth 2.1 section 4.3.1).
type RefreshFamily struct {
	ID          string
	ClientID    string
	UserID      string // empty for grants without a user
	Scopes      []string
	Resources   []string
	AuthTime    time.Time
	CreatedAt   time.Time
	ExpiresAt   time.Time // absolute end of the family
	RevokedAt   time.Time // zero unless revoked
	CurrentHash []byte
	RotatedAt   time.Time
	// LastAccessTokenID and LastAccessExpires name the newest access token
	// issued from the family, denied when the family is revoked.
	LastAccessTokenID string
	LastAccessExpires time.Time
}

// Rotation is one refresh-token rotation.
type Rotation struct {
	OldHash, NewHash []byte
	ClientID         string
	AccessTokenID    string
	AccessExpires    time.Time
	At               time.Time
}

// RefreshStore persists refresh-token families.
type RefreshStore interface {
	// CreateFamily stores a new family whose current token is CurrentHash.
	CreateFamily(ctx context.Context, f *RefreshFamily) error
	// RotateRefreshToken atomically replaces the family's current token
	// r.OldHash by r.NewHash and returns the updated family. Errors:
	// ErrNotFound if r.OldHash is unknown or belongs to another client;
	// ErrRevoked or ErrExpired (nothing changed) if the family is; ErrReused
	// if r.OldHash was rotated away from before: the family is then revoked
	// and returned along with the error.
	RotateRefreshToken(ctx context.Context, r Rotation) (*RefreshFamily, error)
	// GetFamilyByToken returns the family a refresh token belongs to, and
	// whether it is the family's current token.
	GetFamilyByToken(ctx context.Context, hash []byte) (f *RefreshFamily, current bool, err error)
	GetFamily(ctx context.Context, id string) (*RefreshFamily, error)
	// RevokeFamily marks the family revoked (idempotent).
	RevokeFamily(ctx context.Context, id string, at time.Time) error
	// RevokeFamilies revokes every live family of (userID, clientID) and
	// returns them as they were before revocation.
	RevokeFamilies(ctx context.Context, userID, clientID string, at time.Time) ([]*RefreshFamily, error)
	// DeleteExpiredFamilies removes families (and their token history)
	// that expired before the given time.
	DeleteExpiredFamilies(ctx context.Context, before time.Time) (int, error)
}

// TokenStore records token identifiers: access tokens revoked before
// their expiry, and single-use identifiers such as client assertion "jti"
// values (RFC 7523 section 3).
type TokenStore interface {
	// DenyAccessToken records that the access token with this jti is
	// revoked until it expires.
	DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error
	// AccessTokenDenied reports whether the jti was denied.
	AccessTokenDenied(ctx context.Context, jti string) (bool, error)
	// UseOnce records id as used until expiresAt; ErrAlreadyUsed if it was.
	UseOnce(ctx context.Context, id string, expiresAt time.Time) error
	// DeleteExpiredTokens forgets entries that expired before the time.
	DeleteExpiredTokens(ctx context.Context, before time.Time) (int, error)
}

// SigningKey is a token-signing key pair. The private key is sealed by the
// keys package; the store sees only ciphertext.
type SigningKey struct {
	ID        string // JWK "kid"
	Algorithm string // JWS "alg"
	// Generation orders keys and guards rotation: creating a key whose
	// generation exists fails with ErrConflict, so replicas racing to
	// rotate agree on one winner.
	Generation           int64
	PrivateKeyCiphertext []byte
	PublicJWK            []byte // JSON, public members only
	CreatedAt            time.Time
	ActiveAt             time.Time // signs from this time
	ExpiresAt            time.Time // removed from the JWKS after this time
}

// KeyStore persists signing keys.
type KeyStore interface {
	// ListSigningKeys returns all keys ordered by generation.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// CreateSigningKey stores a key; ErrConflict if its ID or generation
	// exists.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	DeleteSigningKey(ctx context.Context, id string) error
}

// CIMDEntry is a cached client ID metadata document.
type CIMDEntry struct {
	URL       string
	Document  []byte
	FetchedAt time.Time
	ExpiresAt time.Time
}

// CIMDCache persists fetched client ID metadata documents. Only valid
// documents are ever put; errors are never cached.
type CIMDCache interface {
	GetCIMD(ctx context.Context, url string) (*CIMDEntry, error)
	// PutCIMD creates or replaces the entry for e.URL.
	PutCIMD(ctx context.Context, e *CIMDEntry) error
	DeleteCIMD(ctx context.Context, url string) error
	DeleteExpiredCIMD(ctx context.Context, before time.Time) (int, error)
}

// Store is everything the authorization server persists. Implementations
// are safe for concurrent use by multiple goroutines and, for shared
// databases, by multiple processes.
type Store interface {
	ClientStore
	UserStore
	ConsentStore
	CodeStore
	RefreshStore
	TokenStore
	KeyStore
	CIMDCache
	// Ping checks that the backend is reachable.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}
