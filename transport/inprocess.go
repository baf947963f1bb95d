package transport

import (
	"context"
	"io"
	"net/http"
	"sync"
)

// ServeInProcess runs h for req in this process and returns as soon as h
// has answered with a status: the body streams through a pipe while h
// writes it, and ends when h returns. A handler that panics answers 500
// (or ends its body, if it had answered) and onPanic, if not nil, is told.
// If ctx ends before a status, ServeInProcess returns ctx's error.
func ServeInProcess(ctx context.Context, h http.Handler, req *http.Request, onPanic func(any)) (*http.Response, error) {
	pr, pw := io.Pipe()
	w := &pipeWriter{h: http.Header{}, pw: pw, head: make(chan struct{})}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				if onPanic != nil {
					onPanic(v)
				}
				w.WriteHeader(http.StatusInternalServerError)
			}
			w.WriteHeader(http.StatusOK)
			pw.Close()
		}()
		h.ServeHTTP(w, req)
	}()
	select {
	case <-w.head:
	case <-ctx.Done():
		pr.CloseWithError(ctx.Err())
		return nil, ctx.Err()
	}
	return &http.Response{StatusCode: w.status, Status: http.StatusText(w.status), Header: w.snap, Body: pr, Request: req,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, ContentLength: -1}, nil
}

// pipeWriter is a ResponseWriter whose body is read through a pipe as it
// is written.
type pipeWriter struct {
	h      http.Header
	pw     *io.PipeWriter
	once   sync.Once
	head   chan struct{}
	status int
	snap   http.Header
}

func (p *pipeWriter) Header() http.Header { return p.h }

func (p *pipeWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		return
	}
	p.once.Do(func() {
		p.status, p.snap = code, p.h.Clone()
		close(p.head)
	})
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.pw.Write(b)
}

// Flush has nothing to do: every Write is already in the pipe.
func (p *pipeWriter) Flush() {}
