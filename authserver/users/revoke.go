package users

import (
	"context"
	"fmt"
	"time"

	"github.com/mcpfort/mcpfort/authserver"
	"github.com/mcpfort/mcpfort/storage"
)

// RevokeOnDisable returns store with UpdateUser extended: when the user is
// saved disabled, revoker is told to revoke every access token issued to
// the user so far, so that resource servers fed by it (the gateway's
// replicas, through state.redis) refuse them at once instead of when they
// expire. maxLifetime is the longest access-token lifetime (how long the
// event must be remembered). Saving a disabled user again publishes again.
func RevokeOnDisable(store storage.UserStore, revoker authserver.Revoker, maxLifetime time.Duration) storage.UserStore {
	return &revokingStore{UserStore: store, revoker: revoker, lifetime: maxLifetime}
}

type revokingStore struct {
	storage.UserStore
	revoker  authserver.Revoker
	lifetime time.Duration
}

func (s *revokingStore) UpdateUser(ctx context.Context, u *storage.User) error {
	if err := s.UserStore.UpdateUser(ctx, u); err != nil || !u.Disabled {
		return err
	}
	if err := s.revoker.Revoke(ctx, authserver.SubjectRevocation(u.ID, "", time.Now(), s.lifetime)); err != nil {
		return fmt.Errorf("the user is disabled, but running servers could not be told and accept the user's access tokens until they expire; run the command again: %w", err)
	}
	return nil
}
