package audit

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpfort/mcpfort/storage"
)

// Problem is one inconsistency Verify found.
type Problem struct {
	// Seq is the record concerned (for a gap or a removed tail, the first
	// missing one).
	Seq int64 `json:"seq"`
	// Kind is "edited" (a record's hash does not match its fields, or a
	// record the key must cover is not keyed), "broken_link" (a record
	// does not follow the one before it: one was edited, inserted,
	// reordered or removed), "gap" (sequence numbers are missing),
	// "truncated" (records a head names were removed from the end),
	// "head_mismatch" (the head row disagrees with the records), "anchor"
	// (a record differs from an anchor given to Verify), "head" (a record
	// differs from a signed head), "head_signature" (a signed head does
	// not verify) or "key" (keyed records and no key).
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
	// Heads is how many signed heads were checked; LastHead the newest
	// record they cover (records after it are protected by the chain
	// alone until the next head is written).
	Heads    int   `json:"signed_heads"`
	LastHead int64 `json:"last_signed_seq"`
	// Problems lists what is wrong in chain order, at most MaxProblems of
	// them (Truncated says more were found).
	Problems  []Problem `json:"problems"`
	Truncated bool      `json:"problems_truncated,omitempty"`
}

// MaxProblems bounds Report.Problems.
const MaxProblems = 100

// OK reports a chain without problems.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// First returns the first problem in chain order (nil when OK).
func (r *Report) First() *Problem {
	if len(r.Problems) == 0 {
		return nil
	}
	return &r.Problems[0]
}

func (r *Report) add(p Problem) {
	if len(r.Problems) >= MaxProblems {
		r.Truncated = true
		return
	}
	r.Problems = append(r.Problems, p)
}

// VerifyOptions says what Verify checks the chain against.
type VerifyOptions struct {
	// Key is the chain key. Without it, keyed records cannot be checked
	// (a "key" problem) and neither can signed heads unless HeadKey is
	// set.
	Key []byte
	// KeyedFrom is the first record the key covers: records before it
	// were written before the key existed and may be plain SHA-256; from
	// it on every record must be keyed, so a chain rewritten without the
	// key fails. If zero with a Key, 1. It comes from the sealed key
	// file, not from the database.
	KeyedFrom int64
	// Anchors are heads recorded elsewhere by the operator (such as
	// "mcpfort audit head" output), trusted as given.
	Anchors []Head
	// Heads are signed heads (ReadHeadsFile): each must verify under
	// HeadKey, and the record it names must still be in the chain with
	// the same hash.
	Heads []SignedHead
	// HeadKey verifies Heads. If nil, derived from Key.
	HeadKey ed25519.PublicKey
}

// expected is a hash the chain must hold at a sequence number.
type expected struct {
	hash, kind, label string
}

