package pinning

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mcpfort/mcpfort/internal/textcut"
)

// Finding is one injection cue found in a tool definition.
type Finding struct {
	// Kind is "hidden_text" (invisible or direction-changing Unicode),
	// "instruction" (words aimed at the model rather than describing the
	// tool) or "exfiltration" (a secret file or a destination for data).
	Kind string `json:"kind"`
	// Path is the JSON Pointer (RFC 6901) of the string in the canonical
	// definition; a cue in a member name points at the member.
	Path string `json:"path"`
	// Detail says what was found, with hidden characters spelled out.
	Detail string `json:"detail"`
}

func (f Finding) String() string { return f.Kind + " at " + f.Path + ": " + f.Detail }

type cue struct {
	kind, label string
	re          *regexp.Regexp
}

// scanner holds the compiled cue patterns. It is immutable.
type scanner struct {
	cues []cue
}

// newScanner compiles the built-in cues and the operator's extra patterns
// (RE2, matched case-insensitively).
func newScanner(extra []string) (*scanner, error) {
	s := &scanner{}
	add := func(kind, label, pattern string) error {
		re, err := regexp.Compile(`(?i)` + pattern)
		if err != nil {
			return fmt.Errorf("pinning: cue %q: %w", label, err)
		}
		s.cues = append(s.cues, cue{kind: kind, label: label, re: re})
		return nil
	}
	builtin := []struct{ kind, label, pattern string }{
		{"instruction", "override of earlier instructions", `\b(ignore|disregard|forget|override)\s+(all\s+|any\s+)?(of\s+)?(the\s+|your\s+)?(previous|prior|above|earlier|preceding|other|system|original)\s+(instructions?|prompts?|directions?|rules?|messages?|context)`},
		{"instruction", "secrecy toward the user", `\b(do\s+not|don't|never|must\s+not)\s+(tell|inform|mention|reveal|disclose|notify|alert|show|let)\b[^.]{0,30}\buser`},
		{"instruction", "secrecy toward the user", `\bwithout\s+(telling|informing|notifying|alerting|asking|showing)\s+(the\s+)?user`},
		{"instruction", "secrecy toward the user", `\buser\s+(must|should|does|need)\s+not\s+(know|see|notice|be\s+told|be\s+informed)`},
		{"instruction", "role change", `\b(you\s+are\s+now|from\s+now\s+on,?\s+you|new\s+instructions|system\s+prompt)\b`},
		{"instruction", "markup addressed to the model", `<\s*/?\s*(important|system|instructions?|secret|admin)\s*>|\[\s*(system|important|instructions?)\s*\]`},
		{"instruction", "precondition on other tools", `\bbefore\s+(using|calling|running|invoking|executing)\s+(this|the|any\s+other|any)\s+tools?\b[^.]{0,40}\b(read|call|pass|send|include|fetch|run|provide)\b`},
		{"instruction", "claimed priority", `\b(these|this)\s+(instructions?|rules?)\s+(take|takes|have|has)\s+(precedence|priority)|\b(highest|top)\s+priority\s+instruction`},
		{"exfiltration", "secret file path", `(~|\$HOME|%USERPROFILE%)?/?\.(ssh|aws|gnupg|kube|docker)/|\bid_(rsa|ed25519|ecdsa|dsa)\b|/etc/(passwd|shadow)\b|\.git-credentials\b|\.netrc\b|\bmcp\.json\b|\.env\b|\bcredentials\.json\b`},
		{"exfiltration", "data sent to a URL", `\b(send|post|upload|forward|exfiltrate|transmit|leak|copy|report)\b[^.\n]{0,80}\b(to|at|via)\b[^.\n]{0,40}(https?://|webhook)`},
		{"exfiltration", "fetch of a URL", `\b(curl|wget|fetch)\s+\S{0,20}https?://`},
	}
	for _, c := range builtin {
		if err := add(c.kind, c.label, c.pattern); err != nil {
			return nil, err
		}
	}
	for i, p := range extra {
		if err := add("instruction", "operator pattern "+strconv.Itoa(i+1), p); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// scan walks a canonical definition and reports every cue, at most a few
// per string and 32 in all.
func (s *scanner) scan(canon []byte) []Finding {
	var v any
	if err := json.Unmarshal(canon, &v); err != nil {
		return nil
	}
	var out []Finding
	s.walk(v, "", &out)
	return out
}

const maxFindings = 32

func (s *scanner) walk(v any, path string, out *[]Finding) {
	if len(*out) >= maxFindings {
		return
	}
	switch x := v.(type) {
	case string:
		s.text(x, path, out)
	case []any:
		for i, e := range x {
			s.walk(e, path+"/"+strconv.Itoa(i), out)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			p := path + "/" + escapePointer(k)
			s.hidden(k, p, out)
			s.walk(x[k], p, out)
		}
	}
}

func escapePointer(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// text looks for hidden characters, then for cues in the visible text, in
// the text with the hidden characters removed (so that a zero-width space
// cannot split "ignore"), and in what tag characters spell.
func (s *scanner) text(str, path string, out *[]Finding) {
	smuggled := s.hidden(str, path, out)
	visible := stripHidden(str)
	seen := map[string]bool{}
	for _, t := range []string{visible, smuggled} {
		if t == "" {
			continue
		}
		norm := strings.Join(strings.Fields(t), " ")
		for _, c := range s.cues {
			if seen[c.label] {
				continue
			}
			if m := c.re.FindString(norm); m != "" {
				seen[c.label] = true
				detail := c.label + ": " + strconv.Quote(excerpt(m))
				if t == smuggled {
					detail += " (spelled in hidden tag characters)"
				}
				*out = append(*out, Finding{Kind: c.kind, Path: path, Detail: detail})
			}
		}
	}
}

// hidden reports invisible and direction-changing characters in str and
// returns the ASCII that Unicode tag characters in it spell.
func (s *scanner) hidden(str, path string, out *[]Finding) string {
	var tags strings.Builder
	counts := map[string]int{}
	var prev rune
	for i, r := range str {
		var next rune
		if j := i + utf8.RuneLen(r); j < len(str) {
			next, _ = utf8.DecodeRuneInString(str[j:])
		}
		if class := hiddenClass(r, prev, next); class != "" {
			counts[class]++
			if r >= 0xE0020 && r <= 0xE007E {
				tags.WriteRune(r - 0xE0000)
			}
		}
		prev = r
	}
	for _, class := range []string{"tag characters", "bidirectional controls", "zero-width or invisible characters", "variation selectors", "control characters"} {
		if n := counts[class]; n > 0 {
			detail := fmt.Sprintf("%d %s", n, class)
			if class == "tag characters" && tags.Len() > 0 {
				detail += " spelling " + strconv.Quote(excerpt(tags.String()))
			}
			*out = append(*out, Finding{Kind: "hidden_text", Path: path, Detail: detail})
		}
	}
	return tags.String()
}

// hiddenClass classifies a character a reader cannot see or that reorders
// what they see, or returns "". Zero-width joiners and the emoji variation
// selector are allowed where emoji use them.
func hiddenClass(r, prev, next rune) string {
	switch {
	case r >= 0xE0000 && r <= 0xE007F:
		return "tag characters"
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return "bidirectional controls"
	case r == 0x200D:
		if isEmoji(prev) && isEmoji(next) {
			return ""
		}
		return "zero-width or invisible characters"
	case r == 0x200B, r == 0x200C, r >= 0x2060 && r <= 0x2064, r == 0xFEFF, r == 0x180E, r == 0x00AD, r == 0x034F,
		r == 0x115F, r == 0x1160, r == 0x3164, r == 0xFFA0, r == 0x17B4, r == 0x17B5, r >= 0xFFF9 && r <= 0xFFFB:
		return "zero-width or invisible characters"
	case r == 0xFE0F:
		if isEmoji(prev) || next == 0x20E3 {
			return ""
		}
		return "variation selectors"
	case r >= 0xFE00 && r <= 0xFE0E, r >= 0xE0100 && r <= 0xE01EF:
		return "variation selectors"
	case r < 0x20 && r != '\n' && r != '\t' && r != '\r', r >= 0x7F && r <= 0x9F:
		return "control characters"
	}
	return ""
}

func isEmoji(r rune) bool {
	return r >= 0x1F000 && r <= 0x1FAFF || r >= 0x2600 && r <= 0x27BF || r >= 0x2300 && r <= 0x23FF || r == 0x2B50 || r == 0x2B55 || r == 0xFE0F
}

func stripHidden(s string) string {
	var b strings.Builder
	var prev rune
	for i, r := range s {
		var next rune
		if j := i + utf8.RuneLen(r); j < len(s) {
			next, _ = utf8.DecodeRuneInString(s[j:])
		}
		if hiddenClass(r, prev, next) == "" {
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

func excerpt(s string) string { return textcut.Cut(s, 80) }
