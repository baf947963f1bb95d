package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcpfort/mcpfort/gateway/policy/internal/jcs"
	"github.com/mcpfort/mcpfort/internal/textcut"
)

// Decisions.
const (
	Allow = "allow"
	Deny  = "deny"
)

// Statuses of the result.
const (
	// StatusOK: the upstream answered with a result.
	StatusOK = "ok"
	// StatusToolError: a tools/call result with isError set.
	StatusToolError = "tool_error"
	// StatusInputRequired: a 2026-07-28 InputRequiredResult.
	StatusInputRequired = "input_required"
	// StatusError: a JSON-RPC error response (ErrorCode holds its code).
	StatusError = "error"
	// StatusRefused: refused before reaching the upstream.
	StatusRefused = "refused"
	// StatusFailed: the upstream could not be reached or failed.
	StatusFailed = "failed"
	// StatusAccepted: a notification or response the upstream accepted.
	StatusAccepted = "accepted"
	// StatusIncomplete: the stream ended before the response (the client
	// resumes it elsewhere, or the upstream closed it).
	StatusIncomplete = "incomplete"
	// StatusCancelled: the client went away before the response.
	StatusCancelled = "cancelled"
)

// Record is one audit record.
type Record struct {
	// Seq numbers records from 1, without gaps, in chain order.
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	// RequestID is the edge's request id; RPCID the JSON text of the
	// JSON-RPC id.
	RequestID string `json:"request_id,omitempty"`
	RPCID     string `json:"rpc_id,omitempty"`
	// TraceID is the W3C trace id of the call's span, when tracing is on.
	TraceID string `json:"trace_id,omitempty"`
	// Issuer, Subject and Client identify the principal ("" when the route
	// is open).
	Issuer  string `json:"issuer,omitempty"`
	Subject string `json:"subject,omitempty"`
	Client  string `json:"client,omitempty"`
	// Server is the route; Method the JSON-RPC method; Tool the tool or
	// prompt name or the resource URI the call names.
	Server string `json:"server"`
	Method string `json:"method"`
	Tool   string `json:"tool,omitempty"`
	// ArgsHash is the SHA-256 of the RFC 8785 canonical arguments
	// ("sha256:<hex>"), or of their bytes as received ("sha256-raw:<hex>")
	// when they are not I-JSON.
	ArgsHash string `json:"args_hash,omitempty"`
	// Decision is Allow or Deny; Reason says why (the refusal, and notes of
	// the policies that acted).
	Decision string `json:"decision"`
	Reason   string `json:"reason,omitempty"`
	// Status is the result's status (Status constants); ErrorCode the
	// JSON-RPC error code, when there was one.
	Status    string `json:"status"`
	ErrorCode int64  `json:"error_code,omitempty"`
	// Latency is from the call's arrival to its response.
	LatencyMicros int64 `json:"latency_us"`
	// Arguments and Result are masked JSON, only when the log records
	// them.
	Arguments string `json:"arguments,omitempty"`
	Result    string `json:"result,omitempty"`
	// AnswerKey identifies the response a record attests, when the call
	// had one that a client could also receive on a resumed stream at
	// another replica (a legacy session's answer carried by an event with
	// an id): a hash of the route, the session, the JSON-RPC id and the
	// event id. The log holds at most one record per key: the replica
	// that received the call and one that resumed its stream may both
	// record the answer, and the second is left out.
	AnswerKey string `json:"answer_key,omitempty"`
	// PrevHash is the previous record's Hash ("" for the first); Hash
	// covers every other field.
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// canonical is the hashed form of a record: every field, always present
// (trace_id only when set),
// time as integer microseconds, in RFC 8785 canonical JSON.
type canonical struct {
	Seq       int64  `json:"seq"`
	TimeUS    int64  `json:"time_us"`
	RequestID string `json:"request_id"`
	RPCID     string `json:"rpc_id"`
	Issuer    string `json:"issuer"`
	Subject   string `json:"subject"`
	Client    string `json:"client"`
	Server    string `json:"server"`
	Method    string `json:"method"`
	Tool      string `json:"tool"`
	ArgsHash  string `json:"args_hash"`
	Decision  string `json:"decision"`
	Reason    string `json:"reason"`
	Status    string `json:"status"`
	ErrorCode int64  `json:"error_code"`
	LatencyUS int64  `json:"latency_us"`
	Arguments string `json:"arguments"`
	Result    string `json:"result"`
	PrevHash  string `json:"prev_hash"`
	// TraceID and AnswerKey are present only when set, so records
	// written before they existed keep their canonical form and hash.
	TraceID   string `json:"trace_id,omitempty"`
	AnswerKey string `json:"answer_key,omitempty"`
}

// Hash prefixes.
const (
	prefixSHA  = "sha256:"
	prefixHMAC = "hmac-sha256:"
)

// computeHash returns the record's chain hash: SHA-256 of its canonical
// form, or HMAC-SHA256 under key when key is set.
func computeHash(r *Record, key []byte) string {
	return hashBytes(appendCanonical(make([]byte, 0, 512+len(r.Arguments)+len(r.Result)), r), key)
}

// hashBytes hashes a stored canonical record.
func hashBytes(b, key []byte) string {
	return newHasher(key).sum(b)
}

// hasher hashes records one after another, reusing its HMAC state (whose
// keyed pads are computed once) and output buffer.
type hasher struct {
	mac hash.Hash
	out []byte
}

func newHasher(key []byte) *hasher {
	h := &hasher{out: make([]byte, 0, len(prefixHMAC)+2*sha256.Size)}
	if len(key) > 0 {
		h.mac = hmac.New(sha256.New, key)
	}
	return h
}

func (h *hasher) sum(b []byte) string {
	var s [sha256.Size]byte
	if h.mac == nil {
		s = sha256.Sum256(b)
		h.out = append(h.out[:0], prefixSHA...)
	} else {
		h.mac.Reset()
		h.mac.Write(b)
		h.mac.Sum(s[:0])
		h.out = append(h.out[:0], prefixHMAC...)
	}
	h.out = hex.AppendEncode(h.out, s[:])
	return string(h.out)
}

// appendCanonical writes the RFC 8785 form of the canonical struct
// directly: its members are fixed, so their order (sorted by name) is
// written out here, and every value is a string or an integer. It must
// equal jcs.Canonicalize(json.Marshal(canonical{...})), which a test
// checks.
func appendCanonical(b []byte, r *Record) []byte {
	str := func(b []byte, name, v string) []byte {
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		return jcs.AppendString(b, v)
	}
	num := func(b []byte, name string, v int64) []byte {
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		return strconv.AppendInt(b, v, 10)
	}
	b = append(b, '{')
	if r.AnswerKey != "" {
		b = str(b, "answer_key", r.AnswerKey)
		b = append(b, ',')
	}
	b = str(b, "args_hash", r.ArgsHash)
	b = append(b, ',')
	b = str(b, "arguments", r.Arguments)
	b = append(b, ',')
	b = str(b, "client", r.Client)
	b = append(b, ',')
	b = str(b, "decision", r.Decision)
	b = append(b, ',')
	b = num(b, "error_code", r.ErrorCode)
	b = append(b, ',')
	b = str(b, "issuer", r.Issuer)
	b = append(b, ',')
	b = num(b, "latency_us", r.LatencyMicros)
	b = append(b, ',')
	b = str(b, "method", r.Method)
	b = append(b, ',')
	b = str(b, "prev_hash", r.PrevHash)
	b = append(b, ',')
	b = str(b, "reason", r.Reason)
	b = append(b, ',')
	b = str(b, "request_id", r.RequestID)
	b = append(b, ',')
	b = str(b, "result", r.Result)
	b = append(b, ',')
	b = str(b, "rpc_id", r.RPCID)
	b = append(b, ',')
	b = num(b, "seq", r.Seq)
	b = append(b, ',')
	b = str(b, "server", r.Server)
	b = append(b, ',')
	b = str(b, "status", r.Status)
	b = append(b, ',')
	b = str(b, "subject", r.Subject)
	b = append(b, ',')
	b = num(b, "time_us", r.Time.UnixMicro())
	b = append(b, ',')
	b = str(b, "tool", r.Tool)
	if r.TraceID != "" {
		b = append(b, ',')
		b = str(b, "trace_id", r.TraceID)
	}
	return append(b, '}')
}

// fromCanonical reads a stored canonical record.
func fromCanonical(raw []byte) (Record, error) {
	var c canonical
	if err := json.Unmarshal(raw, &c); err != nil {
		return Record{}, err
	}
	return Record{Seq: c.Seq, Time: time.UnixMicro(c.TimeUS).UTC(), RequestID: c.RequestID, RPCID: c.RPCID, Issuer: c.Issuer,
		Subject: c.Subject, Client: c.Client, Server: c.Server, Method: c.Method, Tool: c.Tool, ArgsHash: c.ArgsHash,
		Decision: c.Decision, Reason: c.Reason, Status: c.Status, ErrorCode: c.ErrorCode, LatencyMicros: c.LatencyUS,
		Arguments: c.Arguments, Result: c.Result, PrevHash: c.PrevHash, TraceID: c.TraceID, AnswerKey: c.AnswerKey}, nil
}

// sanitize makes every string storable and hashable the same way in both
// databases: valid UTF-8 (PostgreSQL refuses anything else), no NUL bytes,
// bounded length.
func (r *Record) sanitize() {
	for _, s := range []*string{&r.RequestID, &r.TraceID, &r.AnswerKey, &r.RPCID, &r.Issuer, &r.Subject, &r.Client, &r.Server, &r.Method, &r.Tool, &r.Reason} {
		*s = clean(*s, 1024)
	}
	r.Arguments = clean(r.Arguments, 1<<20)
	r.Result = clean(r.Result, 1<<20)
	r.Time = r.Time.Truncate(time.Microsecond).UTC()
}

func clean(s string, limit int) string {
	if len(s) <= limit && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s // the usual case, checked without decoding rune by rune
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return textcut.Cut(s, limit)
}
