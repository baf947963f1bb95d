-- One row per decision, hash-chained: hash covers every other column,
-- prev_hash included. seq is contiguous from 1.
CREATE TABLE audit_records (
	seq        BIGINT PRIMARY KEY,
	time_us    BIGINT NOT NULL,
	request_id TEXT NOT NULL,
	rpc_id     TEXT NOT NULL,
	issuer     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	client     TEXT NOT NULL,
	server     TEXT NOT NULL,
	method     TEXT NOT NULL,
	tool       TEXT NOT NULL,
	args_hash  TEXT NOT NULL,
	decision   TEXT NOT NULL,
	reason     TEXT NOT NULL,
	status     TEXT NOT NULL,
	error_code BIGINT NOT NULL,
	latency_us BIGINT NOT NULL,
	arguments  TEXT NOT NULL,
	result     TEXT NOT NULL,
	prev_hash  TEXT NOT NULL,
	hash       TEXT NOT NULL
);
CREATE INDEX audit_records_time ON audit_records (time_us);

-- The chain head, updated in the transaction that appends: a removed tail
-- leaves the head pointing past the last record.
CREATE TABLE audit_head (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	seq        BIGINT NOT NULL,
	hash       TEXT NOT NULL,
	updated_us BIGINT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, updated_us) VALUES (1, 0, '', 0);

-- Append-only, as a guard against mistakes; whoever can drop a trigger can
-- still edit rows, which is what the hash chain is for.
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
