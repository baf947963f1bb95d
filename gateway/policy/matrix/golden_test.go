package matrix_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/pii"
	"github.com/mcpfort/mcpfort/gateway/policy/pinning"
	"github.com/mcpfort/mcpfort/gateway/policy/schema"
	"github.com/mcpfort/mcpfort/gateway/policy/toolfilter"
)

var update = flag.Bool("update", false, "rewrite the expected sections of testdata/*.txtar")

// A golden conversation is a txtar file (testdata/*.txtar). Its comment
// names the eras and the policy:
//
//	client: 2025-11-25 | 2026-07-28
//	upstream: 2025-11-25 | 2026-07-28
//	policy: pii | toolfilter | schema | pinning
//
// and its files are:
//
//	client.in       the client's messages, one JSON-RPC message a line,
//	                each POSTed in turn (a legacy client's session id, and
//	                the 2026-07-28 headers, are added by the player)
//	upstream.want   what the upstream received, one block a request
//	upstream.reply  what the upstream answers: blocks of a key line
//	                ("method" or "tools/call name") and the answer, one
//	                line for a JSON body or several for an SSE stream of
//	                one event a line; "$ID" stands for the request's id.
//	                A key's blocks answer its requests in turn, the last
//	                one again once they run out; a key line ending in
//	                "after <key>" answers instead once the upstream has
//	                received a request of that key (a server whose tools
//	                changed). Notifications get 202.
//	client.want     what the client received, one block a request
//
// Volatile values are replaced by placeholders: {{session}} for the
// session id the gateway mints, {{event-id}} for SSE event ids, and
// {{gateway-id}} for the ids of the gateway's own upstream requests when
// they are not the client's.

// archive is a parsed txtar file.
type archive struct {
	comment string
	files   []archiveFile
}

type archiveFile struct {
	name string
	data string
}

var txtarMarker = regexp.MustCompile(`(?m)^-- (.+?) --$`)

func parseArchive(b []byte) archive {
	s := string(b)
	locs := txtarMarker.FindAllStringSubmatchIndex(s, -1)
	if len(locs) == 0 {
		return archive{comment: s}
	}
	a := archive{comment: s[:locs[0][0]]}
	for i, l := range locs {
		end := len(s)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		data := s[l[1]:end]
		data = strings.TrimPrefix(data, "\n")
		a.files = append(a.files, archiveFile{name: s[l[2]:l[3]], data: data})
	}
	return a
}

func (a archive) format() []byte {
	var b strings.Builder
	b.WriteString(a.comment)
	for _, f := range a.files {
		fmt.Fprintf(&b, "-- %s --\n", f.name)
		b.WriteString(f.data)
		if f.data != "" && !strings.HasSuffix(f.data, "\n") {
			b.WriteString("\n")
		}
	}
	return []byte(b.String())
}

func (a archive) file(name string) string {
	for _, f := range a.files {
		if f.name == name {
			return f.data
		}
	}
	return ""
}

func (a *archive) set(name, data string) {
	for i := range a.files {
		if a.files[i].name == name {
			a.files[i].data = data
			return
		}
	}
	a.files = append(a.files, archiveFile{name: name, data: data})
}

