package jsonx

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
	var a *AlongRoom // allocated below, once b is known to be an object
	return a.ObjectMembersAlong(b, maxDepthLimit, path...)
}

// ObjectMembersAlong is the function ObjectMembersAlong, returning levels
// and members held in a (for a path of up to two names) instead of in an
// allocation of their own: a caller that reads them at once, or keeps them
// with something it allocates anyway, allocates nothing for them. a must
// be the zero AlongRoom (new, or set to AlongRoom{} after its last use),
// and what this returns lives in it until then; a nil a allocates as the
// function does.
func (a *AlongRoom) ObjectMembersAlong(b []byte, maxDepthLimit int, path ...string) ([][]Member, error) {
	d := getDecoder(b, maxDepthLimit)
	defer putDecoder(d)
	if err := d.object(); err != nil {
		return nil, err
	}
	// Room for four members per level (a JSON-RPC envelope has four; most
	// params fewer), in one allocation with the levels for the usual
	// paths; a level with more grows into an array of its own.
	var levels [][]Member
	var room []Member
	if len(path) < 3 {
		if a == nil {
			a = new(AlongRoom)
		}
		levels, room = a.levels[:len(path)+1], a.room[:]
	} else {
		levels = make([][]Member, len(path)+1)
		room = make([]Member, 4*len(levels))
	}
	if err := d.membersAlong(path, 0, levels, room); err != nil {
		return nil, err
	}
	if _, err := d.Next(); err != nil { // only whitespace may follow
		return nil, err
	}
	return levels, nil
}

// membersAlong collects the members of the object whose '{' was just read
// into levels[level], descending into the member path[level].
func (d *Decoder) membersAlong(path []string, level int, levels [][]Member, room []Member) error {
	out := room[4*level : 4*level : 4*level+4]
	for {
		k, err := d.Next()
		if err != nil {
			return err
		}
		if k == KindObjectEnd {
			levels[level] = out
			return nil
		}
		key := d.Text()
		down := level < len(path) && key == path[level]
		if k, err = d.Next(); err != nil {
			return err
		}
		start := d.start
		if down && k == KindObjectStart {
			err = d.membersAlong(path, level+1, levels, room)
		} else {
			_, err = d.Skip()
		}
		if err != nil {
			return err
		}
		out = append(out, Member{Key: key, Value: d.b[start:d.end]})
	}
}

// AlongRoom is what ObjectMembersAlong returns for a path of up to two
// names, allocated at once. Its zero value is ready to use.
type AlongRoom struct {
	levels [3][]Member
	room   [12]Member
}