// Verify reads the whole chain and checks it: every record's hash against
// its fields (under the key, for keyed records; every record from
// KeyedFrom on must be keyed, and none may follow a keyed one unkeyed),
// every record's link to the one before, contiguous sequence numbers from
// 1, the stored head row against the last record, and the chain against
// anchors and signed heads kept outside the database. Those catch what
// the chain alone cannot: a tail removed with the head row rewound, and
// (without the key) a chain recomputed after an edit.
func Verify(ctx context.Context, s *Store, opts VerifyOptions) (*Report, error) {
	rep := &Report{Problems: []Problem{}}
	head, err := s.Head(ctx)
	if err != nil {
		return nil, err
	}
	rep.Head = head
	key := opts.Key
	keyedFrom := opts.KeyedFrom
	if len(key) > 0 && keyedFrom <= 0 {
		keyedFrom = 1
	}
	want := map[int64]expected{}
	for _, a := range opts.Anchors {
		want[a.Seq] = expected{hash: a.Hash, kind: "anchor", label: "an anchor"}
	}
	if len(opts.Heads) > 0 {
		pub := opts.HeadKey
		if pub == nil && len(key) > 0 {
			if pub, err = HeadPublicKey(key); err != nil {
				return nil, err
			}
		}
		for i := range opts.Heads {
			h := &opts.Heads[i]
			if pub == nil {
				rep.add(Problem{Seq: h.Seq, Kind: "head_signature", Detail: h.label() + " cannot be checked without the chain key or its public key"})
				continue
			}
			if err := h.check(pub); err != nil {
				rep.add(Problem{Seq: h.Seq, Kind: "head_signature", Detail: h.label() + " names record " + strconv.FormatInt(h.Seq, 10) + ", but " + err.Error()})
				continue
			}
			rep.Heads++
			if h.Seq > rep.LastHead {
				rep.LastHead = h.Seq
			}
			if w, ok := want[h.Seq]; ok && w.kind == "head" && w.hash != h.Hash {
				rep.add(Problem{Seq: h.Seq, Kind: "head_signature", Detail: fmt.Sprintf("two signed heads name record %d with different hashes: %s and %s", h.Seq, w.label, h.label())})
				continue
			}
			want[h.Seq] = expected{hash: h.Hash, kind: "head", label: h.label()}
		}
	}
	expect := int64(1)
	prev := ""
	keyWarned, sawKeyed := false, false
	err = s.rows(ctx, Filter{}, func(rw storage.AuditRow) error {
		rep.Records++
		if rw.Seq != expect {
			if rw.Seq > expect {
				rep.add(Problem{Seq: expect, Kind: "gap", Detail: fmt.Sprintf("records %d to %d are missing", expect, rw.Seq-1)})
			} else {
				rep.add(Problem{Seq: rw.Seq, Kind: "gap", Detail: fmt.Sprintf("sequence goes back from %d to %d", expect-1, rw.Seq)})
			}
		}
		keyed := strings.HasPrefix(rw.Hash, prefixHMAC)
		switch {
		case keyed && len(key) == 0:
			if !keyWarned {
				rep.add(Problem{Seq: rw.Seq, Kind: "key", Detail: "records are keyed (HMAC-SHA256); give the chain key to check them"})
				keyWarned = true
			}
		case !keyed && len(key) > 0 && rw.Seq >= keyedFrom:
			rep.add(Problem{Seq: rw.Seq, Kind: "edited", Detail: fmt.Sprintf("the record is not keyed, but the chain key covers every record from %d on: it was rewritten without the key", keyedFrom)})
		case !keyed && sawKeyed:
			rep.add(Problem{Seq: rw.Seq, Kind: "edited", Detail: "the record is not keyed, but a record before it is: it was rewritten without the key"})
		default:
			k := key
			if !keyed {
				k = nil
			}
			if got := hashBytes([]byte(rw.Record), k); !hmac.Equal([]byte(got), []byte(rw.Hash)) {
				rep.add(Problem{Seq: rw.Seq, Kind: "edited", Detail: "the record's content does not match its hash"})
			}
		}
		sawKeyed = sawKeyed || keyed
		r, perr := fromCanonical([]byte(rw.Record))
		switch {
		case perr != nil:
			rep.add(Problem{Seq: rw.Seq, Kind: "edited", Detail: "the record is not readable JSON"})
		case r.Seq != rw.Seq || r.Time.UnixMicro() != rw.TimeUS:
			rep.add(Problem{Seq: rw.Seq, Kind: "edited", Detail: "the row's sequence number or time differs from the record's"})
		case r.AnswerKey != rw.Key:
			rep.add(Problem{Seq: rw.Seq, Kind: "edited", Detail: "the row's answer key differs from the record's"})
		}
		if r.PrevHash != prev {
			rep.add(Problem{Seq: rw.Seq, Kind: "broken_link", Detail: "the record does not follow the one before it"})
		}
		if w, ok := want[rw.Seq]; ok {
			if w.hash != rw.Hash {
				rep.add(Problem{Seq: rw.Seq, Kind: w.kind, Detail: fmt.Sprintf("the record's hash is not %s, which %s names: the chain was rewritten", w.hash, w.label)})
			}
			delete(want, rw.Seq)
		}
		prev = rw.Hash
		rep.Last = rw.Seq
		expect = rw.Seq + 1
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
	missing := make([]int64, 0, len(want))
	for seq := range want {
		missing = append(missing, seq)
	}
	slices.Sort(missing)
	for _, seq := range missing {
		w := want[seq]
		switch {
		case seq > rep.Last:
			gone := fmt.Sprintf("records %d to %d are", rep.Last+1, seq)
			if seq == rep.Last+1 {
				gone = fmt.Sprintf("record %d is", seq)
			}
			rep.add(Problem{Seq: rep.Last + 1, Kind: "truncated", Detail: fmt.Sprintf("%s missing: %s names record %d (%s), but the log ends at %d: records were removed from the end",
				gone, w.label, seq, w.hash, rep.Last)})
		default:
			rep.add(Problem{Seq: seq, Kind: w.kind, Detail: fmt.Sprintf("record %d, which %s names (%s), is missing", seq, w.label, w.hash)})
		}
	}
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int { return cmp.Compare(a.Seq, b.Seq) })
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
