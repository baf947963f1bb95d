package jsonx

import "strconv"

// ObjectMembersAlong validates b as a single JSON object, as ObjectMembers
// does, and returns in the same pass the members of the objects along path:
// levels[0] are b's members, levels[1] the members of b's member path[0]
// when its value is an object, levels[2] those of that object's member
// path[1], and so on. A level whose object is absent (or is not an object)
// is nil, and so are the levels below it. Values alias b.
//
// It lets a reader that needs a message's envelope and a few fields inside
// it (a JSON-RPC message's params and their _meta) read them with one
// validating scan instead of one per level.
func ObjectMembersAlong(b []byte, maxDepthLimit int, path ...string) ([][]Member, error) {
	s := scanner{b: b, max: maxDepth(maxDepthLimit)}
	defer tally(&s)
	s.ws()
	if s.i >= len(b) || b[s.i] != '{' {
		return nil, s.fail("expected JSON object")
	}
	levels := make([][]Member, len(path)+1)
	if err := s.objectAlong(path, 0, levels); err != nil {
		return nil, err
	}
	s.ws()
	if s.i != len(b) {
		return nil, s.fail("trailing data after value")
	}
	if levels[0] == nil {
		levels[0] = []Member{}
	}
	return levels, nil
}

// objectAlong is object, collecting the members of the object at this
// level into levels[level] and descending into the member path[level].
// Its checks are object's: grammar, depth, unescaped keys, no duplicates.
func (s *scanner) objectAlong(path []string, level int, levels [][]Member) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.i++ // {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		levels[level] = []Member{}
		return nil
	}
	out := make([]Member, 0, 4)  // a JSON-RPC envelope has four members; most params fewer
	var seen map[string]struct{} // for large objects; small ones are searched
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.fail("expected string key in object")
		}
		kstart := s.i
		esc, err := s.str()
		if err != nil {
			return err
		}
		key, err := keyString(s.b[kstart:s.i], esc)
		if err != nil {
			return s.fail("invalid key")
		}
		if seen == nil && len(out) >= 16 {
			seen = make(map[string]struct{}, 2*len(out))
			for _, m := range out {
				seen[m.Key] = struct{}{}
			}
		}
		if seen != nil {
			if _, dup := seen[key]; dup {
				return s.fail("duplicate key " + strconv.Quote(key))
			}
			seen[key] = struct{}{}
		} else {
			for _, m := range out {
				if m.Key == key {
					return s.fail("duplicate key " + strconv.Quote(key))
				}
			}
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.fail("expected ':' after object key")
		}
		s.i++
		s.ws()
		vstart := s.i
		if level < len(path) && key == path[level] && s.i < len(s.b) && s.b[s.i] == '{' {
			err = s.objectAlong(path, level+1, levels)
		} else {
			err = s.value()
		}
		if err != nil {
			return err
		}
		out = append(out, Member{Key: key, Value: trimRight(s.b[vstart:s.i])})
		s.ws()
		if s.i >= len(s.b) {
			return s.fail("unterminated object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			levels[level] = out
			return nil
		default:
			return s.fail("expected ',' or '}' in object")
		}
	}
}
