package jsonrpc

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// Kind is what a JSON-RPC message is.
type Kind uint8

// The kinds of message (JSON-RPC 2.0 sections 4, 4.1 and 5).
const (
	KindInvalid Kind = iota
	KindRequest
	KindNotification
	KindResponse // a result or an error response
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindNotification:
		return "notification"
	case KindResponse:
		return "response"
	}
	return "invalid"
}

// ID is a request id: the raw JSON text of a string or a number. The zero ID
// means "absent". IDs are comparable and usable as map keys; two ids are the
// same when their JSON text is the same.
type ID struct{ raw string }

// StringID returns the id for the JSON string s.
func StringID(s string) ID { return ID{raw: string(jsonx.Quote(s))} }

// Int64ID returns the id for the JSON number n.
func Int64ID(n int64) ID { return ID{raw: fmt.Sprint(n)} }

// RawID returns the id whose JSON text is raw, which must be a JSON string or
// number.
func RawID(raw []byte) (ID, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ID{}, errors.New("empty id")
	}
	if raw[0] == '"' {
		if _, ok := jsonx.String(raw); !ok {
			return ID{}, errors.New("invalid id string")
		}
		return ID{raw: string(raw)}, nil
	}
	if raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
		if jsonx.Validate(raw, 1) != nil {
			return ID{}, errors.New("invalid id number")
		}
		return ID{raw: string(raw)}, nil
	}
	return ID{}, errors.New("id must be a string or a number")
}

// IsValid reports whether the id is present.
func (id ID) IsValid() bool { return id.raw != "" }

// Raw returns the JSON text of the id ("" when absent).
func (id ID) Raw() string { return id.raw }

// String returns the JSON text of the id, or "null" when absent.
func (id ID) String() string {
	if id.raw == "" {
		return "null"
	}
	return id.raw
}

// AppendJSON appends the id's JSON text (null when absent).
func (id ID) AppendJSON(b []byte) []byte {
	if id.raw == "" {
		return append(b, "null"...)
	}
	return append(b, id.raw...)
}

// Message is one decoded JSON-RPC message. Params, Result and Error alias the
// raw bytes and are nil when absent.
type Message struct {
	Kind   Kind
	ID     ID
	Method string
	Params []byte
	Result []byte
	Error  []byte
	// Raw is the whole message as received.
	Raw []byte

	// The members of params and of params._meta, when Decode found them
	// objects: read in the scan that validated Raw (ParamsMembers).
	paramsMembers, metaMembers []jsonx.Member
}

// ParamsMembers returns the members of the message's params and of their
// _meta object as Decode found them, in the same validating scan as the
// envelope (meta is nil when params has no _meta object). ok is false when
// params is not an object, or m was not made by Decode.
func (m *Message) ParamsMembers() (params, meta []jsonx.Member, ok bool) {
	return m.paramsMembers, m.metaMembers, m.paramsMembers != nil
}

// Limits bounds what Decode accepts. The zero value means the defaults.
type Limits struct {
	// MaxDepth is the deepest nesting allowed. If zero, 64.
	MaxDepth int
	// MaxBatch is the largest batch accepted. If zero, 100.
	MaxBatch int
}

func (l Limits) maxBatch() int {
	if l.MaxBatch <= 0 {
		return 100
	}
	return l.MaxBatch
}

// Decode parses one message. It returns an *Error with CodeParseError for
// malformed JSON and CodeInvalidRequest for JSON that is not a JSON-RPC 2.0
// message.
func Decode(b []byte, lim Limits) (*Message, error) {
	d, err := decode(b, lim)
	if err != nil {
		return nil, err
	}
	return &d.m, nil
}

// decoded is a message and the batch of one that DecodeBody returns for
// it, in one allocation.
type decoded struct {
	m   Message
	one [1]*Message
}

// decodedMembers is a decoded message with room for the members of its
// params and their _meta (which m's member slices then alias): a message
// with params is one allocation too, and one without them (a response)
// carries no room.
type decodedMembers struct {
	decoded
	members [6]jsonx.Member
}

// rooms holds the scratch the scan collects members into: the envelope's
// are read once (fromMembers), the params' and _meta's copied out.
var rooms = sync.Pool{New: func() any { return new(jsonx.AlongRoom) }}

func decode(b []byte, lim Limits) (*decoded, error) {
	room := rooms.Get().(*jsonx.AlongRoom)
	d, err := decodeIn(room, b, lim)
	*room = jsonx.AlongRoom{} // holds no message while pooled
	rooms.Put(room)
	return d, err
}

