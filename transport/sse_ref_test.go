package transport

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// refEvent is an event as a browser's EventSource dispatches it.
type refEvent struct {
	Type        string
	Data        string
	LastEventID string
}

// refParse is an independent reading of an event stream, written straight
// from WHATWG HTML "Server-sent events" 9.2.5 "Parsing an event stream" and
// 9.2.6 "Interpreting an event stream" to check SSEReader and SSEWriter
// against. It works on decoded text, one character at a time, and keeps
// nothing of SSEReader's byte-level shortcuts. It returns the dispatched
// events and the reconnection time (-1 if never set).
func refParse(stream []byte) ([]refEvent, int) {
	// "Streams must be decoded using the UTF-8 decode algorithm": strip
	// one leading BOM, replace invalid sequences by U+FFFD.
	text := decodeUTF8(stream)
	text = strings.TrimPrefix(text, "\uFEFF")

	var (
		events      []refEvent
		data        strings.Builder
		eventType   string
		lastIDBuf   string
		lastIDStr   string
		reconnect   = -1
		line        strings.Builder
		linesClosed []string
	)
	// "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A
	// LINE FEED (CRLF) character pair, a single U+000A LINE FEED (LF)
	// character, or a single U+000D CARRIAGE RETURN (CR) character." A
	// last line without its end is not a line: "Once the end of the file
	// is reached, any pending data must be discarded."
	rs := []rune(text)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '\r':
			if i+1 < len(rs) && rs[i+1] == '\n' {
				i++
			}
			linesClosed = append(linesClosed, line.String())
			line.Reset()
		case '\n':
			linesClosed = append(linesClosed, line.String())
			line.Reset()
		default:
			line.WriteRune(rs[i])
		}
	}

	process := func(field, value string) {
		switch field {
		case "event":
			eventType = value
		case "data":
			data.WriteString(value)
			data.WriteString("\n")
		case "id":
			if !strings.ContainsRune(value, 0) {
				lastIDBuf = value
			}
		case "retry":
			digits := value != ""
			for _, c := range value {
				if c < '0' || c > '9' {
					digits = false
				}
			}
			if digits {
				if n, err := strconv.Atoi(value); err == nil {
					reconnect = n
				}
			}
		}
	}
	dispatch := func() {
		lastIDStr = lastIDBuf
		if data.Len() == 0 {
			data.Reset()
			eventType = ""
			return
		}
		d := strings.TrimSuffix(data.String(), "\n")
		typ := eventType
		if typ == "" {
			typ = "message"
		}
		events = append(events, refEvent{Type: typ, Data: d, LastEventID: lastIDStr})
		data.Reset()
		eventType = ""
	}
	for _, l := range linesClosed {
		switch {
		case l == "":
			dispatch()
		case strings.HasPrefix(l, ":"):
		case strings.Contains(l, ":"):
			field, value, _ := strings.Cut(l, ":")
			process(field, strings.TrimPrefix(value, " "))
		default:
			process(l, "")
		}
	}
	return events, reconnect
}

// decodeUTF8 decodes b, each invalid byte becoming U+FFFD. (The WHATWG
// decoder folds a maximal invalid subpart into one U+FFFD; the tests
// decode both sides alike, and no ASCII byte is ever part of either.)
func decodeUTF8(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		sb.WriteRune(r)
		b = b[n:]
	}
	return sb.String()
}
