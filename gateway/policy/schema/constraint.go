package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mcpfort/mcpfort/gateway/policy/internal/glob"
)

// ToolConstraints are operator rules for the arguments of the tools whose
// name matches Tool.
type ToolConstraints struct {
	// Tool is a tool name or glob pattern ('*' any run, '?' one
	// character). Every entry that matches a tool applies.
	Tool string
	// Args are the rules.
	Args []Constraint
}

// Constraint restricts the argument values at Path. A value that fails a
// string check (MinLength, MaxLength, Pattern, DenyPattern) because it is
// not a string fails it, and likewise for numbers (Minimum, Maximum) and
// arrays (MaxItems): an operator rule never lets a value of another type
// slip past it.
type Constraint struct {
	// Path is a JSON Pointer (RFC 6901) into the arguments object, such as
	// "/query" or "/filters/0/value"; a segment "*" stands for every
	// member of an object or every element of an array. Required.
	Path string
	// Required makes the member mandatory whenever its parent object is
	// present.
	Required bool
	// MinLength and MaxLength bound a string's length in characters
	// (Unicode code points, as JSON Schema counts). Zero: no bound.
	MinLength, MaxLength int
	// MaxItems bounds an array's length. Zero: no bound.
	MaxItems int
	// Pattern is a regular expression (RE2 syntax, unanchored as in JSON
	// Schema) a string must match.
	Pattern string
	// DenyPattern is a regular expression no string may match (such as
	// `\.\./` for path traversal).
	DenyPattern string
	// Enum lists the only values allowed (compared as JSON values, so 1
	// and 1.0 are equal).
	Enum []any
	// Deny lists values refused.
	Deny []any
	// Minimum and Maximum bound a number, inclusively.
	Minimum, Maximum *float64
}

// constraint is a compiled Constraint.
type constraint struct {
	path      []string // unescaped segments; "*" is the wildcard
	src       Constraint
	pattern   *regexp.Regexp
	deny      *regexp.Regexp
	enum      []any // decoded like arguments (json.Number)
	denyVals  []any
	hasString bool
}

type toolRules struct {
	tool glob.Pattern
	args []constraint
}

// maxPathSegments bounds a constraint path; arguments are at most
// defaultDepth deep anyway.
const maxPathSegments = 64

// parsePointer parses a JSON Pointer (RFC 6901 section 3): "" or a
// sequence of "/"-prefixed segments, with "~1" for '/' and "~0" for '~';
// any other '~' escape is an error (section 4).
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, errors.New("empty path: name an argument, such as /query")
	}
	if p[0] != '/' {
		return nil, errors.New(`a path must start with "/"`)
	}
	if !utf8.ValidString(p) {
		return nil, errors.New("path is not valid UTF-8")
	}
	segs := strings.Split(p[1:], "/")
	if len(segs) > maxPathSegments {
		return nil, fmt.Errorf("path has more than %d segments", maxPathSegments)
	}
	for i, s := range segs {
		if !strings.Contains(s, "~") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(s); j++ {
			if s[j] != '~' {
				b.WriteByte(s[j])
				continue
			}
			if j+1 >= len(s) || (s[j+1] != '0' && s[j+1] != '1') {
				return nil, fmt.Errorf("invalid escape in segment %q (use ~0 for ~ and ~1 for /)", s)
			}
			if s[j+1] == '0' {
				b.WriteByte('~')
			} else {
				b.WriteByte('/')
			}
			j++
		}
		segs[i] = b.String()
	}
	return segs, nil
}

// escapeSegment writes one pointer segment (RFC 6901 section 3).
func escapeSegment(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// compileConstraints compiles the operator rules, reporting every problem.
func compileConstraints(in []ToolConstraints) ([]toolRules, error) {
	var out []toolRules
	var errs []error
	for i, tc := range in {
		at := fmt.Sprintf("constraints[%d]", i)
		p, err := glob.Compile(tc.Tool)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.tool: %w", at, err))
		}
		tr := toolRules{tool: p}
		for j, c := range tc.Args {
			cc, err := compileConstraint(c)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.args[%d] (%s): %w", at, j, c.Path, err))
				continue
			}
			tr.args = append(tr.args, cc)
		}
		out = append(out, tr)
	}
	return out, errors.Join(errs...)
}

func compileConstraint(c Constraint) (constraint, error) {
	var errs []error
	cc := constraint{src: c}
	var err error
	if cc.path, err = parsePointer(c.Path); err != nil {
		errs = append(errs, err)
	}
	if c.MinLength < 0 || c.MaxLength < 0 || c.MaxItems < 0 {
		errs = append(errs, errors.New("lengths must not be negative"))
	}
	if c.MaxLength > 0 && c.MinLength > c.MaxLength {
		errs = append(errs, errors.New("minLength exceeds maxLength"))
	}
	if c.Minimum != nil && c.Maximum != nil && *c.Minimum > *c.Maximum {
		errs = append(errs, errors.New("minimum exceeds maximum"))
	}
	if c.Pattern != "" {
		if cc.pattern, err = regexp.Compile(c.Pattern); err != nil {
			errs = append(errs, fmt.Errorf("pattern: %w", err))
		}
	}
	if c.DenyPattern != "" {
		if cc.deny, err = regexp.Compile(c.DenyPattern); err != nil {
			errs = append(errs, fmt.Errorf("denyPattern: %w", err))
		}
	}
	if cc.enum, err = normalize(c.Enum); err != nil {
		errs = append(errs, fmt.Errorf("enum: %w", err))
	}
	if cc.denyVals, err = normalize(c.Deny); err != nil {
		errs = append(errs, fmt.Errorf("deny: %w", err))
	}
	cc.hasString = c.MinLength > 0 || c.MaxLength > 0 || cc.pattern != nil || cc.deny != nil
	return cc, errors.Join(errs...)
}

