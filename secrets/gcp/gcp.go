// Package gcp reads secrets from Google Secret Manager through its REST
// API (projects.secrets.versions.access) with application default
// credentials: GOOGLE_APPLICATION_CREDENTIALS (a service account key or an
// external_account file for workload identity federation from another
// cloud or Kubernetes), the gcloud user credentials, or the metadata
// server (GKE workload identity federation, Compute Engine).
//
// REST and golang.org/x/oauth2/google rather than the gRPC client
// (cloud.google.com/go/secretmanager): the same credential chain for one
// endpoint, without gRPC and genproto in the binary.
package gcp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/mcpfort/mcpfort/secrets"
)

// DefaultEndpoint is Secret Manager's API.
const DefaultEndpoint = "https://secretmanager.googleapis.com"

const scope = "https://www.googleapis.com/auth/cloud-platform"

// Options configure a Backend.
type Options struct {
	// Endpoint is the API's base URL. If empty, DefaultEndpoint.
	Endpoint string
	// HTTPClient sends the API requests (not the token requests). If nil,
	// one with a 30s timeout.
	HTTPClient *http.Client
}

// Backend reads gcpsecrets:// references. It is safe for concurrent use.
type Backend struct {
	endpoint string
	ts       oauth2.TokenSource
	client   *http.Client
}

var _ secrets.Backend = (*Backend)(nil)

// New finds the application default credentials (it does not fetch a
// token yet).
func New(ctx context.Context, o Options) (*Backend, error) {
	if o.Endpoint == "" {
		o.Endpoint = DefaultEndpoint
	}
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("gcp: endpoint must be an http(s) URL, got %q", o.Endpoint)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	// The token source outlives ctx: it fetches tokens as they expire.
	creds, err := google.FindDefaultCredentials(context.WithoutCancel(ctx), scope)
	if err != nil {
		return nil, fmt.Errorf("gcp: application default credentials: %w", err)
	}
	return &Backend{endpoint: strings.TrimSuffix(o.Endpoint, "/"), ts: oauth2.ReuseTokenSource(nil, creds.TokenSource), client: o.HTTPClient}, nil
}

// Fetch reads PROJECT/SECRET at ?version= (default latest) and checks the
// payload's CRC32C when the API sends one.
func (b *Backend) Fetch(ctx context.Context, ref secrets.Ref) ([]byte, error) {
	project, secret, _ := strings.Cut(ref.Name, "/")
	version := ref.Params["version"]
	if version == "" {
		version = "latest"
	}
	tok, err := b.ts.Token()
	if err != nil {
		return nil, fmt.Errorf("gcp: token: %w", err)
	}
	u := b.endpoint + "/v1/projects/" + url.PathEscape(project) + "/secrets/" + url.PathEscape(secret) + "/versions/" + url.PathEscape(version) + ":access"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	tok.SetAuthHeader(req)
	resp, err := b.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("gcp: access secret: %w", ue.Err)
		}
		return nil, fmt.Errorf("gcp: access secret: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, fmt.Errorf("gcp: access secret: status %d", resp.StatusCode)
	}
	var out struct {
		Payload struct {
			Data   string `json:"data"`
			CRC32C string `json:"dataCrc32c"`
		} `json:"payload"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, errors.New("gcp: access secret: the answer is not the documented JSON")
	}
	data, err := base64.StdEncoding.DecodeString(out.Payload.Data)
	if err != nil {
		return nil, errors.New("gcp: access secret: payload is not base64")
	}
	if out.Payload.CRC32C != "" {
		want, err := strconv.ParseUint(out.Payload.CRC32C, 10, 32)
		if err != nil || crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)) != uint32(want) {
			return nil, errors.New("gcp: access secret: payload fails its CRC32C check")
		}
	}
	return data, nil
}
