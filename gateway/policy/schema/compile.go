package schema

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaURL is the base URI every inputSchema is compiled under. The
// reserved .invalid name (RFC 6761 section 6.4) can never resolve, and the
// loader refuses every URL anyway: only references inside the schema, and
// the standard metaschemas the library embeds, are ever resolved.
const schemaURL = "https://inputschema.mcpfort.invalid/tool.json"

// Reasons a schema cannot be used; they reach the client in a refusal.
var (
	errExternalRef = errors.New("it references a schema outside itself, which the gateway never fetches")
	errTooComplex  = errors.New("validating it could take too long (it exceeds the gateway's complexity bound)")
	errRefCycle    = errors.New("it has a reference cycle")
	errNotAnObject = errors.New("it is not a JSON object")
	errTooLarge    = errors.New("it is too large")
)

// refuseLoader is the compiler's loader: it never fetches anything (no
// network, no file system). 2026-07-28 basic "$ref Resolution":
// implementations MUST NOT automatically dereference network URIs, and a
// schema with an unresolved external $ref SHOULD be rejected rather than
// treated as permissive.
type refuseLoader struct{}

func (refuseLoader) Load(string) (any, error) { return nil, errExternalRef }

// compileSchema compiles one inputSchema and checks its cost bound.
func compileSchema(raw []byte, limits compileLimits) (*jsonschema.Schema, error) {
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
	sch, err := c.Compile(schemaURL)
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
// ($ref, allOf, anyOf, oneOf, not, if/then/else, dependentSchemas), whose
// counts add up; a child value gets the subschemas its parent's
// descending keywords route to it (one property schema, plus pattern,
// additional and unevaluated ones; or one item schema plus contains and
// unevaluated items). A $dynamicRef or $recursiveRef resolves to one
// target at run time, so it costs its most expensive candidate. This is
// what catches exponential schemas: a chain of anyOf over shared $defs, or
// a recursion that applies the root twice per level, doubles per step.
func schemaCost(sch *jsonschema.Schema, maxDepth int, limit int64) (int64, error) {
	b := &budget{limit: limit, memo: map[*jsonschema.Schema][]int64{}, depth: maxDepth, dyn: map[string][]*jsonschema.Schema{}}
	b.collect(sch, map[*jsonschema.Schema]bool{})
	var worst int64
	for k := 0; k <= maxDepth; k++ {
		c, err := b.cost(sch, k)
		if err != nil {
			return 0, err
		}
		worst = max(worst, c)
	}
	return worst, nil
}

type budget struct {
	limit int64
	depth int
	// memo[s][k] is the cost at a value k levels below s's value; -1 not
	// computed yet, -2 being computed (an in-place cycle if met again).
	memo map[*jsonschema.Schema][]int64
	dyn  map[string][]*jsonschema.Schema // $dynamicAnchor name -> schemas
	rec  []*jsonschema.Schema            // schemas with $recursiveAnchor
}

// collect finds every schema reachable from s, for the dynamic anchors.
func (b *budget) collect(s *jsonschema.Schema, seen map[*jsonschema.Schema]bool) {
	if s == nil || seen[s] {
		return
	}
	seen[s] = true
	if s.DynamicAnchor != "" {
		b.dyn[s.DynamicAnchor] = append(b.dyn[s.DynamicAnchor], s)
	}
	if s.RecursiveAnchor {
		b.rec = append(b.rec, s)
	}
	forEachChild(s, func(c *jsonschema.Schema) { b.collect(c, seen) })
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

func (b *budget) cost(s *jsonschema.Schema, k int) (int64, error) {
	if s == nil || k < 0 {
		return 0, nil
	}
	if s.Bool != nil {
		if k == 0 {
			return 1, nil
		}
		return 0, nil
	}
	m := b.memo[s]
	if m == nil {
		m = make([]int64, b.depth+1)
		for i := range m {
			m[i] = -1
		}
		b.memo[s] = m
	}
	switch m[k] {
	case -2:
		return 0, errRefCycle
	case -1:
	default:
		return m[k], nil
	}
	m[k] = -2
	var total int64
	if k == 0 {
		total = 1
	}
	var err error
	add := func(v int64) {
		if total > math.MaxInt64-v {
			total = math.MaxInt64
		} else {
			total += v
		}
		if total > b.limit && err == nil {
			err = errTooComplex
		}
	}
	here := func(c *jsonschema.Schema) {
		if err != nil || c == nil {
			return
		}
		v, e := b.cost(c, k)
		if e != nil {
			err = e
			return
		}
		add(v)
	}
	// The most expensive of several possible targets.
	worstOf := func(cands []*jsonschema.Schema) {
		var w int64
		for _, c := range cands {
			if err != nil {
				return
			}
			v, e := b.cost(c, k)
			if e != nil {
				err = e
				return
			}
			w = max(w, v)
		}
		add(w)
	}
	here(s.Ref)
	if r := s.RecursiveRef; r != nil {
		cands := []*jsonschema.Schema{r}
		if r.RecursiveAnchor {
			cands = append(cands, b.rec...)
		}
		worstOf(cands)
	}
	if d := s.DynamicRef; d != nil && d.Ref != nil {
		cands := []*jsonschema.Schema{d.Ref}
		if d.Anchor != "" && d.Ref.DynamicAnchor == d.Anchor {
			cands = append(cands, b.dyn[d.Anchor]...)
		}
		worstOf(cands)
	}
	here(s.Not)
	for _, l := range [][]*jsonschema.Schema{s.AllOf, s.AnyOf, s.OneOf} {
		for _, c := range l {
			here(c)
		}
	}
	here(s.If)
	here(s.Then)
	here(s.Else)
	for _, c := range s.DependentSchemas {
		here(c)
	}
	for _, d := range s.Dependencies {
		if c, ok := d.(*jsonschema.Schema); ok {
			here(c)
		}
	}
	if k > 0 && err == nil {
		var slot int64
		slot, err = b.childCost(s, k-1)
		if err == nil {
			add(slot)
		}
	}
	if err != nil {
		m[k] = -1
		return 0, err
	}
	m[k] = total
	return total, nil
}

// childCost is what s's descending keywords route to one child value, at
// k levels below that child: the most expensive kind of child (an object
// member, a member name, or an array item).
func (b *budget) childCost(s *jsonschema.Schema, k int) (int64, error) {
	var err error
	c := func(x *jsonschema.Schema) int64 {
		if err != nil || x == nil {
			return 0
		}
		v, e := b.cost(x, k)
		if e != nil {
			err = e
		}
		return v
	}
	sat := func(a, b int64) int64 {
		if a > math.MaxInt64-b {
			return math.MaxInt64
		}
		return a + b
	}
	var member int64
	for _, p := range s.Properties {
		member = max(member, c(p))
	}
	for _, p := range s.PatternProperties {
		member = sat(member, c(p))
	}
	if x, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		member = sat(member, c(x))
	}
	member = sat(member, c(s.UnevaluatedProperties))
	name := c(s.PropertyNames)
	var item int64
	for _, p := range s.PrefixItems {
		item = max(item, c(p))
	}
	switch it := s.Items.(type) {
	case *jsonschema.Schema:
		item = sat(item, c(it))
	case []*jsonschema.Schema:
		var w int64
		for _, p := range it {
			w = max(w, c(p))
		}
		item = sat(item, w)
	}
	if x, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
		item = sat(item, c(x))
	}
	item = sat(item, c(s.Items2020))
	item = sat(item, c(s.Contains))
	item = sat(item, c(s.UnevaluatedItems))
	item = sat(item, c(s.ContentSchema))
	if err != nil {
		return 0, err
	}
	return max(member, name, item), nil
}
