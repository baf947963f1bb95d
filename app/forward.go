package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/internal/base64url"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/transport"
)

// headerForwarded marks a request one replica forwarded to another:
// "<unix time>.<HMAC-SHA256 over time, method, path and session id>",
// keyed from the session secrets every replica shares. The owner serves
// such a request itself and never forwards it again.
const headerForwarded = "Mcpfort-Forwarded"

// forwardSkew bounds the age of a forwarding mark.
const forwardSkew = 30 * time.Second

// forwarder sends the requests of a legacy session of a local (stdio)
// server to the replica that runs its process (state.replica_url): the
// session id names that replica, sealed, so the client cannot choose it.
// It runs before authentication, so that the owner checks the token, the
// DPoP proof and the session binding exactly as if the client had come to
// it directly; the forwarding replica reads nothing but the sealed owner.
// Bodies and answers stream through (SSE included); nothing is buffered
// but the at most maxPeek bytes of a POST read to find the replica holding
// a call waiting for client input (wrap).
// An owner that cannot be reached means the session is gone: 404, and the
// client starts a new session, never a fresh process that answers as if
// initialised.
type forwarder struct {
	self    string           // this replica's URL
	keyring *session.Keyring // its ReplicaKeys mark and verify, following rotations
	proxy   *httputil.ReverseProxy
	now     func() time.Time
	log     *slog.Logger

	// draining ends when the replica starts to shut down: forwarded GET
	// streams then end (see drainBody), as the gateway's own do.
	draining   context.Context
	startDrain context.CancelFunc
}

type ownerKey struct{}

func newForwarder(self string, keyring *session.Keyring, log *slog.Logger) (*forwarder, error) {
	f := &forwarder{self: strings.TrimSuffix(self, "/"), keyring: keyring, now: time.Now, log: log}
	f.draining, f.startDrain = context.WithCancel(context.Background())
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			owner := pr.In.Context().Value(ownerKey{}).(*url.URL)
			pr.SetURL(owner)
			pr.Out.URL.Path, pr.Out.URL.RawPath = pr.In.URL.Path, pr.In.URL.RawPath
			pr.Out.Host = pr.In.Host // the owner checks Host and Origin as the client sent them
			pr.SetXForwarded()
			pr.Out.Header.Set(headerForwarded, f.mark(pr.In.Method, pr.In.URL.Path, markedSession(pr.In)))
		},
		FlushInterval: -1, // SSE: every event at once
		ModifyResponse: func(res *http.Response) error {
			// A GET stream lasts as long as the client keeps it: a
			// replica shutting down ends it, and the client opens it again
			// elsewhere. Calls (POST) run to their end.
			if res.Request.Method == http.MethodGet {
				res.Body = newDrainBody(res.Body, f.draining)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if id, ok := r.Context().Value(retryKey{}).(jsonrpc.ID); ok {
				// The replica holding the call is gone: so is the call.
				f.log.Warn("owner of a call held for client input unreachable", "path", r.URL.Path, "error", err.Error())
				transport.WriteError(w, http.StatusOK, id, gateway.RequestStateGone())
				return
			}
			if r.Context().Value(answerKey{}) != nil {
				// The call awaiting the answer is gone with its replica:
				// the answer has nowhere to go, as on the replica itself.
				f.log.Warn("owner of a call awaiting client input unreachable", "path", r.URL.Path, "error", err.Error())
				w.WriteHeader(http.StatusAccepted)
				return
			}
			// The owner is gone (or unreachable): so is the session.
			f.log.Warn("session owner unreachable", "path", r.URL.Path, "error", err.Error())
			transport.WriteError(w, http.StatusNotFound, jsonrpc.ID{}, jsonrpc.NewError(jsonrpc.CodeInvalidRequest, "Session not found"))
		},
	}
	return f, nil
}

// drain ends the forwarded GET streams, now and from now on. Run calls it
// when the replica starts to shut down, before the HTTP server waits for
// open requests: a stream left open would hold the shutdown until
// http.shutdown_grace and then be cut.
func (f *forwarder) drain() { f.startDrain() }

// drainBody is the body of a forwarded GET stream: once draining ends, it
// closes the owner's answer and reads as its end (io.EOF), so that the
// client's stream ends cleanly (a complete chunked answer) rather than
// being cut.
type drainBody struct {
	io.ReadCloser
	draining context.Context
	stop     func() bool
}

