-- Groups of a user (JSON array of strings): local users get them from the
-- operator, federated users from a claim of their identity provider. The
-- authorization server grants scopes by group.
ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
