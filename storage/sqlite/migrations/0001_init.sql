-- mcpfort authorization server schema, version 1 (SQLite).
-- Times are Unix milliseconds, 0 when unset. Digests are SHA-256.

CREATE TABLE clients (
	id TEXT PRIMARY KEY,
	source TEXT NOT NULL,
	secret_hash BLOB,
	registration_token_hash BLOB,
	metadata TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	last_used_at INTEGER NOT NULL DEFAULT 0,
	secret_expires_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX clients_stale ON clients (source, last_used_at, created_at);

CREATE TABLE users (
	id TEXT PRIMARY KEY,
	username TEXT UNIQUE,
	password_hash TEXT NOT NULL DEFAULT '',
	disabled BOOLEAN NOT NULL DEFAULT FALSE,
	issuer TEXT,
	subject TEXT,
	email TEXT NOT NULL DEFAULT '',
	name TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (issuer, subject)
);

CREATE TABLE consents (
	user_id TEXT NOT NULL,
	client_id TEXT NOT NULL,
	scopes TEXT NOT NULL,
	resources TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, client_id)
) WITHOUT ROWID;

CREATE TABLE auth_codes (
	hash BLOB PRIMARY KEY,
	client_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	redirect_uri TEXT NOT NULL,
	code_challenge TEXT NOT NULL,
	scopes TEXT NOT NULL,
	resources TEXT NOT NULL,
	auth_time INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at INTEGER NOT NULL DEFAULT 0,
	replayed BOOLEAN NOT NULL DEFAULT FALSE,
	family_id TEXT NOT NULL DEFAULT '',
	access_token_id TEXT NOT NULL DEFAULT '',
	access_expires INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

CREATE TABLE refresh_families (
	id TEXT PRIMARY KEY,
	client_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	scopes TEXT NOT NULL,
	resources TEXT NOT NULL,
	auth_time INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL DEFAULT 0,
	current_hash BLOB NOT NULL,
	rotated_at INTEGER NOT NULL,
	last_access_token_id TEXT NOT NULL DEFAULT '',
	last_access_expires INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refresh_families_user_client ON refresh_families (user_id, client_id);
CREATE INDEX refresh_families_expires ON refresh_families (expires_at);

CREATE TABLE refresh_tokens (
	hash BLOB PRIMARY KEY,
	family_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE token_marks (
	id TEXT PRIMARY KEY,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX token_marks_expires ON token_marks (expires_at);

CREATE TABLE signing_keys (
	id TEXT PRIMARY KEY,
	algorithm TEXT NOT NULL,
	generation INTEGER NOT NULL UNIQUE,
	private_key BLOB NOT NULL,
	public_jwk TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	active_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);

CREATE TABLE cimd_cache (
	url TEXT PRIMARY KEY,
	document BLOB NOT NULL,
	fetched_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX cimd_cache_expires ON cimd_cache (expires_at);