func newDrainBody(b io.ReadCloser, draining context.Context) *drainBody {
	return &drainBody{ReadCloser: b, draining: draining, stop: context.AfterFunc(draining, func() { b.Close() })}
}

func (d *drainBody) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	if err != nil && d.draining.Err() != nil {
		return n, io.EOF
	}
	return n, err
}

func (d *drainBody) Close() error {
	d.stop()
	return d.ReadCloser.Close()
}

func (f *forwarder) mac(key []byte, ts, method, path, sid string) []byte {
	m := hmac.New(sha256.New, key)
	for _, s := range []string{ts, method, path, sid} {
		m.Write([]byte(strconv.Itoa(len(s))))
		m.Write([]byte{':'})
		m.Write([]byte(s))
	}
	return m.Sum(nil)
}

func (f *forwarder) mark(method, path, sid string) string {
	ts := strconv.FormatInt(f.now().Unix(), 10)
	return ts + "." + base64.RawURLEncoding.EncodeToString(f.mac(f.keyring.ReplicaKeys()[0], ts, method, path, sid))
}

// forwarded reports whether r carries a valid mark from another replica.
func (f *forwarder) forwarded(r *http.Request) bool {
	v := r.Header.Get(headerForwarded)
	ts, sum, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || f.now().Sub(time.Unix(t, 0)).Abs() > forwardSkew {
		return false
	}
	got, err := base64url.Decode(sum)
	if err != nil {
		return false
	}
	for _, k := range f.keyring.ReplicaKeys() {
		if hmac.Equal(got, f.mac(k, ts, r.Method, r.URL.Path, markedSession(r))) {
			return true
		}
	}
	return false
}

// fromReplica removes the forwarding mark from r and reports whether it
// was a valid one from another replica. A forged or stale mark is
// dropped and r is served as any other request.
func (f *forwarder) fromReplica(r *http.Request) bool {
	if r.Header.Get(headerForwarded) == "" {
		return false
	}
	ok := f.forwarded(r)
	r.Header.Del(headerForwarded)
	return ok
}

// markedSession is the session a forwarding mark covers: the
// Mcp-Session-Id, or for the HTTP+SSE front door's messages the sessionId
// query parameter.
func markedSession(r *http.Request) string {
	if sid := r.Header.Get(mcp.HeaderSessionID); sid != "" {
		return sid
	}
	return r.URL.Query().Get("sessionId")
}

// doorPurpose seals the HTTP+SSE front door's session ids.
const doorPurpose = "legacy_sse session"

// doorID names a new session of the HTTP+SSE front door: this replica and
// 256 random bits, sealed with the session keys, so that any replica can
// find where its stream is held and the client cannot choose it.
func (f *forwarder) doorID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return f.keyring.SealData(doorPurpose, append([]byte(f.self+"\n"), b...))
}

// wrapDoor forwards the front door's message POSTs to the replica holding
// their session's stream (2024-11-05 basic/transports "HTTP with SSE":
// the stream and the POSTs of a session are separate requests, which a
// load balancer may send to different replicas). Like wrap, it runs before
// authentication: the owner authenticates and checks the session's
// principal. An id that does not open is served here (404).
func (f *forwarder) wrapDoor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.fromReplica(r) {
			next.ServeHTTP(w, r) // the owner serves; never forwarded twice
			return
		}
		id := r.URL.Query().Get("sessionId")
		if r.Method != http.MethodPost || id == "" {
			next.ServeHTTP(w, r)
			return
		}
		plain, err := f.keyring.OpenData(doorPurpose, id)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		own, _, _ := strings.Cut(string(plain), "\n")
		owner, ok := f.replica(own)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		f.proxy.ServeHTTP(w, r.WithContext(contextWithOwner(r, owner)))
	})
}

// maxPeek bounds the body of a POST the forwarder reads to find the
// replica holding a call waiting for client input (a requestState, or a
// response's id); a larger body is served here.
const maxPeek = 1 << 20

// stateOwner finds the replica holding a call waiting for client input:
// the one a 2026-07-28 retry continues (RequestStateOwner), or the one
// awaiting a legacy client's answer to a server request
// (InputAnswerOwner); gateway.Gateway implements it.
type stateOwner interface {
	RequestStateOwner(body []byte) (owner string, id jsonrpc.ID, ok bool)
	InputAnswerOwner(body []byte) (owner string, ok bool)
}