// header returns the value of "key: value" in the comment.
func (a archive) header(key string) string {
	for _, line := range strings.Split(a.comment, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// goldenPolicy returns the policy a conversation names.
func goldenPolicy(t *testing.T, name string) policytest.Options {
	t.Helper()
	var mw gateway.Middleware
	switch name {
	case "pii":
		p, err := pii.New(pii.Options{})
		if err != nil {
			t.Fatal(err)
		}
		mw = p.Wrap
	case "toolfilter":
		f, err := toolfilter.New(toolfilter.Options{Tools: toolfilter.Rules{Deny: []string{"admin_*"}}})
		if err != nil {
			t.Fatal(err)
		}
		mw = f.Wrap
	case "schema":
		v, err := schema.New(schema.Options{})
		if err != nil {
			t.Fatal(err)
		}
		mw = v.Wrap
	case "pinning":
		p, err := pinning.New(pinning.Options{ServerOptions: pinning.ServerOptions{TrustOnFirstUse: true}})
		if err != nil {
			t.Fatal(err)
		}
		mw = p.Wrap
	default:
		t.Fatalf("unknown policy %q", name)
	}
	// The catalog is listed again for every call, so that the
	// conversation, not a cache, decides what the upstream is asked.
	return policytest.Options{Middleware: []gateway.Middleware{mw}, ToolsTTL: time.Nanosecond}
}

// scripted is an upstream that answers from a script and records what it
// receives.
type scripted struct {
	t       *testing.T
	mu      sync.Mutex
	replies map[string][]string // key -> answers (each one or more lines)
	used    map[string]int
	seen    map[string]bool // keys received
	got     []string        // one block per request
}

func newScripted(t *testing.T, script string) *scripted {
	s := &scripted{t: t, replies: map[string][]string{}, used: map[string]int{}, seen: map[string]bool{}}
	for _, block := range blocks(script) {
		key, answer, _ := strings.Cut(block, "\n")
		s.replies[key] = append(s.replies[key], answer)
	}
	return s
}

// answerKey returns the script key that answers a request of key: the
// "after" variant whose condition the upstream has seen, or key itself.
func (s *scripted) answerKey(key string) string {
	for k := range s.replies {
		if base, cond, ok := strings.Cut(k, " after "); ok && base == key && s.seen[cond] {
			return k
		}
	}
	return key
}

// blocks splits text into its blocks of non-empty lines.
func blocks(text string) []string {
	var out []string
	for _, b := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// upstreamSession is the session id the scripted upstream gives a legacy
// initialize.
const upstreamSession = "upstream-session-1"

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var hdr []string
	for _, k := range []string{"Mcp-Session-Id", "Mcp-Protocol-Version", "Mcp-Method", "Mcp-Name"} {
		if v := r.Header.Get(k); v != "" {
			hdr = append(hdr, k+": "+v)
		}
	}
	rec := r.Method + "\n" + strings.Join(append(hdr, ""), "\n") + string(bytes.TrimSpace(body))
	s.mu.Lock()
	s.got = append(s.got, strings.TrimSpace(rec))
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	var m struct {
		ID     json.RawMessage
		Method string
		Params struct{ Name string }
	}
	if err := json.Unmarshal(body, &m); err != nil || m.ID == nil {
		w.WriteHeader(http.StatusAccepted) // a notification or a response
		return
	}
	key := m.Method
	if m.Method == "tools/call" {
		key += " " + m.Params.Name
	}
	s.mu.Lock()
	k := s.answerKey(key)
	s.seen[key] = true
	answers := s.replies[k]
	n := s.used[k]
	s.used[k]++
	s.mu.Unlock()
	if len(answers) == 0 {
		s.t.Errorf("the script has no answer to %s", key)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32603,"message":"no scripted answer"}}`, m.ID)
		return
	}
	answer := answers[min(n, len(answers)-1)]
	answer = strings.ReplaceAll(answer, "$ID", string(m.ID))
	if m.Method == "initialize" {
		w.Header().Set("Mcp-Session-Id", upstreamSession)
	}
	lines := strings.Split(answer, "\n")
	if len(lines) == 1 {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for i, l := range lines {
		fmt.Fprintf(w, "id: ev-%d\ndata: %s\n\n", i, l)
	}
}

func (s *scripted) received() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.got, "\n\n") + "\n"
}

// play sends the client's messages to the gateway at url and returns what
// came back, one block a request.
func play(t *testing.T, url string, legacy bool, in string) string {
	t.Helper()
	sid := ""
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(in), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range alice {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		var m struct {
			Method string
			Params struct{ Name, URI string }
		}
		_ = json.Unmarshal([]byte(line), &m)
		switch {
		case !legacy:
			req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
			if m.Method != "" {
				req.Header.Set("Mcp-Method", m.Method)
			}
			switch m.Method {
			case "tools/call", "prompts/get":
				req.Header.Set("Mcp-Name", m.Params.Name)
			case "resources/read":
				req.Header.Set("Mcp-Name", m.Params.URI)
			}
		case sid != "":
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		block := []string{strings.TrimSpace(fmt.Sprint(resp.StatusCode, " ", resp.Header.Get("Content-Type")))}
		if s := resp.Header.Get("Mcp-Session-Id"); s != "" {
			sid = s
			block = append(block, "Mcp-Session-Id: {{session}}")
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				switch l := sc.Text(); {
				case strings.HasPrefix(l, "id:"):
					block = append(block, "id: {{event-id}}")
				case strings.HasPrefix(l, "data:"):
					if d := strings.TrimSpace(l[5:]); d != "" {
						block = append(block, d)
					}
				case strings.HasPrefix(l, "retry:"):
					block = append(block, l)
				}
			}
		} else {
			b, _ := io.ReadAll(resp.Body)
			if b = bytes.TrimSpace(b); len(b) > 0 {
				block = append(block, string(b))
			}
		}
		resp.Body.Close()
		out = append(out, strings.Join(block, "\n"))
	}
	return strings.Join(out, "\n\n") + "\n"
}

// TestGolden plays every conversation of testdata through a gateway in
// front of a scripted upstream.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no conversations in testdata")
	}
	for _, name := range files {
		t.Run(strings.TrimSuffix(filepath.Base(name), ".txtar"), func(t *testing.T) {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			a := parseArchive(b)
			opts := goldenPolicy(t, a.header("policy"))
			legacyClient := a.header("client") == "2025-11-25"
			opts.UpstreamEra = gateway.EraModern
			if a.header("upstream") == "2025-11-25" {
				opts.UpstreamEra = gateway.EraLegacy
			}
			up := newScripted(t, a.file("upstream.reply"))
			ts := httptest.NewServer(up)
			t.Cleanup(ts.Close)
			gw := policytest.NewGateway(t, ts.URL, opts)
			gotClient := play(t, gw.URL, legacyClient, a.file("client.in"))
			gotUpstream := up.received()
			if *update {
				a.set("upstream.want", gotUpstream)
				a.set("client.want", gotClient)
				// Keep the sections in the order a reader follows them.
				order := map[string]int{"client.in": 0, "upstream.want": 1, "upstream.reply": 2, "client.want": 3}
				sortFiles(a.files, order)
				if err := os.WriteFile(name, a.format(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(a.file("upstream.want"), gotUpstream); diff != "" {
				t.Errorf("upstream received (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(a.file("client.want"), gotClient); diff != "" {
				t.Errorf("client received (-want +got):\n%s", diff)
			}
		})
	}
}

func sortFiles(fs []archiveFile, order map[string]int) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && order[fs[j].name] < order[fs[j-1].name]; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}
