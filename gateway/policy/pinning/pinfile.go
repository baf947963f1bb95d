package pinning

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// A pin file lists approved tool definitions by hash, per server:
//
//	# mcpfort tool pins
//	version: 1
//	servers:
//	  github:
//	    tools:
//	      create_issue: sha256:4f6c...
//	      search_code: sha256:9a1e...
//
// JSON with the same shape is YAML too. "mcpfort tools list --format
// pinfile" writes one from the store. For every server it names, the file
// is the whole approved set: store approvals and trust on first use do not
// apply to that server.

type pinFile struct {
	Version int                     `yaml:"version"`
	Servers map[string]pinFileTools `yaml:"servers"`
}

type pinFileTools struct {
	Tools map[string]string `yaml:"tools"`
}

// MaxPinFile bounds the size of a pin file.
const MaxPinFile = 4 << 20

// ParsePinFile reads a pin file, strictly: unknown keys, duplicate keys,
// several documents, malformed hashes and unusable names are errors, all
// reported at once.
func ParsePinFile(b []byte) ([]Pin, error) {
	if len(b) > MaxPinFile {
		return nil, fmt.Errorf("pinning: pin file larger than %d bytes", MaxPinFile)
	}
	var f pinFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("pinning: pin file: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("pinning: pin file must be a single YAML document")
	}
	var problems []string
	if f.Version != 0 && f.Version != 1 {
		problems = append(problems, fmt.Sprintf("version %d is not supported (want 1)", f.Version))
	}
	var pins []Pin
	for _, server := range slices.Sorted(maps.Keys(f.Servers)) {
		if !validServerName(server) {
			problems = append(problems, fmt.Sprintf("servers.%q: server names are 1-64 letters, digits, '-' or '_'", server))
			continue
		}
		tools := f.Servers[server].Tools
		for _, tool := range slices.Sorted(maps.Keys(tools)) {
			hash := tools[tool]
			at := fmt.Sprintf("servers.%s.tools.%q", server, tool)
			switch {
			case !validToolName(tool):
				problems = append(problems, at+": tool names are 1-128 characters of valid UTF-8 without control characters")
			case !validHash(hash):
				problems = append(problems, at+": hash must be \"sha256:\" and 64 lowercase hex digits")
			default:
				pins = append(pins, Pin{Server: server, Tool: tool, Hash: hash, ApprovedBy: ApprovedByPinFile})
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("pinning: pin file: %s", strings.Join(problems, "; "))
	}
	return pins, nil
}

// FormatPinFile writes pins as a pin file (sorted, so that it diffs well
// under version control).
func FormatPinFile(pins []Pin) []byte {
	byServer := map[string]map[string]string{}
	for _, p := range pins {
		if byServer[p.Server] == nil {
			byServer[p.Server] = map[string]string{}
		}
		byServer[p.Server][p.Tool] = p.Hash
	}
	var b bytes.Buffer
	b.WriteString("# mcpfort tool pins: the approved definition of each tool, by RFC 8785 SHA-256 hash.\nversion: 1\nservers:")
	if len(byServer) == 0 {
		b.WriteString(" {}\n")
		return b.Bytes()
	}
	b.WriteByte('\n')
	for _, server := range slices.Sorted(maps.Keys(byServer)) {
		fmt.Fprintf(&b, "  %s:\n    tools:\n", server)
		for _, tool := range slices.Sorted(maps.Keys(byServer[server])) {
			// Double-quoted YAML scalars take JSON string escapes.
			fmt.Fprintf(&b, "      %s: %s\n", quoteYAML(tool), byServer[server][tool])
		}
	}
	return b.Bytes()
}

func quoteYAML(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r > 0xFFFF || (r >= 0x80 && r <= 0x9F) || r == 0x2028 || r == 0x2029 || r == 0xFEFF:
			if r > 0xFFFF {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func validServerName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '_'))) {
			return false
		}
	}
	return true
}

func validToolName(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 128 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
