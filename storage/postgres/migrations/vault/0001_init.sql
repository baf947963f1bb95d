-- The token vault: one grant per user and route, its tokens sealed.
CREATE TABLE vault_grants (
	user_key    TEXT NOT NULL,
	route       TEXT NOT NULL,
	issuer      TEXT NOT NULL,
	subject     TEXT NOT NULL,
	sealed      BYTEA NOT NULL,
	expires_at  BIGINT NOT NULL,
	version     BIGINT NOT NULL,
	lease_until BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	PRIMARY KEY (user_key, route)
);
CREATE INDEX vault_grants_subject ON vault_grants (subject);
