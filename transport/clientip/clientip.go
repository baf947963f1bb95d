package clientip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Header names the forwarding header the trusted proxies write.
type Header int

const (
	// XForwardedFor is the de-facto X-Forwarded-For: a comma-separated
	// list of addresses, each proxy appending the peer it received the
	// request from.
	XForwardedFor Header = iota
	// Forwarded is RFC 7239's header, whose "for" parameters play the
	// same role.
	Forwarded
)

// Options configures a Resolver. The zero value trusts no proxy: every
// request's client is its direct peer.
type Options struct {
	// TrustedProxies are the load balancers and reverse proxies whose
	// forwarding header is believed: addresses ("10.0.0.7") or prefixes
	// ("10.0.0.0/8", "fd00::/8"). Empty: forwarding headers are ignored.
	TrustedProxies []string
	// Header is the one header the trusted proxies set. Only that one is
	// read: a proxy that appends X-Forwarded-For passes a client's own
	// Forwarded header through untouched, so reading both would let the
	// client choose its address. If zero, XForwardedFor.
	Header Header
}

// Resolver finds client addresses. It is immutable and safe for concurrent
// use; the zero value returns the direct peer.
type Resolver struct {
	trusted []netip.Prefix
	header  Header
}

// New validates opts and returns a Resolver.
func New(opts Options) (*Resolver, error) {
	r := &Resolver{header: opts.Header}
	if opts.Header != XForwardedFor && opts.Header != Forwarded {
		return nil, errors.New("clientip: unknown header")
	}
	var errs []error
	for _, s := range opts.TrustedProxies {
		p, err := ParsePrefix(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.trusted = append(r.trusted, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// ParsePrefix parses a trusted proxy: a CIDR prefix or a single address
// (taken as /32 or /128). Host bits set in a prefix are an error, since
// "10.0.0.1/8" more likely hides a typo than means 10.0.0.0/8.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("clientip: trusted proxy %q: not a CIDR prefix", s)
		}
		if p.Addr().Zone() != "" || p != p.Masked() {
			return netip.Prefix{}, fmt.Errorf("clientip: trusted proxy %q: host bits set (did you mean %s?)", s, p.Masked())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("clientip: trusted proxy %q: not an IP address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Trusted reports whether a is one of the trusted proxies.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if r == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr returns the client's address: the direct peer, or, when the peer
// is a trusted proxy, the rightmost hop of the forwarding header that is
// not a trusted proxy. If the header is missing, or every hop in it is
// trusted, the leftmost trusted hop is the client; a hop that does not
// parse (an RFC 7239 obfuscated or "unknown" node included) ends the walk
// at the last trusted hop, which a client cannot choose. ok is false only
// when RemoteAddr is not an address (a test server, a unix socket).
func (r *Resolver) Addr(req *http.Request) (a netip.Addr, ok bool) {
	peer, ok := peerAddr(req.RemoteAddr)
	if !ok || !r.Trusted(peer) {
		return peer, ok
	}
	var hops []string
	switch r.header {
	case Forwarded:
		hops = forwardedFor(req.Header.Values("Forwarded"))
	default:
		for _, v := range req.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		h, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = h
		if !r.Trusted(h) {
			break
		}
	}
	return client, true
}

// TrustedPeer reports whether the request's direct peer is a trusted
// proxy, whose forwarding headers (and request id) may be believed.
func (r *Resolver) TrustedPeer(req *http.Request) bool {
	a, ok := peerAddr(req.RemoteAddr)
	return ok && r.Trusted(a)
}

// String returns Addr as text, or RemoteAddr itself when that is not an
// address. It fits authserver.Options.ClientIP.
func (r *Resolver) String(req *http.Request) string {
	a, ok := r.Addr(req)
	if !ok {
		return req.RemoteAddr
	}
	return a.String()
}

func peerAddr(remote string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if a, err := netip.ParseAddr(remote); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// parseHop parses one forwarding hop: an address, optionally bracketed
// and with a port ("192.0.2.1", "192.0.2.1:4711", "[2001:db8::1]:4711",
// "2001:db8::1").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// forwardedFor returns the "for" values of RFC 7239 Forwarded header
// lines, in order (section 4: elements are comma-separated, each a
// semicolon-separated list of token=value pairs; values are tokens or
// quoted strings). An element without "for" yields "" (an unparseable
// hop), so that it still ends the walk.
func forwardedFor(lines []string) []string {
	var out []string
	for _, line := range lines {
		for _, elem := range SplitUnquoted(line, ',') {
			v := ""
			for _, pair := range SplitUnquoted(elem, ';') {
				name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "for") {
					continue
				}
				value = strings.TrimSpace(value)
				if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
					value = value[1 : len(value)-1]
				}
				v = value
				break
			}
			out = append(out, v)
		}
	}
	return out
}

// SplitUnquoted splits a header field value at sep outside double-quoted
// strings (RFC 9110 section 5.6.4: a quoted-string may contain the
// separators of the list around it).
func SplitUnquoted(s string, sep byte) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			inQuote = !inQuote
		case c == '\\' && inQuote:
			i++
		case c == sep && !inQuote:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// Bucket returns the network a rate limit should count a client under:
// the address itself for IPv4, its /64 for IPv6, since one subscriber
// (RFC 6177) or one cloud instance usually holds a whole /64 and could
// otherwise rotate through 2^64 addresses. An invalid address is its own
// (empty) bucket.
func Bucket(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}
