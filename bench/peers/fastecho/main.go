package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback `address` to listen on")
	var e echo
	flag.BoolVar(&e.sse, "sse", false, "answer tools/call as a text/event-stream of one event")
	flag.DurationVar(&e.delay, "delay", 0, "wait this `long` before answering tools/call")
	flag.Parse()
	if err := run(*addr, e); err != nil {
		fmt.Fprintln(os.Stderr, "fastecho:", err)
		os.Exit(1)
	}
}

type request struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Name      string `json:"name"`
		Arguments struct {
			Text string `json:"text"`
		} `json:"arguments"`
	} `json:"params"`
}

const version = "2025-11-25"

// echo is the server's behaviour: how tools/call is answered.
type echo struct {
	sse   bool          // as an event stream of one message event
	delay time.Duration // after this long
}

// handle serves with the defaults: JSON answers at once.
func handle(w http.ResponseWriter, r *http.Request) { echo{}.serve(w, r) }

func (e echo) serve(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, []byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`))
		return
	}
	if req.ID == nil {
		w.WriteHeader(http.StatusAccepted) // a notification or a response
		return
	}
	out := append([]byte(`{"jsonrpc":"2.0","id":`), req.ID...)
	switch req.Method {
	case "initialize":
		sid := make([]byte, 16)
		_, _ = rand.Read(sid)
		w.Header().Set("Mcp-Session-Id", hex.EncodeToString(sid))
		out = append(out, `,"result":{"protocolVersion":"`+version+`","capabilities":{"tools":{}},"serverInfo":{"name":"fastecho","version":"1.0.0"}}}`...)
	case "ping":
		out = append(out, `,"result":{}}`...)
	case "tools/list":
		out = append(out, `,"result":{"tools":[{"name":"echo","description":"Returns its text argument","inputSchema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}}]}}`...)
	case "tools/call":
		if req.Params.Name != "echo" {
			out = append(out, `,"error":{"code":-32602,"message":"Unknown tool"}}`...)
			break
		}
		text, _ := json.Marshal(req.Params.Arguments.Text)
		out = append(out, `,"result":{"content":[{"type":"text","text":`...)
		out = append(out, text...)
		out = append(out, `}]}}`...)
		if e.delay > 0 {
			time.Sleep(e.delay)
		}
		if e.sse {
			w.Header().Set("Content-Type", "text/event-stream")
			b := make([]byte, 0, len(out)+24)
			b = append(b, "event: message\ndata: "...)
			b = append(b, out...)
			w.Write(append(b, "\n\n"...))
			return
		}
	default:
		msg, _ := json.Marshal("Method not found: " + req.Method)
		out = append(out, `,"error":{"code":-32601,"message":`...)
		out = append(out, msg...)
		out = append(out, `}}`...)
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func run(addr string, e echo) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/mcp", e.serve)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(os.Stderr, "listening on http://%s/mcp\n", ln.Addr())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
