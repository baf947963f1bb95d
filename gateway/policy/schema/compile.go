package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaURL is the base URI every inputSchema is compiled under. The
// reserved .invalid name (RFC 6761 section 6.4) can never resolve, and the
// loader refuses every URL anyway: only references inside the schema, and
// the standard metaschemas the library embeds, are ever resolved.
const schemaURL = "https://inputschema.mcpfort.invalid/tool.json"

// Reasons a schema cannot be used; they reach the client in a refusal.
var (
	errExternalRef    = errors.New("it references a schema outside itself, which the gateway never fetches")
	errTooComplex     = errors.New("validating it could take too long (it exceeds the gateway's complexity bound)")
	errRefCycle       = errors.New("it has a reference cycle")
	errNotAnObject    = errors.New("it is not a JSON object")
	errTooLarge       = errors.New("it is too large")
	errCompilerFailed = errors.New("the validator failed on it")
)

// refuseLoader is the compiler's loader: it never fetches anything (no
// network, no file system). 2026-07-28 basic "$ref Resolution":
// implementations MUST NOT automatically dereference network URIs, and a
// schema with an unresolved external $ref SHOULD be rejected rather than
// treated as permissive.
type refuseLoader struct{}

func (refuseLoader) Load(string) (any, error) { return nil, errExternalRef }

// compileSchema compiles one inputSchema and checks its cost bound. The
// schema comes from the upstream: should the library fail on it in a way
// its authors did not foresee, that schema is unusable, and the gateway
// goes on.
func compileSchema(raw []byte, limits compileLimits) (sch *jsonschema.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			sch, err = nil, errCompilerFailed
		}
	}()
	if len(raw) > limits.maxBytes {
		return nil, errTooLarge
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("it is not valid JSON: %w", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, errNotAnObject
	}
	c := jsonschema.NewCompiler()
	// 2026-07-28 basic "Schema Dialect": no $schema means 2020-12.
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("it cannot be loaded: %w", err)
	}
	sch, err = c.Compile(schemaURL)
	if err != nil {
		if errors.Is(err, errExternalRef) {
			return nil, errExternalRef
		}
		var le *jsonschema.LoadURLError
		if errors.As(err, &le) {
			return nil, errExternalRef
		}
		return nil, fmt.Errorf("it is not a valid JSON Schema: %w", err)
	}
	if _, err := schemaCost(sch, limits.maxDepth, limits.maxCost); err != nil {
		return nil, err
	}
	return sch, nil
}

type compileLimits struct {
	maxBytes int
	maxDepth int   // deepest argument nesting the validator can see
	maxCost  int64 // schema applications allowed at one instance location
}

// schemaCost bounds the work of validating any instance against sch: it
// returns the largest number of subschema evaluations that can land on one
// value of an instance nested at most maxDepth deep, and errTooComplex
// when that exceeds limit. Total validation work is at most that times the
// number of values in the instance, which decodeArgs bounds.
//
// At a value, a subschema applies itself and its in-place applicators
// ($ref, allOf, anyOf, oneOf, not, if/then/else, dependentSchemas): the set
// of subschemas at a value is the in-place closure of those routed to it,
// with multiplicity (anyOf over two references to one definition applies
// it twice). A member of an object gets, from each subschema at the
// object, the property schema of its name, the matching pattern
// properties, additionalProperties and unevaluatedProperties; an array
// item likewise gets its prefix item or items, contains and
// unevaluatedItems. The analysis follows every distinct member name the
// schemas mention (and "any other name", and each prefix position), down
// to maxDepth, remembering states it has seen. A $dynamicRef or
// $recursiveRef resolves to one target at run time, so it counts as its
// most expensive candidate.
//
// This is what refuses exponential schemas: a chain of anyOf over shared
// $defs, or a recursion that applies the root twice per level, doubles per
// step, while ordinary recursion (trees, the JSON Schema metaschema) stays
// linear.
func schemaCost(sch *jsonschema.Schema, maxDepth int, limit int64) (int64, error) {
	a := &analysis{limit: limit, ids: map[*jsonschema.Schema]int32{}, dyn: map[string][]*jsonschema.Schema{},
		closures: map[*jsonschema.Schema]multiset{}, seen: map[string]int64{}, onPath: map[string]bool{}}
	a.collect(sch)
	root, err := a.closure(sch)
	if err != nil {
		return 0, err
	}
	return a.explore(root, maxDepth)
}

// maxSteps bounds the analysis itself.
const maxSteps = 50_000

// multiset maps schema ids to how many times they apply at one value.
type multiset map[int32]int64

type analysis struct {
	limit    int64
	steps    int
	ids      map[*jsonschema.Schema]int32
	byID     []*jsonschema.Schema
	dyn      map[string][]*jsonschema.Schema // $dynamicAnchor name -> schemas
	rec      []*jsonschema.Schema            // schemas with $recursiveAnchor
	closures map[*jsonschema.Schema]multiset // nil value: being computed
	seen     map[string]int64                // explored state -> its worst count
	onPath   map[string]bool                 // states on the current path
}

