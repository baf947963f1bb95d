// Package vault reads secrets from a HashiCorp Vault or OpenBao KV version 2
// engine over its HTTP API, authenticating with a Kubernetes service
// account token, an AppRole or a token file. It implements
// secrets.Backend; it is written against the documented API (the two
// servers share it) rather than the hashicorp/vault/api module, which would
// bring eighteen modules for four endpoints.
package vault

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/secrets"
)

// DefaultServiceAccountTokenFile is where Kubernetes mounts a pod's
// service account token.
const DefaultServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// Options configure a Backend. Exactly one authentication method is set:
// KubernetesRole, AppRoleID or TokenFile.
type Options struct {
	// Address is the server's base URL ("https://vault.example:8200").
	// Required.
	Address string
	// Namespace is sent as X-Vault-Namespace (Vault Enterprise and
	// OpenBao namespaces) on every request, logins included.
	Namespace string
	// CAFile holds PEM certificates to trust for the server instead of
	// the system roots.
	CAFile string

	// KubernetesRole logs in with the Kubernetes auth method
	// (POST /v1/auth/MOUNT/login {role, jwt}), the pod's workload
	// identity. KubernetesMount defaults to "kubernetes" and
	// KubernetesTokenFile to DefaultServiceAccountTokenFile; the file is
	// read at every login, so projected tokens that rotate are followed.
	KubernetesRole      string
	KubernetesMount     string
	KubernetesTokenFile string

	// AppRoleID and AppRoleSecretID log in with the AppRole auth method
	// (POST /v1/auth/MOUNT/login {role_id, secret_id}); AppRoleMount
	// defaults to "approle". AppRoleSecretID is called at every login.
	AppRoleID       string
	AppRoleSecretID func() string
	AppRoleMount    string

	// TokenFile holds a Vault token (written by Vault Agent, for
	// example); it is read before every request, so a renewed token is
	// used at once.
	TokenFile string

	// HTTPClient makes the requests. If nil, one with a 30s timeout.
	HTTPClient *http.Client
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// Backend reads KV v2 secrets. It is safe for concurrent use.
type Backend struct {
	o    Options
	base *url.URL

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

var _ secrets.Backend = (*Backend)(nil)

// New returns a Backend. It does not contact the server.
func New(o Options) (*Backend, error) {
	u, err := url.Parse(strings.TrimSuffix(o.Address, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("vault: address must be an http(s) URL, got %q", o.Address)
	}
	n := 0
	for _, set := range []bool{o.KubernetesRole != "", o.AppRoleID != "", o.TokenFile != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("vault: set exactly one of the kubernetes, approle and token_file authentication methods")
	}
	if o.AppRoleID != "" && o.AppRoleSecretID == nil {
		return nil, errors.New("vault: approle needs a secret_id")
	}
	if o.KubernetesMount == "" {
		o.KubernetesMount = "kubernetes"
	}
	if o.KubernetesTokenFile == "" {
		o.KubernetesTokenFile = DefaultServiceAccountTokenFile
	}
	if o.AppRoleMount == "" {
		o.AppRoleMount = "approle"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("vault: ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("vault: ca_file %s holds no PEM certificate", o.CAFile)
			}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
			o.HTTPClient.Transport = tr
		}
	}
	return &Backend{o: o, base: u}, nil
}

// StatusError is a response other than 200 from the server. It carries
// the status only: Vault's error bodies are not repeated, since a proxy in
// between could echo anything.
type StatusError struct {
	Op     string
	Status int
}

func (e *StatusError) Error() string {
	switch e.Status {
	case http.StatusNotFound:
		return fmt.Sprintf("vault: %s: not found (no such secret, version, or it is deleted)", e.Op)
	case http.StatusForbidden:
		return fmt.Sprintf("vault: %s: permission denied (403)", e.Op)
	}
	return fmt.Sprintf("vault: %s: status %d", e.Op, e.Status)
}

// Fetch reads MOUNT/PATH (ref.Name) from the KV v2 engine
// (GET /v1/MOUNT/data/PATH[?version=N]) and returns its data as a JSON
// object, for the reference's pointer to select from; without a pointer,
// a secret with exactly one field yields that field's value.
func (b *Backend) Fetch(ctx context.Context, ref secrets.Ref) ([]byte, error) {
	mount, path, _ := strings.Cut(ref.Name, "/")
	u := b.base.JoinPath("v1", mount, "data", path)
	if v := ref.Params["version"]; v != "" {
		u.RawQuery = url.Values{"version": {v}}.Encode()
	}
	var out struct {
		Data struct {
			Data     map[string]json.RawMessage `json:"data"`
			Metadata struct {
				Version   int    `json:"version"`
				Destroyed bool   `json:"destroyed"`
				Deleted   string `json:"deletion_time"`
			} `json:"metadata"`
		} `json:"data"`
	}
	err := b.withToken(ctx, func(tok string) error { return b.do(ctx, "read secret", http.MethodGet, u, tok, nil, &out) })
	if err != nil {
		return nil, err
	}
	if out.Data.Data == nil {
		return nil, errors.New("vault: read secret: no data (deleted or destroyed version)")
	}
	if ref.Pointer == "" {
		if len(out.Data.Data) != 1 {
			return nil, fmt.Errorf("vault: the secret has %d fields: name one with a #/field fragment", len(out.Data.Data))
		}
		for _, raw := range out.Data.Data {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return nil, errors.New("vault: the secret's only field is not a string")
			}
			return []byte(s), nil
		}
	}
	return json.Marshal(out.Data.Data)
}

// withToken runs f with a token, logging in again once if the server
// answers 403 with a cached login token (revoked or expired early).
func (b *Backend) withToken(ctx context.Context, f func(string) error) error {
	tok, cached, err := b.currentToken(ctx)
	if err != nil {
		return err
	}
	err = f(tok)
	var se *StatusError
	if cached && errors.As(err, &se) && se.Status == http.StatusForbidden {
		b.mu.Lock()
		b.token = ""
		b.mu.Unlock()
		if tok, _, err = b.currentToken(ctx); err != nil {
			return err
		}
		return f(tok)
	}
	return err
}

// currentToken returns a token: from TokenFile, or the cached login
// token, or a new login. cached reports a login token from an earlier
// call.
func (b *Backend) currentToken(ctx context.Context) (tok string, cached bool, err error) {
	if b.o.TokenFile != "" {
		raw, err := os.ReadFile(b.o.TokenFile)
		if err != nil {
			return "", false, fmt.Errorf("vault: token_file: %w", err)
		}
		tok := strings.TrimSpace(string(raw))
		if tok == "" {
			return "", false, errors.New("vault: token_file is empty")
		}
		return tok, false, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.token != "" && b.o.Now().Before(b.renewAt) {
		return b.token, true, nil
	}
	var body map[string]string
	var mountPath string
	if b.o.KubernetesRole != "" {
		jwt, err := os.ReadFile(b.o.KubernetesTokenFile)
		if err != nil {
			return "", false, fmt.Errorf("vault: kubernetes service account token: %w", err)
		}
		body = map[string]string{"role": b.o.KubernetesRole, "jwt": strings.TrimSpace(string(jwt))}
		mountPath = b.o.KubernetesMount
	} else {
		body = map[string]string{"role_id": b.o.AppRoleID, "secret_id": b.o.AppRoleSecretID()}
		mountPath = b.o.AppRoleMount
	}
	var out struct {
		Auth struct {
			ClientToken   string `json:"client_token"`
			LeaseDuration int64  `json:"lease_duration"`
		} `json:"auth"`
	}
	u := b.base.JoinPath("v1", "auth", mountPath, "login")
	if err := b.do(ctx, "login", http.MethodPost, u, "", body, &out); err != nil {
		return "", false, err
	}
	if out.Auth.ClientToken == "" {
		return "", false, errors.New("vault: login: no client_token in the answer")
	}
	// Log in again at two thirds of the lease rather than renew: a login
	// also picks up a rotated service account token or secret id.
	lease := time.Duration(out.Auth.LeaseDuration) * time.Second
	if lease <= 0 {
		lease = time.Hour
	}
	b.token, b.renewAt = out.Auth.ClientToken, b.o.Now().Add(lease*2/3)
	return b.token, false, nil
}

func (b *Backend) do(ctx context.Context, op, method string, u *url.URL, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("vault: %s: %w", op, err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if b.o.Namespace != "" {
		req.Header.Set("X-Vault-Namespace", b.o.Namespace)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// The header Vault Agent and the official client send on API calls.
	req.Header.Set("X-Vault-Request", "true")
	resp, err := b.o.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("vault: %s: %w", op, ue.Err)
		}
		return fmt.Errorf("vault: %s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return &StatusError{Op: op, Status: resp.StatusCode}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("vault: %s: the answer is not the documented JSON", op)
	}
	return nil
}
