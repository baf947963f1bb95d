package remote

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/mcp"
)

// rawPost writes a POST to the upstream byte for byte as newRequest and
// Request.Write would (request line, Host, User-Agent, Content-Length, the
// other fields sorted by name, the body), without building an
// http.Request, its header map and its body reader for every call.
type rawPost struct {
	head string // request line, Host and User-Agent: the same for every POST
	req  *upstream.Request
}

// postHead is what Request.Write puts before Content-Length in every POST
// newRequest builds for u: the request line, Host and User-Agent, encoded
// by net/http itself. ok is false if Request.Write refuses the URL (the
// slow path then reports why).
func postHead(u *url.URL) (string, bool) {
	var buf bytes.Buffer
	tmpl := &http.Request{Method: http.MethodPost, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"User-Agent": hvUserAgent}, Host: u.Host}
	if err := tmpl.Write(&buf); err != nil {
		return "", false
	}
	s := buf.String()
	i := strings.Index(s, "\r\nContent-Length: 0\r\n")
	if i < 0 || !strings.HasSuffix(s, "\r\nContent-Length: 0\r\n\r\n") {
		return "", false
	}
	return s[:i+2], true
}

// field is one header field to write.
type field struct {
	key    string
	values []string
	one    string // the value, when values is nil (no slice to allocate)
}

func (p *rawPost) writeRequest(bw *bufio.Writer) error {
	req := p.req
	bw.WriteString(p.head)
	bw.WriteString("Content-Length: ")
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(req.Body)), 10))
	bw.WriteString("\r\n")
	// The fields newRequest sets, over any of the same name in req.Header.
	var store [12]field
	fs := append(store[:0], field{key: "Content-Type", one: "application/json"}, field{key: "Accept", one: "application/json, text/event-stream"})
	if req.Session != "" {
		fs = append(fs, field{key: mcp.HeaderSessionID, one: req.Session})
	}
	if req.ProtocolVersion != "" {
		fs = append(fs, field{key: mcp.HeaderProtocolVersion, one: req.ProtocolVersion})
	}
	if req.LastEventID != "" {
		fs = append(fs, field{key: mcp.HeaderLastEventID, one: req.LastEventID})
	}
	set := len(fs)
	for k, vs := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // Request.Write writes its own or none (reqWriteExcludeHeader)
		}
		overridden := false
		for _, f := range fs[:set] {
			if f.key == k {
				overridden = true
				break
			}
		}
		if !overridden && len(vs) > 0 {
			fs = append(fs, field{key: k, values: vs})
		}
	}
	// Sorted by name, as Header.Write does (a handful of fields).
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].key < fs[j-1].key; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
	for _, f := range fs {
		if !validFieldName(f.key) {
			continue // Header.Write drops it
		}
		if f.values == nil {
			writeField(bw, f.key, f.one)
		}
		for _, v := range f.values {
			writeField(bw, f.key, v)
		}
	}
	bw.WriteString("\r\n")
	_, err := bw.Write(req.Body)
	return err
}

func writeField(bw *bufio.Writer, key, v string) {
	bw.WriteString(key)
	bw.WriteString(": ")
	writeFieldValue(bw, v)
	bw.WriteString("\r\n")
}

// writeFieldValue writes v as Header.Write does: CR and LF turned into
// spaces, then leading and trailing spaces, tabs, CRs and LFs trimmed.
func writeFieldValue(bw *bufio.Writer, v string) {
	clean := true
	for i := 0; i < len(v); i++ {
		if v[i] == '\r' || v[i] == '\n' {
			clean = false
			break
		}
	}
	if !clean {
		v = strings.NewReplacer("\n", " ", "\r", " ").Replace(v)
	}
	if len(v) > 0 && !trimmed(v[0]) && !trimmed(v[len(v)-1]) {
		bw.WriteString(v) // nothing to trim: the usual value
		return
	}
	bw.WriteString(strings.Trim(v, " \t\r\n"))
}

// trimmed reports whether Header.Write trims c from a value's ends.
func trimmed(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// validFieldName reports whether k is an RFC 9110 token (section 5.1,
// field-name = token), as httpguts.ValidHeaderFieldName does.
func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

// tokenChar marks the tchar bytes of RFC 9110 section 5.6.2.
var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
