package load

import "bytes"

// eachEvent calls fn with the data of every "message" event of a complete
// SSE stream (WHATWG HTML "Server-sent events", 9.2.6 "Interpreting an event
// stream"): lines end in CRLF, LF or CR; "data" lines accumulate joined by
// LF; a blank line dispatches; comments and unknown fields are ignored; an
// event without data, and an unterminated event at the end of the stream,
// are dropped. Events of another type are skipped: MCP sends JSON-RPC
// messages as default-type events (basic/transports, "Streamable HTTP").
// scratch is reused for the data and returned grown. fn returns false to
// stop.
func eachEvent(stream, scratch []byte, fn func(data []byte) bool) []byte {
	data := scratch[:0]
	var typ []byte
	hasData := false
	for len(stream) > 0 {
		var line []byte
		i := bytes.IndexAny(stream, "\r\n")
		if i < 0 {
			// Unterminated last line: the stream ended mid-event.
			break
		}
		line = stream[:i]
		if stream[i] == '\r' && i+1 < len(stream) && stream[i+1] == '\n' {
			stream = stream[i+2:]
		} else {
			stream = stream[i+1:]
		}
		if len(line) == 0 {
			if hasData && (len(typ) == 0 || string(typ) == "message") {
				d := data
				if len(d) > 0 && d[len(d)-1] == '\n' {
					d = d[:len(d)-1]
				}
				if !fn(d) {
					return data
				}
			}
			data, typ, hasData = data[:0], nil, false
			continue
		}
		if line[0] == ':' {
			continue
		}
		name, value := line, []byte(nil)
		if c := bytes.IndexByte(line, ':'); c >= 0 {
			name, value = line[:c], line[c+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(name) {
		case "data":
			data = append(append(data, value...), '\n')
			hasData = true
		case "event":
			typ = value
		}
	}
	return data
}
