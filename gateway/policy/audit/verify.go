package audit

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Problem is one inconsistency Verify found.
type Problem struct {
	// Seq is the record concerned (for a gap, the first missing one).
	Seq int64 `json:"seq"`
	// Kind is "edited" (a record's hash does not match its fields),
	// "broken_link" (a record does not follow the one before it: one was
	// edited, inserted, reordered or removed), "gap" (sequence numbers are
	// missing), "truncated" (the head is past the last record: the tail
	// was removed), "head_mismatch", "anchor" (a record differs from an
	// anchor given to Verify) or "key" (keyed records and no key).
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// Report is the outcome of Verify.
type Report struct {
	// Records is how many records were read; Last the last sequence number.
	Records int64 `json:"records"`
	Last    int64 `json:"last_seq"`
	// Head is the chain head as stored.
	Head Head `json:"head"`
	// Problems lists what is wrong, at most MaxProblems of them (Truncated
	// says more were found).
	Problems  []Problem `json:"problems"`
	Truncated bool      `json:"problems_truncated,omitempty"`
}

// MaxProblems bounds Report.Problems.
const MaxProblems = 100

// OK reports a chain without problems.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) add(p Problem) {
	if len(r.Problems) >= MaxProblems {
		r.Truncated = true
		return
	}
	r.Problems = append(r.Problems, p)
}

// Verify reads the whole chain and checks it: every record's hash against
// its fields (under key, for keyed chains), every record's link to the one
// before, contiguous sequence numbers from 1, and the stored head against
// the last record. Anchors are heads recorded elsewhere earlier (such as
// the checkpoints in the operational log): each must still be in the
// chain, which catches a tail removal that also rewound the head.
func Verify(ctx context.Context, s *Store, key []byte, anchors ...Head) (*Report, error) {
	rep := &Report{Problems: []Problem{}}
	head, err := s.Head(ctx)
	if err != nil {
		return nil, err
	}
	rep.Head = head
	want := map[int64]string{}
	for _, a := range anchors {
		want[a.Seq] = a.Hash
	}
	expect := int64(1)
	prev := ""
	keyWarned := false
	err = s.rows(ctx, Filter{}, func(rw row) error {
		rep.Records++
		if rw.seq != expect {
			if rw.seq > expect {
				rep.add(Problem{Seq: expect, Kind: "gap", Detail: fmt.Sprintf("records %d to %d are missing", expect, rw.seq-1)})
			} else {
				rep.add(Problem{Seq: rw.seq, Kind: "gap", Detail: fmt.Sprintf("sequence goes back from %d to %d", expect-1, rw.seq)})
			}
		}
		keyed := strings.HasPrefix(rw.hash, prefixHMAC)
		switch {
		case keyed && len(key) == 0:
			if !keyWarned {
				rep.add(Problem{Seq: rw.seq, Kind: "key", Detail: "records are keyed (HMAC-SHA256); give the chain key to check them"})
				keyWarned = true
			}
		case !keyed && len(key) > 0:
			rep.add(Problem{Seq: rw.seq, Kind: "edited", Detail: "record is not keyed, but the chain is"})
		default:
			k := key
			if !keyed {
				k = nil
			}
			if got := hashBytes([]byte(rw.record), k); !hmac.Equal([]byte(got), []byte(rw.hash)) {
				rep.add(Problem{Seq: rw.seq, Kind: "edited", Detail: "the record's content does not match its hash"})
			}
		}
		r, perr := fromCanonical([]byte(rw.record))
		switch {
		case perr != nil:
			rep.add(Problem{Seq: rw.seq, Kind: "edited", Detail: "the record is not readable JSON"})
		case r.Seq != rw.seq || r.Time.UnixMicro() != rw.timeUS:
			rep.add(Problem{Seq: rw.seq, Kind: "edited", Detail: "the row's sequence number or time differs from the record's"})
		}
		if r.PrevHash != prev {
			rep.add(Problem{Seq: rw.seq, Kind: "broken_link", Detail: "the record does not follow the one before it"})
		}
		if h, ok := want[rw.seq]; ok {
			if h != rw.hash {
				rep.add(Problem{Seq: rw.seq, Kind: "anchor", Detail: "the record's hash differs from the anchor " + h})
			}
			delete(want, rw.seq)
		}
		prev = rw.hash
		rep.Last = rw.seq
		expect = rw.seq + 1
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	switch {
	case head.Seq > rep.Last:
		rep.add(Problem{Seq: rep.Last + 1, Kind: "truncated", Detail: fmt.Sprintf("the head is at record %d but the log ends at %d: records were removed from the end", head.Seq, rep.Last)})
	case head.Seq < rep.Last:
		rep.add(Problem{Seq: head.Seq + 1, Kind: "head_mismatch", Detail: fmt.Sprintf("records after the head (%d) were added outside the log", head.Seq)})
	case head.Hash != prev:
		rep.add(Problem{Seq: head.Seq, Kind: "head_mismatch", Detail: "the head's hash is not the last record's"})
	}
	for seq, h := range want {
		rep.add(Problem{Seq: seq, Kind: "anchor", Detail: fmt.Sprintf("anchored record %d (%s) is missing", seq, h)})
	}
	return rep, nil
}

// ParseAnchor reads an anchor written as SEQ:HASH ("1042:sha256:ab12...").
func ParseAnchor(s string) (Head, error) {
	seq, hash, ok := strings.Cut(s, ":")
	var h Head
	if _, err := fmt.Sscanf(seq, "%d", &h.Seq); !ok || err != nil || h.Seq <= 0 {
		return h, fmt.Errorf("audit: anchor %q: want SEQ:HASH", s)
	}
	if !strings.HasPrefix(hash, prefixSHA) && !strings.HasPrefix(hash, prefixHMAC) {
		return h, fmt.Errorf("audit: anchor %q: hash must start with %s or %s", s, prefixSHA, prefixHMAC)
	}
	h.Hash = hash
	return h, nil
}

// Export writes the records f selects as JSON Lines, one Record per line,
// hashes included so that the export can be checked on its own.
func Export(ctx context.Context, s *Store, w io.Writer, f Filter) (int64, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var n int64
	err := s.Records(ctx, f, func(r *Record) error {
		if err := enc.Encode(r); err != nil {
			return err
		}
		n++
		return ctx.Err()
	})
	return n, err
}
