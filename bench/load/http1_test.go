package load

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type parsed struct {
	Status            int
	ContentType, Sess string
	Body              string
	Close             bool
}

func parse(t *testing.T, raw string, maxBody int, head bool) (parsed, error) {
	t.Helper()
	var r response
	err := readResponse(bufio.NewReaderSize(strings.NewReader(raw), 256), &r, maxBody, head)
	return parsed{r.status, string(r.contentType), string(r.sessionID), string(r.body), r.close}, err
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		head bool
		want parsed
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello",
			false, parsed{Status: 200, ContentType: "application/json", Body: "hello"}},
		{"header names fold case, values are trimmed", "HTTP/1.1 200 OK\r\ncOnTeNt-TyPe:  text/event-stream \r\nMCP-SESSION-ID:\tabc\r\ncontent-length: 0\r\n\r\n",
			false, parsed{Status: 200, ContentType: "text/event-stream", Sess: "abc"}},
		{"bare LF line ends", "HTTP/1.1 202 Accepted\nContent-Length: 0\n\n",
			false, parsed{Status: 202}},
		{"chunked with extensions and trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: y\r\n\r\n",
			false, parsed{Status: 200, Body: "hello, world!!!"}},
		{"chunked wins over content-length, and closes", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
			false, parsed{Status: 200, Body: "ok", Close: true}},
		{"close-delimited", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
			false, parsed{Status: 200, Body: "until the end", Close: true}},
		{"HTTP/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
			false, parsed{Status: 200, Body: "ok", Close: true}},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
			false, parsed{Status: 200, Body: "ok"}},
		{"interim responses are skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
			false, parsed{Status: 200, Body: "x"}},
		{"204 has no body", "HTTP/1.1 204 No Content\r\n\r\n",
			false, parsed{Status: 204}},
		{"status without reason", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n",
			false, parsed{Status: 404}},
		{"head leaves the body unread", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
			true, parsed{Status: 200, ContentType: "text/event-stream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(t, tt.raw, 1<<20, tt.head)
			if err != nil {
				t.Fatalf("readResponse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadResponseRejects(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		maxBody int
		want    error
	}{
		{"empty stream is a clean EOF", "", 100, io.EOF},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", 100, errBadStatus},
		{"HTTP/2 status line", "HTTP/2 200\r\n\r\n", 100, errBadStatus},
		{"short status", "HTTP/1.1 20\r\n\r\n", 100, errBadStatus},
		{"status glued to reason", "HTTP/1.1 200OK\r\n\r\n", 100, errBadStatus},
		{"unexpected upgrade", "HTTP/1.1 101 Switching Protocols\r\n\r\n", 100, errBadStatus},
		{"header without colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", 100, errBadHeader},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", 100, errBadHeader},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", 100, errBadLength},
		{"signed length", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", 100, errBadLength},
		{"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\n", 100, errBadLength},
		{"chunked in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 100, errBadEncoding},
		{"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 100, errBadEncoding},
		{"body over the limit", "HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", 100, errBodyTooLarge},
		{"chunks over the limit", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + strings.Repeat("x", 64) + "\r\n40\r\n", 100, errBodyTooLarge},
		{"close-delimited over the limit", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + strings.Repeat("x", 101), 100, errBodyTooLarge},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100, errBadChunk},
		{"chunk size too long", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000001\r\n", 100, errBadChunk},
		{"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n", 100, errBadChunk},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 100, io.ErrUnexpectedEOF},
		{"truncated headers", "HTTP/1.1 200 OK\r\nContent-", 100, io.ErrUnexpectedEOF},
		{"header line longer than the buffer", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 300) + "\r\n\r\n", 100, errHeaderTooLong},
		{"endless headers", "HTTP/1.1 200 OK\r\n" + strings.Repeat("A: b\r\n", maxHeaderLines+1), 100, errTooManyLines},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.raw, tt.maxBody, false)
			if !errors.Is(err, tt.want) {
				t.Errorf("readResponse error = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzReadResponse feeds arbitrary bytes to the reader. It must never
// panic or read past its limits, and where it and net/http both accept a
// final response, they must agree on its status and body.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x\r\nhello\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nrest",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\nMcp-Session-Id: x\nConnection: close\n\nbody",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		const maxBody = 4096
		var r response
		err := readResponse(bufio.NewReaderSize(bytes.NewReader(raw), 64), &r, maxBody, head)
		if len(r.body) > maxBody {
			t.Fatalf("body of %d bytes exceeds the %d limit", len(r.body), maxBody)
		}
		if err != nil || head || r.status < 200 {
			return
		}
		resp, herr := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if herr != nil || resp.StatusCode < 200 {
			return
		}
		body, berr := io.ReadAll(resp.Body)
		if berr != nil {
			return
		}
		if resp.StatusCode != r.status || !bytes.Equal(body, r.body) {
			t.Fatalf("readResponse: %d %q; net/http: %d %q", r.status, r.body, resp.StatusCode, body)
		}
	})
}
