-- Only the rows that have an answer key are indexed by it: most rows have
-- none, and each of those cost an index entry, and a page written, per
-- append. Lookups by key (answer_key = ?) use the partial index; keys stay
-- unique.
DROP INDEX audit_records_answer_key;
CREATE UNIQUE INDEX audit_records_answer_key ON audit_records (answer_key) WHERE answer_key IS NOT NULL;
