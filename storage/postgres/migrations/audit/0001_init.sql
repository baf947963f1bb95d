-- One row per decision. record is the RFC 8785 canonical JSON of every
-- field (seq, time and the previous record's hash included) and hash its
-- SHA-256 (or HMAC-SHA256 under the chain key): the hash covers exactly the
-- stored bytes. seq and time_us repeat the record's own values for ordering
-- and selection; seq is contiguous from 1.
CREATE TABLE audit_records (
	seq     BIGINT PRIMARY KEY,
	time_us BIGINT NOT NULL,
	record  TEXT NOT NULL,
	hash    TEXT NOT NULL
);
CREATE INDEX audit_records_time ON audit_records (time_us);

-- The chain head, locked FOR UPDATE by each append so that replicas append
-- one after another; a removed tail leaves it pointing past the last record.
CREATE TABLE audit_head (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	seq        BIGINT NOT NULL,
	hash       TEXT NOT NULL,
	updated_us BIGINT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, updated_us) VALUES (1, 0, '', 0);

-- Append-only, as a guard against mistakes; whoever can drop a trigger can
-- still edit rows, which is what the hash chain is for.
CREATE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_records is append-only';
END
$$;
CREATE TRIGGER audit_records_no_change BEFORE UPDATE OR DELETE ON audit_records
	FOR EACH ROW EXECUTE FUNCTION audit_records_append_only();
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
	FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only();
