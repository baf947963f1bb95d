-- Groups of a user (JSON array of strings): local users get them from the
-- operator, federated users from a claim of their identity provider. The
-- authorization server grants scopes by group.
ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';

-- Loopback redirect URIs (with their port) a user consented to for a
-- public client: another port is another program on the user's computer,
-- so it is asked again.
ALTER TABLE consents ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';

-- The OpenID Connect nonce of the authorization request, returned in the
-- ID token its code yields.
ALTER TABLE auth_codes ADD COLUMN nonce TEXT NOT NULL DEFAULT '';
