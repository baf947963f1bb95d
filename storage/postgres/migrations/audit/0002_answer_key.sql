-- The key of what a record attests once and for all (an answer delivered
-- to a client, which the replica that received the call and one that
-- resumed its stream may both see), also inside record, so that the chain
-- covers it. NULL for the other records. Appends skip a record whose key a
-- row already holds.
ALTER TABLE audit_records ADD COLUMN answer_key TEXT;
CREATE UNIQUE INDEX audit_records_answer_key ON audit_records (answer_key);
