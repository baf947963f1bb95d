package mcp

import "slices"

// Protocol versions served by mcpfort.
const (
	Version20250326 = "2025-03-26"
	Version20250618 = "2025-06-18"
	Version20251125 = "2025-11-25"
	Version20260728 = "2026-07-28"

	// LatestLegacy is offered to legacy clients that ask for a version
	// mcpfort does not know (2025-11-25 basic/lifecycle: the server answers
	// with another version it supports, which SHOULD be its latest).
	LatestLegacy = Version20251125
	// Latest is the newest version mcpfort speaks.
	Latest = Version20260728
)

// supported lists every version, newest first.
var supported = []string{Version20260728, Version20251125, Version20250618, Version20250326}

// SupportedVersions returns every supported version, newest first.
func SupportedVersions() []string { return slices.Clone(supported) }

// IsSupported reports whether v is a version mcpfort serves.
func IsSupported(v string) bool { return slices.Contains(supported, v) }

// IsModern reports whether v is a per-request-metadata version (2026-07-28
// basic/versioning "Terminology": modern).
func IsModern(v string) bool { return v == Version20260728 }

// IsLegacy reports whether v is a supported handshake-era version.
func IsLegacy(v string) bool {
	return v == Version20251125 || v == Version20250618 || v == Version20250326
}

// NegotiateLegacy picks the version to answer an initialize request with:
// the client's own when it is a supported legacy version, otherwise
// LatestLegacy (2025-11-25 basic/lifecycle "Version Negotiation").
func NegotiateLegacy(requested string) string {
	if IsLegacy(requested) {
		return requested
	}
	return LatestLegacy
}

// AllowsBatch reports whether a legacy version accepts JSON-RPC batches in a
// POST body (2025-03-26 only; removed in 2025-06-18).
func AllowsBatch(v string) bool { return v == Version20250326 }

// Era is a protocol generation.
type Era uint8

// Eras.
const (
	EraUnknown Era = iota
	EraLegacy      // initialize + sessions (2025-03-26 .. 2025-11-25)
	EraModern      // stateless, per-request _meta (2026-07-28)
)

func (e Era) String() string {
	switch e {
	case EraLegacy:
		return "legacy"
	case EraModern:
		return "modern"
	}
	return "unknown"
}
