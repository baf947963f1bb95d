package authserver

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// maxRedirectURILength bounds redirect URIs from requests and metadata.
const maxRedirectURILength = 2048

// parseRedirectURI checks a redirect URI as registered or requested: an
// absolute URI without fragment (RFC 6749 section 3.1.2), using https or,
// for native apps, http on a loopback host (RFC 8252 sections 7.3 and 8.3;
// MCP requires redirect URIs to be localhost or https).
func parseRedirectURI(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("redirect URI is empty")
	}
	if len(raw) > maxRedirectURILength {
		return nil, errors.New("redirect URI is too long")
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= 0x20 || raw[i] >= 0x7f {
			return nil, errors.New("redirect URI contains a control, space or non-ASCII character")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("redirect URI does not parse")
	}
	if !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return nil, errors.New("redirect URI must be absolute")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("redirect URI must not contain a fragment")
	}
	if u.User != nil {
		return nil, errors.New("redirect URI must not contain userinfo")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackRedirectHost(u.Hostname()) {
			return nil, errors.New("http redirect URIs are allowed only on loopback hosts")
		}
	default:
		return nil, errors.New("redirect URI must use https, or http on a loopback host")
	}
	if p := u.Port(); p != "" {
		for _, c := range p {
			if c < '0' || c > '9' {
				return nil, errors.New("redirect URI has an invalid port")
			}
		}
	}
	return u, nil
}

// isLoopbackRedirectHost: the loopback IP literals RFC 8252 section 7.3
// names, and "localhost", which section 8.3 discourages but which many
// MCP clients register.
func isLoopbackRedirectHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// matchRedirectURI reports whether the requested redirect URI matches a
// registered one. The comparison is exact string comparison (OAuth 2.1
// section 2.3.1; RFC 9700 section 4.1.3), except that for a loopback
// registration the port is ignored: "The authorization server MUST allow
// any port to be specified at the time of the request for loopback IP
// redirect URIs, to accommodate clients that obtain an available ephemeral
// port from the operating system at the time of the request" (RFC 8252
// section 7.3). Scheme, host, path and query must still be identical.
func matchRedirectURI(registered []string, requested string) bool {
	for _, reg := range registered {
		if reg == requested {
			return true
		}
	}
	req, err := parseRedirectURI(requested)
	// url.Parse lowercases the scheme; the comparison must not.
	if err != nil || !strings.HasPrefix(requested, "http://") || !isLoopbackRedirectHost(req.Hostname()) {
		return false
	}
	for _, reg := range registered {
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || !isLoopbackRedirectHost(ru.Hostname()) {
			continue
		}
		if ru.Hostname() == req.Hostname() && ru.EscapedPath() == req.EscapedPath() &&
			ru.RawQuery == req.RawQuery && ru.ForceQuery == req.ForceQuery && ru.User == nil && req.User == nil {
			return true
		}
	}
	return false
}

// allLoopback reports whether every redirect URI points to this computer.
func allLoopback(uris []string) bool {
	if len(uris) == 0 {
		return false
	}
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || !isLoopbackRedirectHost(u.Hostname()) {
			return false
		}
	}
	return true
}