func decodeIn(room *jsonx.AlongRoom, b []byte, lim Limits) (*decoded, error) {
	levels, err := room.ObjectMembersAlong(b, lim.MaxDepth, "params", "_meta")
	if err != nil {
		if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) || jsonx.Validate(b, lim.MaxDepth) != nil {
			return nil, &Error{Code: CodeParseError, Message: "Parse error: " + err.Error()}
		}
		return nil, &Error{Code: CodeInvalidRequest, Message: "Invalid Request: not a JSON object"}
	}
	params, meta := levels[1], levels[2] // meta is nil when params is
	var d *decoded
	switch n := len(params) + len(meta); {
	case params == nil:
		d = new(decoded)
	case n <= len(decodedMembers{}.members):
		dm := new(decodedMembers)
		d = &dm.decoded
		k := copy(dm.members[:], params)
		copy(dm.members[k:], meta)
		// Sliced from the array, so never nil: params (or _meta) that
		// are an empty object still read as present.
		d.m.paramsMembers = dm.members[:k:k]
		if meta != nil {
			d.m.metaMembers = dm.members[k:n:n]
		}
	default:
		d = new(decoded)
		all := make([]jsonx.Member, 0, n)
		all = append(all, params...)
		d.m.paramsMembers = all[:len(params):len(params)]
		if meta != nil {
			d.m.metaMembers = append(all[len(params):], meta...)
		}
	}
	d.m.Raw = b
	if err := fromMembers(&d.m, levels[0]); err != nil {
		return nil, err
	}
	return d, nil
}

// fromMembers fills in m, whose Raw is set, from the members of its
// envelope.
func fromMembers(m *Message, ms []jsonx.Member) error {
	var version, id, method []byte
	var hasID bool
	for _, mem := range ms {
		switch mem.Key {
		case "jsonrpc":
			version = mem.Value
		case "id":
			id, hasID = mem.Value, true
		case "method":
			method = mem.Value
		case "params":
			m.Params = mem.Value
		case "result":
			m.Result = mem.Value
		case "error":
			m.Error = mem.Value
		}
	}
	invalid := func(why string) error {
		e := &Error{Code: CodeInvalidRequest, Message: "Invalid Request: " + why}
		if hasID {
			if idv, err := RawID(id); err == nil {
				e.id = idv
			}
		}
		return e
	}
	if v, ok := jsonx.String(version); !ok || v != "2.0" {
		return invalid(`"jsonrpc" must be "2.0"`)
	}
	if hasID && !jsonx.IsNull(id) {
		v, err := RawID(id)
		if err != nil {
			return invalid(err.Error())
		}
		m.ID = v
	}
	switch {
	case method != nil:
		s, ok := jsonx.String(method)
		if !ok || s == "" {
			return invalid(`"method" must be a non-empty string`)
		}
		if m.Result != nil || m.Error != nil {
			return invalid("a request cannot carry a result or an error")
		}
		if m.Params != nil && !jsonx.IsObject(m.Params) && !bytes.HasPrefix(bytes.TrimSpace(m.Params), []byte("[")) {
			return invalid(`"params" must be an object or an array`)
		}
		m.Method = s
		if hasID {
			if !m.ID.IsValid() {
				// MCP: "Unlike base JSON-RPC, the ID MUST NOT be null."
				return invalid("request id must not be null")
			}
			m.Kind = KindRequest
		} else {
			m.Kind = KindNotification
		}
	case m.Result != nil || m.Error != nil:
		if m.Result != nil && m.Error != nil {
			return invalid("a response cannot carry both result and error")
		}
		if !hasID {
			return invalid("a response needs an id")
		}
		if m.Error != nil && !jsonx.IsObject(m.Error) {
			return invalid(`"error" must be an object`)
		}
		m.Kind = KindResponse
	default:
		return invalid("neither a request, a notification nor a response")
	}
	return nil
}

// DecodeBody parses an HTTP body holding one message or, when batches are
// allowed, a JSON array of messages (MCP 2025-03-26 only). batch reports
// whether the body was an array. An element that is not a valid message makes
// the whole body invalid: a gateway must not forward half a batch.
func DecodeBody(b []byte, allowBatch bool, lim Limits) (msgs []*Message, batch bool, err error) {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '[' {
		d, err := decode(b, lim)
		if err != nil {
			return nil, false, err
		}
		d.one[0] = &d.m
		return d.one[:], false, nil
	}
	if err := jsonx.Validate(b, lim.MaxDepth); err != nil {
		return nil, true, &Error{Code: CodeParseError, Message: "Parse error: " + err.Error()}
	}
	if !allowBatch {
		return nil, true, &Error{Code: CodeInvalidRequest, Message: "Invalid Request: batches are not supported in this protocol version"}
	}
	elems, err := splitArray(t)
	if err != nil {
		return nil, true, &Error{Code: CodeParseError, Message: "Parse error: " + err.Error()}
	}
	if len(elems) == 0 {
		return nil, true, &Error{Code: CodeInvalidRequest, Message: "Invalid Request: empty batch"}
	}
	if len(elems) > lim.maxBatch() {
		return nil, true, &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("Invalid Request: batch larger than %d", lim.maxBatch())}
	}
	msgs = make([]*Message, 0, len(elems))
	for _, e := range elems {
		m, err := Decode(e, lim)
		if err != nil {
			return nil, true, err
		}
		msgs = append(msgs, m)
	}
	return msgs, true, nil
}

// splitArray returns the raw elements of a validated JSON array.
func splitArray(b []byte) ([][]byte, error) {
	var out [][]byte
	err := jsonx.WalkArray(b, func(v []byte) bool { out = append(out, v); return true })
	return out, err
}

// WithID returns a copy of the raw message with its id replaced. It is how a
// shared upstream connection gives each caller's request an id of its own.
func (m *Message) WithID(id ID) ([]byte, error) {
	return jsonx.Set(m.Raw, "id", []byte(id.raw))
}
