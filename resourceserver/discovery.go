package resourceserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// Bounds on what an authorization server may send back.
const (
	maxMetadataBytes      = 256 << 10
	maxJWKSBytes          = 512 << 10
	maxIntrospectionBytes = 64 << 10
	defaultFetchTimeout   = 10 * time.Second
)

// defaultHTTPClient is the client used when the options name none: its own
// transport, a timeout, and no redirects (a redirect from a metadata, JWKS
// or introspection endpoint is answered as an error, never followed to a
// place the operator did not configure).
func defaultHTTPClient() *http.Client {
	return &http.Client{
		Timeout:   defaultFetchTimeout,
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// asMetadata holds the authorization server metadata members this package
// uses (RFC 8414 §2, OpenID Connect Discovery 1.0 §3).
type asMetadata struct {
	issuer                string
	jwksURI               string
	introspectionEndpoint string
}

// metadataURLs lists where the metadata of issuer may be, in the order the
// MCP authorization specification (authorization-server-discovery,
// 2026-07-28; 2025-11-25 "Authorization Server Metadata Discovery") has
// clients try them: RFC 8414 §3.1 path insertion, OpenID Connect discovery
// with path insertion, then OpenID Connect Discovery 1.0 §4 path appending.
func metadataURLs(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer %q: %w", issuer, err)
	}
	if u.Scheme == "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("issuer %q: must be an absolute URL without query or fragment (RFC 8414 §2)", issuer)
	}
	origin := u.Scheme + "://" + u.Host
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	if path == "" {
		return []string{
			origin + "/.well-known/oauth-authorization-server",
			origin + "/.well-known/openid-configuration",
		}, nil
	}
	return []string{
		origin + "/.well-known/oauth-authorization-server" + path,
		origin + "/.well-known/openid-configuration" + path,
		origin + path + "/.well-known/openid-configuration",
	}, nil
}

// discover fetches the metadata of issuer, taking the first candidate URL
// that answers 200 with a document whose "issuer" is identical to issuer
// (RFC 8414 §3.3, OpenID Connect Discovery 1.0 §4.3: MUST be identical; a
// mismatch is refused and the next candidate tried).
func discover(ctx context.Context, client *http.Client, issuer string) (*asMetadata, error) {
	urls, err := metadataURLs(issuer)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, u := range urls {
		body, err := getJSON(ctx, client, u, maxMetadataBytes)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		md, err := parseASMetadata(body)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		if md.issuer != issuer {
			errs = append(errs, fmt.Errorf("%s: metadata issuer %q is not %q", u, md.issuer, issuer))
			continue
		}
		return md, nil
	}
	return nil, fmt.Errorf("discovering issuer %s: %w", issuer, errors.Join(errs...))
}

func parseASMetadata(b []byte) (*asMetadata, error) {
	members, err := jsonx.ObjectMembers(b, 0)
	if err != nil {
		return nil, fmt.Errorf("metadata is not a valid JSON object: %w", err)
	}
	var md asMetadata
	for _, m := range members {
		var dst *string
		switch m.Key {
		case "issuer":
			dst = &md.issuer
		case "jwks_uri":
			dst = &md.jwksURI
		case "introspection_endpoint":
			dst = &md.introspectionEndpoint
		default:
			continue
		}
		s, ok := jsonx.String(m.Value)
		if !ok {
			return nil, fmt.Errorf("metadata member %q is not a string", m.Key)
		}
		*dst = s
	}
	return &md, nil
}

// getJSON GETs url and returns the body of a 200 response, at most max
// bytes.
func getJSON(ctx context.Context, client *http.Client, u string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readBody(resp, u, max)
}

func readBody(resp *http.Response, u string, max int64) ([]byte, error) {
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("%s: status %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("%s: response larger than %d bytes", u, max)
	}
	return body, nil
}