// collect numbers every schema reachable from s and finds the dynamic
// anchors.
func (a *analysis) collect(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if _, ok := a.ids[s]; ok {
		return
	}
	a.ids[s] = int32(len(a.byID))
	a.byID = append(a.byID, s)
	if s.DynamicAnchor != "" {
		a.dyn[s.DynamicAnchor] = append(a.dyn[s.DynamicAnchor], s)
	}
	if s.RecursiveAnchor {
		a.rec = append(a.rec, s)
	}
	forEachChild(s, a.collect)
}

func (a *analysis) step() error {
	if a.steps++; a.steps > maxSteps {
		return errTooComplex
	}
	return nil
}

func total(m multiset) int64 {
	var n int64
	for _, c := range m {
		n = satAdd(n, c)
	}
	return n
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func satMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

// addInto adds n copies of m to dst, failing past the limit.
func (a *analysis) addInto(dst, m multiset, n int64) error {
	for id, c := range m {
		dst[id] = satAdd(dst[id], satMul(c, n))
		if dst[id] > a.limit {
			return errTooComplex
		}
	}
	return nil
}

// closure is the multiset of subschemas that applying s at a value
// applies there (s included).
func (a *analysis) closure(s *jsonschema.Schema) (multiset, error) {
	if m, ok := a.closures[s]; ok {
		if m == nil {
			return nil, errRefCycle
		}
		return m, nil
	}
	if err := a.step(); err != nil {
		return nil, err
	}
	a.closures[s] = nil
	m := multiset{a.ids[s]: 1}
	var err error
	add := func(c *jsonschema.Schema) {
		if err != nil || c == nil {
			return
		}
		var cm multiset
		if cm, err = a.closure(c); err == nil {
			err = a.addInto(m, cm, 1)
		}
	}
	// The most expensive of a run-time choice between targets.
	worst := func(cands []*jsonschema.Schema) {
		var best multiset
		for _, c := range cands {
			if err != nil {
				return
			}
			var cm multiset
			if cm, err = a.closure(c); err == nil && (best == nil || total(cm) > total(best)) {
				best = cm
			}
		}
		if err == nil && best != nil {
			err = a.addInto(m, best, 1)
		}
	}
	if s.Bool == nil {
		add(s.Ref)
		if r := s.RecursiveRef; r != nil {
			cands := []*jsonschema.Schema{r}
			if r.RecursiveAnchor {
				cands = append(cands, a.rec...)
			}
			worst(cands)
		}
		if d := s.DynamicRef; d != nil && d.Ref != nil {
			cands := []*jsonschema.Schema{d.Ref}
			if d.Anchor != "" && d.Ref.DynamicAnchor == d.Anchor {
				cands = append(cands, a.dyn[d.Anchor]...)
			}
			worst(cands)
		}
		add(s.Not)
		for _, l := range [][]*jsonschema.Schema{s.AllOf, s.AnyOf, s.OneOf} {
			for _, c := range l {
				add(c)
			}
		}
		add(s.If)
		add(s.Then)
		add(s.Else)
		for _, c := range s.DependentSchemas {
			add(c)
		}
		for _, d := range s.Dependencies {
			if c, ok := d.(*jsonschema.Schema); ok {
				add(c)
			}
		}
	}
	if err != nil {
		delete(a.closures, s)
		return nil, err
	}
	a.closures[s] = m
	return m, nil
}

// key is a canonical name for a multiset, to remember explored states.
func (m multiset) key() string {
	ids := make([]int32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b := make([]byte, 0, len(ids)*12)
	for _, id := range ids {
		b = binary.AppendVarint(b, int64(id))
		b = binary.AppendVarint(b, m[id])
	}
	return string(b)
}

// explore returns the largest count at a value holding m or below it,
// down to k more levels.
func (a *analysis) explore(m multiset, k int) (int64, error) {
	if err := a.step(); err != nil {
		return 0, err
	}
	here := total(m)
	if here > a.limit {
		return 0, errTooComplex
	}
	if k == 0 {
		return here, nil
	}
	mk := m.key()
	if a.onPath[mk] {
		// The same set of subschemas already applies at an ancestor value:
		// everything below here repeats, with less depth, what is explored
		// below that ancestor, so it cannot raise the maximum. (Memoized
		// results cut this way may undercount their own subtree, but never
		// the overall maximum, which is all that is asked.)
		return here, nil
	}
	key := mk + "@" + strconv.Itoa(k)
	if v, ok := a.seen[key]; ok {
		return v, nil
	}
	a.onPath[mk] = true
	defer delete(a.onPath, mk)
	worst := here
	visit := func(routed func(s *jsonschema.Schema, add func(*jsonschema.Schema))) error {
		child := multiset{}
		var err error
		for id, n := range m {
			routed(a.byID[id], func(c *jsonschema.Schema) {
				if err != nil || c == nil {
					return
				}
				var cm multiset
				if cm, err = a.closure(c); err == nil {
					err = a.addInto(child, cm, n)
				}
			})
		}
		if err != nil || len(child) == 0 {
			return err
		}
		v, err := a.explore(child, k-1)
		worst = max(worst, v)
		return err
	}
	// Object members: each name some schema mentions, and any other name.
	names := map[string]bool{}
	maxPrefix := 0
	for id := range m {
		s := a.byID[id]
		for p := range s.Properties {
			names[p] = true
		}
		if tuple, ok := s.Items.([]*jsonschema.Schema); ok {
			maxPrefix = max(maxPrefix, len(tuple))
		}
		maxPrefix = max(maxPrefix, len(s.PrefixItems))
	}
	sorted := make([]string, 0, len(names))
	for p := range names {
		sorted = append(sorted, p)
	}
	slices.Sort(sorted)
	for _, p := range sorted {
		if err := visit(func(s *jsonschema.Schema, add func(*jsonschema.Schema)) { memberRoutes(s, p, true, add) }); err != nil {
			return 0, err
		}
	}
	if err := visit(func(s *jsonschema.Schema, add func(*jsonschema.Schema)) { memberRoutes(s, "", false, add) }); err != nil {
		return 0, err
	}
	// Member names themselves.
	if err := visit(func(s *jsonschema.Schema, add func(*jsonschema.Schema)) { add(s.PropertyNames) }); err != nil {
		return 0, err
	}
	// Array items: each prefix position, and the rest.
	for i := 0; i <= maxPrefix; i++ {
		if err := visit(func(s *jsonschema.Schema, add func(*jsonschema.Schema)) { itemRoutes(s, i, add) }); err != nil {
			return 0, err
		}
	}
	a.seen[key] = worst
	return worst, nil
}

// memberRoutes gives the subschemas s applies to an object member named
// p (known) or to a member whose name no schema mentions (!known: every
// pattern may match it).
func memberRoutes(s *jsonschema.Schema, p string, known bool, add func(*jsonschema.Schema)) {
	matched := false
	if known {
		if c, ok := s.Properties[p]; ok {
			add(c)
			matched = true
		}
	}
	for re, c := range s.PatternProperties {
		if !known || re.MatchString(p) {
			add(c)
			matched = true
		}
	}
	if !matched || !known {
		if c, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
			add(c)
			matched = true
		}
	}
	if !matched || !known {
		add(s.UnevaluatedProperties)
	}
}

// itemRoutes gives the subschemas s applies to the array item at index i
// (i at or past every prefix stands for all later items).
func itemRoutes(s *jsonschema.Schema, i int, add func(*jsonschema.Schema)) {
	covered := false
	if i < len(s.PrefixItems) {
		add(s.PrefixItems[i])
		covered = true
	} else if s.Items2020 != nil {
		add(s.Items2020)
		covered = true
	}
	switch it := s.Items.(type) {
	case *jsonschema.Schema:
		add(it)
		covered = true
	case []*jsonschema.Schema:
		if i < len(it) {
			add(it[i])
			covered = true
		} else if c, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
			add(c)
			covered = true
		}
	}
	add(s.Contains)
	if !covered {
		add(s.UnevaluatedItems)
	}
}

