package glob

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxPatternLen bounds a pattern's length in bytes; patterns are operator
// configuration, and a longer one is almost certainly a mistake.
const MaxPatternLen = 1024

// ErrSyntax reports a malformed pattern.
var ErrSyntax = errors.New("glob: invalid pattern")

// Pattern is a compiled glob pattern. The zero value matches nothing.
type Pattern struct {
	src string
	// segs are the pieces between stars. With no star, segs holds one
	// piece that must match the whole name.
	segs    []segment
	star    bool // the pattern holds at least one '*'
	literal bool // no metacharacters: match by string equality
}

// segment is a run of literal text and '?' wildcards.
type segment struct {
	parts []part
	lit   string // the whole segment when it has no '?' (fast path)
	plain bool
}

// part is literal text, or one '?' when any is set.
type part struct {
	text string
	any  bool
}

// Compile parses pattern.
func Compile(pattern string) (Pattern, error) {
	if pattern == "" {
		return Pattern{}, fmt.Errorf("%w: empty pattern", ErrSyntax)
	}
	if len(pattern) > MaxPatternLen {
		return Pattern{}, fmt.Errorf("%w: longer than %d bytes", ErrSyntax, MaxPatternLen)
	}
	if !utf8.ValidString(pattern) {
		return Pattern{}, fmt.Errorf("%w: not valid UTF-8", ErrSyntax)
	}
	p := Pattern{src: pattern, literal: !strings.ContainsAny(pattern, `*?\`)}
	if p.literal {
		return p, nil
	}
	var cur segment
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			cur.parts = append(cur.parts, part{text: lit.String()})
			lit.Reset()
		}
	}
	endSegment := func() {
		flush()
		cur.plain = true
		for _, pt := range cur.parts {
			if pt.any {
				cur.plain = false
			}
		}
		if cur.plain {
			var b strings.Builder
			for _, pt := range cur.parts {
				b.WriteString(pt.text)
			}
			cur.lit = b.String()
		}
		p.segs = append(p.segs, cur)
		cur = segment{}
	}
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '\\':
			if i+1 >= len(pattern) {
				return Pattern{}, fmt.Errorf("%w: trailing backslash", ErrSyntax)
			}
			_, size := utf8.DecodeRuneInString(pattern[i+1:])
			lit.WriteString(pattern[i+1 : i+1+size])
			i += size
		case '*':
			p.star = true
			endSegment()
			// Consecutive stars are one star.
			for i+1 < len(pattern) && pattern[i+1] == '*' {
				i++
			}
		case '?':
			flush()
			cur.parts = append(cur.parts, part{any: true})
		default:
			lit.WriteByte(c)
		}
	}
	endSegment()
	return p, nil
}

// MustCompile is Compile for patterns known to be valid (tests, constants).
func MustCompile(pattern string) Pattern {
	p, err := Compile(pattern)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the source pattern.
func (p Pattern) String() string { return p.src }

// Literal reports whether the pattern has no metacharacters, so that it
// matches exactly one name: the pattern itself.
func (p Pattern) Literal() bool { return p.literal }

// Match reports whether name matches the whole pattern.
func (p Pattern) Match(name string) bool {
	if p.literal {
		return p.src != "" && name == p.src
	}
	if len(p.segs) == 0 {
		return false
	}
	if !p.star {
		end, ok := p.segs[0].matchAt(name, 0)
		return ok && end == len(name)
	}
	// With stars, the first segment is anchored at the start and the last
	// at the end; each middle segment is placed at its leftmost match. The
	// leftmost placement never loses a match, because a star absorbs
	// whatever lies between segments, so no backtracking is needed.
	first, last := p.segs[0], p.segs[len(p.segs)-1]
	i, ok := first.matchAt(name, 0)
	if !ok {
		return false
	}
	for _, s := range p.segs[1 : len(p.segs)-1] {
		end, ok := s.find(name, i)
		if !ok {
			return false
		}
		i = end
	}
	return last.matchSuffix(name, i)
}

// matchAt matches s at name[i:] and returns the end of the match.
func (s segment) matchAt(name string, i int) (int, bool) {
	if s.plain {
		if strings.HasPrefix(name[i:], s.lit) {
			return i + len(s.lit), true
		}
		return 0, false
	}
	for _, pt := range s.parts {
		if pt.any {
			if i >= len(name) {
				return 0, false
			}
			_, size := utf8.DecodeRuneInString(name[i:])
			i += size
			continue
		}
		if !strings.HasPrefix(name[i:], pt.text) {
			return 0, false
		}
		i += len(pt.text)
	}
	return i, true
}

// find places s at its leftmost match in name[from:] and returns the end
// of that match.
func (s segment) find(name string, from int) (end int, ok bool) {
	if s.plain {
		k := strings.Index(name[from:], s.lit)
		if k < 0 {
			return 0, false
		}
		return from + k + len(s.lit), true
	}
	for i := from; i <= len(name); {
		if end, ok := s.matchAt(name, i); ok {
			return end, true
		}
		if i == len(name) {
			break
		}
		_, size := utf8.DecodeRuneInString(name[i:])
		i += size
	}
	return 0, false
}

// matchSuffix reports whether s matches a suffix of name that starts at or
// after from.
func (s segment) matchSuffix(name string, from int) bool {
	if s.plain {
		return len(name)-from >= len(s.lit) && strings.HasSuffix(name, s.lit)
	}
	// '?' spans a whole rune, so the suffix's start is found by trying each
	// rune boundary from the end: a segment of n literal bytes and r '?'
	// needs at least n+r bytes and at most n+4r.
	minLen, maxLen := 0, 0
	for _, pt := range s.parts {
		if pt.any {
			minLen++
			maxLen += utf8.UTFMax
		} else {
			minLen += len(pt.text)
			maxLen += len(pt.text)
		}
	}
	for n := minLen; n <= maxLen && len(name)-n >= from; n++ {
		start := len(name) - n
		if start < len(name) && !utf8.RuneStart(name[start]) {
			continue
		}
		if end, ok := s.matchAt(name, start); ok && end == len(name) {
			return true
		}
	}
	return false
}

// List is a set of patterns; a name matches the list when it matches any
// pattern. Literal patterns are looked up in a map, so long lists of exact
// names cost one lookup.
type List struct {
	exact    map[string]struct{}
	patterns []Pattern
}

// CompileList compiles every pattern, reporting all errors at once.
func CompileList(patterns []string) (List, error) {
	var l List
	var errs []error
	for _, s := range patterns {
		p, err := Compile(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q: %w", s, err))
			continue
		}
		if p.Literal() {
			if l.exact == nil {
				l.exact = make(map[string]struct{})
			}
			l.exact[s] = struct{}{}
			continue
		}
		l.patterns = append(l.patterns, p)
	}
	if len(errs) > 0 {
		return List{}, errors.Join(errs...)
	}
	return l, nil
}

// Empty reports whether the list holds no pattern.
func (l List) Empty() bool { return len(l.exact) == 0 && len(l.patterns) == 0 }

// Match reports whether name matches any pattern of the list.
func (l List) Match(name string) bool {
	if _, ok := l.exact[name]; ok {
		return true
	}
	for _, p := range l.patterns {
		if p.Match(name) {
			return true
		}
	}
	return false
}