type answerKey struct{}

type retryKey struct{}

// wrap forwards the requests of sessions another replica owns (if
// sessions), and the 2026-07-28 retries of calls another replica holds
// for client input (2026-07-28 basic/patterns/mrtr: the client carries
// the requestState back to any replica; the upstream call waits on the
// connection of the one that holds it, which the sealed state names).
func (f *forwarder) wrap(next http.Handler, sessions bool, retries stateOwner) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.fromReplica(r) {
			next.ServeHTTP(w, r) // the owner serves; never forwarded twice
			return
		}
		sid := r.Header.Get(mcp.HeaderSessionID)
		if sid == "" {
			if r.Method == http.MethodPost && retries != nil {
				if owner, id, ok := f.retryOwner(r, retries); ok {
					f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(contextWithOwner(r, owner), retryKey{}, id)))
					return
				}
			}
			next.ServeHTTP(w, r)
			return
		}
		if !sessions {
			// Sessions of a remote upstream are served anywhere, but a
			// call's stream to a legacy client lives on one replica,
			// where the client's answers to its requests are awaited.
			if r.Method == http.MethodPost && retries != nil {
				if owner, ok := f.answerOwner(r, retries); ok {
					f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(contextWithOwner(r, owner), answerKey{}, true)))
					return
				}
			}
			next.ServeHTTP(w, r)
			return
		}
		st, err := f.keyring.Open(sid, f.now())
		if err != nil || st.Owner == "" || strings.TrimSuffix(st.Owner, "/") == f.self {
			next.ServeHTTP(w, r) // the gateway answers 404 for a bad id
			return
		}
		owner, err := url.Parse(st.Owner)
		if err != nil || (owner.Scheme != "http" && owner.Scheme != "https") || owner.Host == "" {
			// Sealed by a replica without state.replica_url: its
			// process is not reachable from here.
			next.ServeHTTP(w, r)
			return
		}
		f.proxy.ServeHTTP(w, r.WithContext(contextWithOwner(r, owner)))
	})
}

func contextWithOwner(r *http.Request, owner *url.URL) context.Context {
	return context.WithValue(r.Context(), ownerKey{}, owner)
}

// peek reads the body of r (at most maxPeek bytes) and replaces r.Body so
// that whoever serves r reads it whole and unchanged.
func peek(r *http.Request) ([]byte, bool) {
	if r.ContentLength > maxPeek || r.Body == nil || r.Body == http.NoBody {
		return nil, false
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxPeek+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	return buf, err == nil && len(buf) <= maxPeek
}

// replica parses an owner sealed by another replica; ok is false for this
// replica and for names that are not URLs (sealed by a replica without
// state.replica_url).
func (f *forwarder) replica(own string) (*url.URL, bool) {
	if strings.TrimSuffix(own, "/") == f.self {
		return nil, false
	}
	owner, err := url.Parse(own)
	if err != nil || (owner.Scheme != "http" && owner.Scheme != "https") || owner.Host == "" {
		return nil, false
	}
	return owner, true
}

// answerOwner returns the replica to forward r to when it is a legacy
// client's answer to a request another replica sent it.
func (f *forwarder) answerOwner(r *http.Request, held stateOwner) (*url.URL, bool) {
	buf, ok := peek(r)
	if !ok {
		return nil, false
	}
	own, ok := held.InputAnswerOwner(buf)
	if !ok {
		return nil, false
	}
	return f.replica(own)
}

// retryOwner returns the replica to forward r to when it is a 2026-07-28
// retry of a call another replica holds, named in its sealed
// requestState.
func (f *forwarder) retryOwner(r *http.Request, retries stateOwner) (*url.URL, jsonrpc.ID, bool) {
	buf, ok := peek(r)
	if !ok {
		return nil, jsonrpc.ID{}, false
	}
	own, id, ok := retries.RequestStateOwner(buf)
	if !ok {
		return nil, jsonrpc.ID{}, false
	}
	owner, ok := f.replica(own)
	if !ok {
		// Here, or a replica without state.replica_url: the gateway
		// serves it (or answers that the call is gone).
		return nil, jsonrpc.ID{}, false
	}
	return owner, id, true
}