// forEachChild calls fn with every subschema s refers to.
func forEachChild(s *jsonschema.Schema, fn func(*jsonschema.Schema)) {
	each := func(l []*jsonschema.Schema) {
		for _, c := range l {
			fn(c)
		}
	}
	one := func(c *jsonschema.Schema) {
		if c != nil {
			fn(c)
		}
	}
	one(s.Ref)
	one(s.RecursiveRef)
	if s.DynamicRef != nil {
		one(s.DynamicRef.Ref)
	}
	one(s.Not)
	each(s.AllOf)
	each(s.AnyOf)
	each(s.OneOf)
	one(s.If)
	one(s.Then)
	one(s.Else)
	for _, c := range s.DependentSchemas {
		fn(c)
	}
	for _, d := range s.Dependencies {
		if c, ok := d.(*jsonschema.Schema); ok {
			fn(c)
		}
	}
	one(s.PropertyNames)
	for _, c := range s.Properties {
		fn(c)
	}
	for _, c := range s.PatternProperties {
		fn(c)
	}
	if c, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		fn(c)
	}
	one(s.UnevaluatedProperties)
	one(s.Contains)
	switch it := s.Items.(type) {
	case *jsonschema.Schema:
		fn(it)
	case []*jsonschema.Schema:
		each(it)
	}
	if c, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
		fn(c)
	}
	each(s.PrefixItems)
	one(s.Items2020)
	one(s.UnevaluatedItems)
	one(s.ContentSchema)
}
