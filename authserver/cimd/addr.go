package cimd

import "net/netip"

// specialPrefixes are the special-purpose ranges a metadata document must
// never be fetched from (RFC 6890; IANA IPv4 and IPv6 Special-Purpose
// Address Registries), beyond what netip's predicates already cover.
func specialPrefixes() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),       // "this network" (RFC 791)
		netip.MustParsePrefix("10.0.0.0/8"),      // private (RFC 1918)
		netip.MustParsePrefix("100.64.0.0/10"),   // shared address space, CGNAT (RFC 6598)
		netip.MustParsePrefix("127.0.0.0/8"),     // loopback
		netip.MustParsePrefix("169.254.0.0/16"),  // link-local, cloud metadata endpoints
		netip.MustParsePrefix("172.16.0.0/12"),   // private
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments (RFC 6890)
		netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
		netip.MustParsePrefix("192.31.196.0/24"), // AS112-v4
		netip.MustParsePrefix("192.52.193.0/24"), // AMT
		netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast (deprecated)
		netip.MustParsePrefix("192.168.0.0/16"),  // private
		netip.MustParsePrefix("192.175.48.0/24"), // direct delegation AS112
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking (RFC 2544)
		netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
		netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
		netip.MustParsePrefix("224.0.0.0/4"),     // multicast
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved, includes broadcast
		netip.MustParsePrefix("::/128"),          // unspecified
		netip.MustParsePrefix("::1/128"),         // loopback
		netip.MustParsePrefix("::ffff:0:0/96"),   // IPv4-mapped (checked unmapped too)
		netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 well-known prefix (RFC 6052)
		netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64 (RFC 8215)
		netip.MustParsePrefix("100::/64"),        // discard-only (RFC 6666)
		netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments, incl. Teredo 2001::/32
		netip.MustParsePrefix("2001:db8::/32"),   // documentation
		netip.MustParsePrefix("2002::/16"),       // 6to4: embeds an arbitrary IPv4 address
		netip.MustParsePrefix("3fff::/20"),       // documentation (RFC 9637)
		netip.MustParsePrefix("5f00::/16"),       // SRv6 SIDs (RFC 9602)
		netip.MustParsePrefix("fc00::/7"),        // unique local
		netip.MustParsePrefix("fe80::/10"),       // link-local
		netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
		netip.MustParsePrefix("ff00::/8"),        // multicast
	}
}

// addrPolicy decides which peer addresses may be dialed.
type addrPolicy struct {
	special       []netip.Prefix
	allowLoopback bool
}

func newAddrPolicy(allowLoopback bool) *addrPolicy {
	return &addrPolicy{special: specialPrefixes(), allowLoopback: allowLoopback}
}

// allowed reports whether ip is a public unicast address (or a loopback
// address when the test-only loopback exception is on).
func (p *addrPolicy) allowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		// An IPv4-mapped address reaches the IPv4 host it embeds.
		ip = ip.Unmap()
	}
	if p.allowLoopback && ip.IsLoopback() {
		return true
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, pfx := range p.special {
		if pfx.Contains(ip) {
			return false
		}
	}
	return true
}
