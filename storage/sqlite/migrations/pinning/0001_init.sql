-- Approved tool definitions: one per server and tool name.
CREATE TABLE pinning_pins (
	server      TEXT NOT NULL,
	tool        TEXT NOT NULL,
	hash        TEXT NOT NULL,
	definition  BLOB,
	approved_at BIGINT NOT NULL,
	approved_by TEXT NOT NULL,
	PRIMARY KEY (server, tool)
);

-- Definitions seen upstream and not approved: new, renamed or changed tools.
CREATE TABLE pinning_candidates (
	server     TEXT NOT NULL,
	tool       TEXT NOT NULL,
	hash       TEXT NOT NULL,
	definition BLOB NOT NULL,
	findings   TEXT NOT NULL,
	first_seen BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL,
	PRIMARY KEY (server, tool, hash)
);

-- Servers whose first tool list was trusted (trust on first use happens once).
CREATE TABLE pinning_servers (
	server          TEXT PRIMARY KEY,
	bootstrapped_at BIGINT NOT NULL
);

-- Every approval and revocation, for the record.
CREATE TABLE pinning_history (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	server      TEXT NOT NULL,
	tool        TEXT NOT NULL,
	hash        TEXT NOT NULL,
	action      TEXT NOT NULL,
	actor       TEXT NOT NULL,
	at          BIGINT NOT NULL
);
