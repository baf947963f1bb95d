-- seq becomes the table's rowid (INTEGER PRIMARY KEY). Declared BIGINT
-- PRIMARY KEY, it left the rows keyed by a hidden rowid and seq in an
-- index of its own (sqlite_autoindex_audit_records_1): a second b-tree
-- that every append wrote a row and a page to. The rows are copied as they
-- are (the hash covers record, which does not change), in seq order;
-- seq stays unique, and lookups and ranges by seq read the table itself.
DROP TRIGGER audit_records_no_update;
DROP TRIGGER audit_records_no_delete;
CREATE TABLE audit_records_by_seq (
	seq        INTEGER PRIMARY KEY,
	time_us    BIGINT NOT NULL,
	record     TEXT NOT NULL,
	hash       TEXT NOT NULL,
	answer_key TEXT
);
INSERT INTO audit_records_by_seq (seq, time_us, record, hash, answer_key)
	SELECT seq, time_us, record, hash, answer_key FROM audit_records ORDER BY seq;
DROP TABLE audit_records;
ALTER TABLE audit_records_by_seq RENAME TO audit_records;
CREATE INDEX audit_records_time ON audit_records (time_us);
CREATE UNIQUE INDEX audit_records_answer_key ON audit_records (answer_key) WHERE answer_key IS NOT NULL;

-- Append-only, as a guard against mistakes; whoever can drop a trigger can
-- still edit rows, which is what the hash chain is for.
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
