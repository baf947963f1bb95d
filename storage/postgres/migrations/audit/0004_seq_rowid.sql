-- Nothing to change on PostgreSQL: SQLite's 0004 makes seq the table's
-- rowid, which it was not; here the primary key on seq is the table's only
-- index on it already. Kept so that both engines number the audit log's
-- migrations alike.
SELECT 1;
