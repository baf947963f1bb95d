package sqlstore

import (
	"context"
	"database/sql"

	"github.com/mcpfort/mcpfort/storage"
)

const userCols = `id, username, password_hash, disabled, issuer, subject, email, name, groups, created_at, updated_at`

func scanUser(sc scanner) (*storage.User, error) {
	var (
		u                         storage.User
		username, issuer, subject sql.NullString
		groups                    string
		created, updated          int64
	)
	if err := sc.Scan(&u.ID, &username, &u.PasswordHash, &u.Disabled, &issuer, &subject, &u.Email, &u.Name, &groups, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if u.Groups, err = plist(groups); err != nil {
		return nil, err
	}
	u.Username, u.Issuer, u.Subject = username.String, issuer.String, subject.String
	u.CreatedAt, u.UpdatedAt = tm(created), tm(updated)
	return &u, nil
}

// CreateUser implements storage.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	_, err := s.exec(ctx, s.write, `INSERT INTO users (`+userCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		u.ID, nullable(u.Username), u.PasswordHash, u.Disabled, nullable(u.Issuer), nullable(u.Subject), u.Email, u.Name,
		jlist(u.Groups), ms(u.CreatedAt), ms(u.UpdatedAt))
	return s.wrap("create user", err)
}

// GetUser implements storage.UserStore.
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	u, err := scanUser(s.queryRow(ctx, s.read, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	return u, s.wrap("get user", err)
}

// GetUserByUsername implements storage.UserStore.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	u, err := scanUser(s.queryRow(ctx, s.read, `SELECT `+userCols+` FROM users WHERE username = $1`, username))
	return u, s.wrap("get user by username", err)
}

// GetUserBySubject implements storage.UserStore.
func (s *Store) GetUserBySubject(ctx context.Context, issuer, subject string) (*storage.User, error) {
	u, err := scanUser(s.queryRow(ctx, s.read, `SELECT `+userCols+` FROM users WHERE issuer = $1 AND subject = $2`, issuer, subject))
	return u, s.wrap("get user by subject", err)
}

// UpdateUser implements storage.UserStore.
func (s *Store) UpdateUser(ctx context.Context, u *storage.User) error {
	return s.wrap("update user", mustAffect(s.exec(ctx, s.write,
		`UPDATE users SET password_hash = $2, disabled = $3, email = $4, name = $5, groups = $6, updated_at = $7 WHERE id = $1`,
		u.ID, u.PasswordHash, u.Disabled, u.Email, u.Name, jlist(u.Groups), ms(u.UpdatedAt))))
}

// ListUsers implements storage.UserStore.
func (s *Store) ListUsers(ctx context.Context, afterID string, limit int) ([]*storage.User, error) {
	rows, err := s.query(ctx, s.read, `SELECT `+userCols+` FROM users WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, s.wrap("list users", err)
	}
	defer rows.Close()
	var out []*storage.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, s.wrap("list users", err)
		}
		out = append(out, u)
	}
	return out, s.wrap("list users", rows.Err())
}
