package stdio

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"github.com/mcpfort/mcpfort/jsonrpc"
)

// errLineTooLong: a process wrote a line longer than MaxMessageSize. Its
// output can no longer be framed, so the process is failed.
var errLineTooLong = errors.New("stdio: output line longer than the message size limit")

// lineReader splits process output into lines (MCP 2025-11-25
// basic/transports "stdio": "Messages are delimited by newlines, and MUST NOT
// contain embedded newlines"), never buffering more than max bytes for one.
type lineReader struct {
	r   *bufio.Reader
	max int
}

func newLineReader(r io.Reader, max int) *lineReader {
	size := 64 << 10
	if max < size {
		size = max + 1
	}
	if size < 16 {
		size = 16 // bufio's minimum
	}
	return &lineReader{r: bufio.NewReaderSize(r, size), max: max}
}

// next returns the next line without its "\n" (and without a "\r" before it,
// which some servers write). The line is a fresh slice the caller owns: it is
// handed to other goroutines inside messages. At end of input a final line
// without "\n" is returned before io.EOF.
func (l *lineReader) next() ([]byte, error) {
	frag, err := l.r.ReadSlice('\n')
	if err == nil || (err == io.EOF && len(frag) > 0) {
		if len(frag) > l.max+1 || (len(frag) == l.max+1 && frag[len(frag)-1] != '\n') {
			return nil, errLineTooLong
		}
		return trimEOL(bytes.Clone(frag)), nil
	}
	if err != bufio.ErrBufferFull {
		return nil, err
	}
	// A line longer than the buffer: collect it, up to the limit.
	line := append(make([]byte, 0, 2*len(frag)), frag...)
	for {
		if len(line) > l.max {
			return nil, errLineTooLong
		}
		frag, err = l.r.ReadSlice('\n')
		line = append(line, frag...)
		switch {
		case err == nil || (err == io.EOF && len(line) > 0):
			if len(line) > l.max+1 || (len(line) == l.max+1 && line[len(line)-1] != '\n') {
				return nil, errLineTooLong
			}
			return trimEOL(line), nil
		case err != bufio.ErrBufferFull:
			return nil, err
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}

// parseLine decodes one line of process output: one JSON-RPC message, or a
// JSON-RPC batch (MCP 2025-03-26 allowed batches; a server of that revision
// may still send them). Blank lines give no messages and no error.
func parseLine(line []byte) ([]*jsonrpc.Message, error) {
	t := bytes.TrimLeft(line, " \t\r")
	if len(t) == 0 {
		return nil, nil
	}
	if t[0] == '[' {
		ms, _, err := jsonrpc.DecodeBody(line, true, jsonrpc.Limits{MaxBatch: 1 << 16})
		return ms, err
	}
	m, err := jsonrpc.Decode(line, jsonrpc.Limits{})
	if err != nil {
		return nil, err
	}
	return []*jsonrpc.Message{m}, nil
}

// oneLine makes a validated JSON text safe to write as one stdio line. In
// valid JSON a CR or LF byte can only be insignificant whitespace (inside
// strings they must be escaped), so replacing each by a space keeps the
// meaning and keeps a pretty-printed client message from splitting into
// several lines. b is modified in place when owned, else copied.
func oneLine(b []byte, owned bool) []byte {
	i := bytes.IndexAny(b, "\r\n")
	if i < 0 {
		return b
	}
	if !owned {
		b = bytes.Clone(b)
	}
	for ; i < len(b); i++ {
		if b[i] == '\n' || b[i] == '\r' {
			b[i] = ' '
		}
	}
	return b
}
