package resourceserver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// WellKnownPath is the RFC 9728 §3 well-known URI suffix.
const WellKnownPath = "/.well-known/oauth-protected-resource"

// CanonicalResource returns the canonical form of an MCP server URI, the
// value of the RFC 8707 resource parameter, the "aud" of tokens issued for
// the server and the "resource" of its RFC 9728 metadata.
//
// The rules follow the MCP authorization specification, "Canonical Server
// URI" (2026-07-28 and 2025-11-25): an absolute http or https URI; scheme
// and host are lowercased (uppercase input is accepted, as the spec asks);
// no fragment (RFC 8707 §2: MUST NOT) and no userinfo; the default port is
// dropped; a bare "/" path is dropped ("https://mcp.example.com/" becomes
// "https://mcp.example.com") while any other path, including a trailing
// slash after a segment, is kept as written because the server may depend
// on it. A query is kept: RFC 8707 §2 discourages but allows it.
func CanonicalResource(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("resource %q: %w", raw, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", fmt.Errorf("resource %q: scheme must be https or http", raw)
	}
	if u.Opaque != "" || u.Host == "" {
		return "", fmt.Errorf("resource %q: not an absolute URI with a host", raw)
	}
	if u.User != nil {
		return "", fmt.Errorf("resource %q: userinfo is not allowed", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", fmt.Errorf("resource %q: a fragment is not allowed (RFC 8707 §2)", raw)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("resource %q: empty host", raw)
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	hostport := host
	if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	if port != "" {
		hostport = net.JoinHostPort(host, port)
	}
	path := u.EscapedPath()
	if path == "/" {
		path = ""
	}
	out := scheme + "://" + hostport + path
	if u.RawQuery != "" || u.ForceQuery {
		out += "?" + u.RawQuery
	}
	return out, nil
}

// MetadataURL returns the RFC 9728 §3.1 well-known URL of the metadata of
// resource: the well-known suffix is inserted between the host and the path
// (and query), a trailing slash after the host dropped. For
// "https://mcp.example.com/mcp" it is
// "https://mcp.example.com/.well-known/oauth-protected-resource/mcp".
func MetadataURL(resource string) (string, error) {
	c, err := CanonicalResource(resource)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(c)
	if err != nil {
		return "", err
	}
	out := u.Scheme + "://" + u.Host + WellKnownPath + u.EscapedPath()
	if u.RawQuery != "" || u.ForceQuery {
		out += "?" + u.RawQuery
	}
	return out, nil
}

// isLoopbackHost reports whether host names the local machine, where plain
// http is acceptable for development.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkSecureURL refuses plain http except on loopback, unless allowHTTP.
func checkSecureURL(field, raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if allowHTTP || isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s %q: plain http is allowed only on loopback", field, raw)
	}
	return errors.New(field + ": scheme must be https or http")
}
