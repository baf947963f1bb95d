package sqlstore

import (
	"context"

	"github.com/mcpfort/mcpfort/storage"
)

const consentCols = `user_id, client_id, scopes, resources, redirect_uris, created_at, updated_at`

func scanConsent(sc scanner) (*storage.Consent, error) {
	var (
		c                 storage.Consent
		scopes, resources string
		redirects         string
		created, updated  int64
	)
	if err := sc.Scan(&c.UserID, &c.ClientID, &scopes, &resources, &redirects, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if c.Scopes, err = plist(scopes); err != nil {
		return nil, err
	}
	if c.Resources, err = plist(resources); err != nil {
		return nil, err
	}
	if c.RedirectURIs, err = plist(redirects); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = tm(created), tm(updated)
	return &c, nil
}

// PutConsent implements storage.ConsentStore.
func (s *Store) PutConsent(ctx context.Context, c *storage.Consent) error {
	_, err := s.exec(ctx, s.write, `INSERT INTO consents (`+consentCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, resources = excluded.resources,
			redirect_uris = excluded.redirect_uris, updated_at = excluded.updated_at`,
		c.UserID, c.ClientID, jlist(c.Scopes), jlist(c.Resources), jlist(c.RedirectURIs), ms(c.CreatedAt), ms(c.UpdatedAt))
	return s.wrap("put consent", err)
}

// GetConsent implements storage.ConsentStore.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error) {
	c, err := scanConsent(s.queryRow(ctx, s.read, `SELECT `+consentCols+` FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID))
	return c, s.wrap("get consent", err)
}

// ListConsents implements storage.ConsentStore.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]*storage.Consent, error) {
	rows, err := s.query(ctx, s.read, `SELECT `+consentCols+` FROM consents WHERE user_id = $1 ORDER BY client_id`, userID)
	if err != nil {
		return nil, s.wrap("list consents", err)
	}
	defer rows.Close()
	var out []*storage.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, s.wrap("list consents", err)
		}
		out = append(out, c)
	}
	return out, s.wrap("list consents", rows.Err())
}

// DeleteConsent implements storage.ConsentStore.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	return s.wrap("delete consent", mustAffect(s.exec(ctx, s.write, `DELETE FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID)))
}
