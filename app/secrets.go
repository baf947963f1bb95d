package app

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/secrets"
	"github.com/mcpfort/mcpfort/secrets/vault"
	"github.com/mcpfort/mcpfort/storage"
	redisstate "github.com/mcpfort/mcpfort/storage/redis"
)

// buildSecrets creates the resolver of secret references, with the
// backends of the secrets section. Cloud backends come from
// cloudSecretBackends, which builds without them have no code for.
func (a *App) buildSecrets(ctx context.Context) error {
	if a.secrets != nil {
		return nil
	}
	sc := a.cfg.Secrets
	backends := map[string]secrets.Backend{}
	r := secrets.New(secrets.Options{
		Backends: backends, Allow: sc.AllowLists(), Dir: a.cfg.Dir(), Getenv: a.getenv,
		RefreshInterval: sc.RefreshInterval.D(), FileCheckInterval: sc.FileCheckInterval.D(),
		Logger: a.log.With("component", "secrets"),
	})
	if v := sc.Vault; v != nil {
		vo := vault.Options{Address: v.Address, Namespace: v.Namespace, CAFile: a.cfg.Resolve(v.CAFile), TokenFile: a.cfg.Resolve(v.Auth.TokenFile)}
		if k := v.Auth.Kubernetes; k != nil {
			vo.KubernetesRole, vo.KubernetesMount, vo.KubernetesTokenFile = k.Role, k.Mount, k.TokenFile
		}
		if ar := v.Auth.AppRole; ar != nil {
			// The secret id is an env: or file: reference (Validate), which
			// this resolver reads without a backend.
			sid, err := r.Resolve(ctx, "secrets.vault.auth.approle.secret_id", ar.SecretID.Parsed())
			if err != nil {
				return err
			}
			vo.AppRoleID, vo.AppRoleMount = ar.RoleID, ar.Mount
			vo.AppRoleSecretID = func() string { return sid.Value().Reveal() }
		}
		b, err := vault.New(vo)
		if err != nil {
			return fmt.Errorf("secrets.vault: %w", err)
		}
		backends[secrets.SchemeVault] = b
	}
	if err := cloudSecretBackends(ctx, sc, backends); err != nil {
		return err
	}
	a.secrets = r
	return nil
}

// secret resolves the reference of a configuration field. The error names
// the field and the reference, never the value.
func (a *App) secret(ctx context.Context, field string, ref config.SecretRef) (*secrets.Secret, error) {
	if err := a.buildSecrets(ctx); err != nil {
		return nil, err
	}
	return a.secrets.Resolve(ctx, field, ref.Parsed())
}

// CheckSecrets resolves every secret reference of cfg once, without
// starting anything, and returns one result per reference: its field, the
// reference, and the error (nil when it resolved). Values are never
// returned.
func CheckSecrets(ctx context.Context, cfg *config.Config, o Options) ([]SecretCheck, error) {
	a := &App{cfg: cfg, log: o.Logger, getenv: o.Getenv}
	a.defaults()
	if err := a.buildSecrets(ctx); err != nil {
		return nil, err
	}
	var out []SecretCheck
	for _, ns := range cfg.SecretRefs() {
		_, err := a.secrets.Fetch(ctx, ns.Ref.Parsed())
		out = append(out, SecretCheck{Field: ns.Field, Ref: ns.Ref.Ref, Err: err})
	}
	return out, nil
}

// SecretCheck is the outcome of resolving one reference.
type SecretCheck struct {
	Field, Ref string
	Err        error
}

// sessionRing keeps the session keyring in step with its configured
// secrets: each rotation puts the new values first and keeps the values
// they replaced, so that sessions sealed before the rotation still open;
// a replaced value is dropped at the first rotation after sessions.ttl
// has passed (by then every session it sealed has expired).
type sessionRing struct {
	mu      sync.Mutex
	current []*secrets.Secret
	retired []retiredSecret
	ttl     time.Duration
	now     func() time.Time
}

type retiredSecret struct {
	v     secrets.Value
	until time.Time
}

// values returns the keyring's secrets, newest first: the current values,
// then the retired ones not yet expired.
func (s *sessionRing) values() [][]byte {
	var out [][]byte
	now := s.now()
	s.retired = slices.DeleteFunc(s.retired, func(r retiredSecret) bool { return !now.Before(r.until) })
	for _, c := range s.current {
		out = append(out, c.Value().Bytes())
	}
	for _, r := range s.retired {
		out = append(out, r.v.Bytes())
	}
	return out
}

func (s *sessionRing) rotated(old secrets.Value) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = append(s.retired, retiredSecret{v: old, until: s.now().Add(s.ttl)})
	return s.values()
}

// parseKey reads a key from a secret: 64 hex digits (32 bytes), or the
// secret's bytes as they are when it has at least 32 of them.
func parseKey(v secrets.Value) ([]byte, error) {
	s := strings.TrimSpace(v.Reveal())
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	if len(s) < 32 {
		return nil, fmt.Errorf("the key holds %d bytes, want at least 32 (or 64 hex digits)", len(s))
	}
	return []byte(s), nil
}

// OpenDatabase opens cfg's state database as the gateway does (the
// password from state.database_password, when set), for the
// administrative commands. The caller closes it.
func OpenDatabase(ctx context.Context, cfg *config.Config) (storage.Backend, error) {
	a := &App{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	a.defaults()
	return a.database(ctx)
}

// OpenRedis returns a client of cfg's state.redis as the gateway makes it
// (the password from state.redis_password, when set), or nil without
// state.redis. The caller closes it.
func OpenRedis(cfg *config.Config) (*redisstate.Client, error) {
	a := &App{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	a.defaults()
	return a.redis()
}