// normalize turns configured values (from YAML or Go) into the shapes
// decoded arguments have, so that they compare as JSON values.
func normalize(vals []any) ([]any, error) {
	if vals == nil {
		return nil, nil
	}
	b, err := json.Marshal(vals)
	if err != nil {
		return nil, err
	}
	v, err := decodeArgs(b, defaultDepth, defaultValues)
	if err != nil {
		return nil, err
	}
	return v.([]any), nil
}

// violation is one failed check, at the concrete location of the value.
type violation struct {
	at  string
	msg string
}

// check applies c to args and appends what fails.
func (c *constraint) check(args any, out []violation) []violation {
	var walk func(v any, segs []string, at string)
	walk = func(v any, segs []string, at string) {
		if len(segs) == 0 {
			out = c.checkValue(v, at, out)
			return
		}
		seg, rest := segs[0], segs[1:]
		switch v := v.(type) {
		case map[string]any:
			if seg == "*" {
				for k, e := range v {
					walk(e, rest, at+"/"+escapeSegment(k))
				}
				return
			}
			e, ok := v[seg]
			if !ok {
				if len(rest) == 0 && c.src.Required {
					out = append(out, violation{at + "/" + escapeSegment(seg), "is required by gateway policy"})
				}
				return
			}
			walk(e, rest, at+"/"+escapeSegment(seg))
		case []any:
			if seg == "*" {
				for i, e := range v {
					walk(e, rest, at+"/"+strconv.Itoa(i))
				}
				return
			}
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) || (len(seg) > 1 && seg[0] == '0') {
				return
			}
			walk(v[i], rest, at+"/"+seg)
		}
	}
	walk(args, c.path, "")
	return out
}

func (c *constraint) checkValue(v any, at string, out []violation) []violation {
	bad := func(msg string) { out = append(out, violation{at, msg}) }
	if c.hasString {
		s, ok := v.(string)
		if !ok {
			bad("must be a string")
			return out
		}
		n := utf8.RuneCountInString(s)
		if c.src.MaxLength > 0 && n > c.src.MaxLength {
			bad(fmt.Sprintf("is longer than %d characters", c.src.MaxLength))
		}
		if c.src.MinLength > 0 && n < c.src.MinLength {
			bad(fmt.Sprintf("is shorter than %d characters", c.src.MinLength))
		}
		if c.pattern != nil && !c.pattern.MatchString(s) {
			bad("does not match the pattern required by gateway policy")
		}
		if c.deny != nil && c.deny.MatchString(s) {
			bad("matches a pattern refused by gateway policy")
		}
	}
	if c.src.MaxItems > 0 {
		if a, ok := v.([]any); !ok {
			bad("must be an array")
		} else if len(a) > c.src.MaxItems {
			bad(fmt.Sprintf("has more than %d items", c.src.MaxItems))
		}
	}
	if c.src.Minimum != nil || c.src.Maximum != nil {
		n, ok := v.(json.Number)
		f, err := strconv.ParseFloat(string(n), 64)
		switch {
		case !ok || err != nil:
			bad("must be a number")
		case c.src.Minimum != nil && f < *c.src.Minimum:
			bad(fmt.Sprintf("must be at least %v", *c.src.Minimum))
		case c.src.Maximum != nil && f > *c.src.Maximum:
			bad(fmt.Sprintf("must be at most %v", *c.src.Maximum))
		}
	}
	if c.enum != nil && !containsValue(c.enum, v) {
		bad("is not one of the values allowed by gateway policy")
	}
	if containsValue(c.denyVals, v) {
		bad("is a value refused by gateway policy")
	}
	return out
}

func containsValue(list []any, v any) bool {
	for _, e := range list {
		if equalJSON(e, v) {
			return true
		}
	}
	return false
}

// equalJSON compares two decoded JSON values; numbers compare by value.
func equalJSON(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		bn, ok := b.(json.Number)
		if !ok {
			return false
		}
		if a == bn {
			return true
		}
		// Both passed checkNumber, so exact arithmetic is cheap.
		ra, ok1 := new(big.Rat).SetString(string(a))
		rb, ok2 := new(big.Rat).SetString(string(bn))
		return ok1 && ok2 && ra.Cmp(rb) == 0
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			w, ok := bm[k]
			if !ok || !equalJSON(v, w) {
				return false
			}
		}
		return true
	case []any:
		ba, ok := b.([]any)
		if !ok || len(a) != len(ba) {
			return false
		}
		for i := range a {
			if !equalJSON(a[i], ba[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
