//lint:file-ignore SA1019 the conformance suite exercises sampling, roots and logging, which 2026-07-28 deprecates (SEP-2577) but still specifies.

package everything

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/internal/base64url"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Multi round-trip requests (SEP-2322; 2026-07-28 basic/patterns/mrtr): a
// tool that needs client input answers with an InputRequiredResult listing
// inputRequests; the client retries the same call carrying inputResponses and
// the opaque requestState. For legacy sessions the SDK turns the same
// InputRequiredResult into real server-to-client requests, so these tools
// work in both eras.

// stateTTL bounds how long a minted requestState is accepted.
const stateTTL = 10 * time.Minute

// maxStateLen bounds the requestState accepted for verification; ours are
// well under 200 bytes.
const maxStateLen = 1024

// requestState is what this server keeps in the client's hands between
// rounds. Tool binds the state to the tool that minted it, so state from one
// tool cannot be replayed into another.
type requestState struct {
	Tool    string `json:"t"`
	Round   int    `json:"r"`
	Name    string `json:"n,omitempty"`
	Expires int64  `json:"e"`
}

// sealState encodes st as base64url(JSON) "." base64url(HMAC-SHA256). The
// state is integrity-protected, not secret: it holds nothing the client did
// not send (MRTR "Server Requirements": requestState MUST be protected when
// it affects behaviour).
func (e *everything) sealState(st requestState) (string, error) {
	st.Expires = time.Now().Add(stateTTL).Unix()
	payload, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("marshal request state: %w", err)
	}
	mac := hmac.New(sha256.New, e.stateKey)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// inputRequiredWithState is inputRequired with freshly sealed state.
func (e *everything) inputRequiredWithState(reqs mcp.InputRequestMap, st requestState) (*mcp.CallToolResult, error) {
	state, err := e.sealState(st)
	if err != nil {
		return nil, err
	}
	return inputRequired(reqs, state), nil
}

// openState verifies a requestState minted by sealState for tool. Any
// failure (malformed, bad MAC, wrong tool, expired) is errInvalidState; the
// cause is deliberately not told to the client.
func (e *everything) openState(s, tool string, now time.Time) (requestState, error) {
	var st requestState
	if len(s) > maxStateLen {
		return st, errInvalidState
	}
	p, m, ok := strings.Cut(s, ".")
	if !ok {
		return st, errInvalidState
	}
	payload, err := base64url.Decode(p)
	if err != nil {
		return st, errInvalidState
	}
	got, err := base64url.Decode(m)
	if err != nil {
		return st, errInvalidState
	}
	mac := hmac.New(sha256.New, e.stateKey)
	mac.Write(payload)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return st, errInvalidState
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return requestState{}, errInvalidState
	}
	if st.Tool != tool || now.Unix() > st.Expires {
		return requestState{}, errInvalidState
	}
	return st, nil
}

// invalidState is the JSON-RPC error for requestState that fails
// verification: invalid params (-32602), as input-required-result-tampered-state expects.
func invalidState() error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: errInvalidState.Error()}
}

func nameSchema() map[string]any {
	return map[string]any{
		"type":       "object",
		"properties": map[string]any{"name": map[string]any{"type": "string"}},
		"required":   []string{"name"},
	}
}

func oneStringSchema(prop string) map[string]any {
	return map[string]any{
		"type":       "object",
		"properties": map[string]any{prop: map[string]any{"type": "string"}},
		"required":   []string{prop},
	}
}

func confirmSchema() map[string]any {
	return map[string]any{
		"type":       "object",
		"properties": map[string]any{"ok": map[string]any{"type": "boolean"}},
		"required":   []string{"ok"},
	}
}

// accepted returns the content of an accepted elicitation answer under key,
// or nil when the answer is missing, of another kind, or not "accept".
func accepted(responses mcp.InputResponseMap, key string) map[string]any {
	r, ok := responses[key].(*mcp.ElicitResult)
	if !ok || r == nil || r.Action != "accept" {
		return nil
	}
	return r.Content
}

// acceptedString returns the non-empty string field of an accepted
// elicitation answer.
func acceptedString(responses mcp.InputResponseMap, key, field string) (string, bool) {
	s, ok := accepted(responses, key)[field].(string)
	return s, ok && s != ""
}

// samplingText returns the first text of a sampling answer under key.
func samplingText(responses mcp.InputResponseMap, key string) (string, bool) {
	switch r := responses[key].(type) {
	case *mcp.CreateMessageWithToolsResult:
		if r == nil {
			return "", false
		}
		for _, c := range r.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				return tc.Text, true
			}
		}
		return "(non-text response)", true
	case *mcp.CreateMessageResult:
		if r == nil {
			return "", false
		}
		if tc, ok := r.Content.(*mcp.TextContent); ok {
			return tc.Text, true
		}
		return "(non-text response)", true
	}
	return "", false
}

func rootsAnswer(responses mcp.InputResponseMap, key string) (*mcp.ListRootsResult, bool) {
	r, ok := responses[key].(*mcp.ListRootsResult)
	return r, ok && r != nil
}

func inputRequired(reqs mcp.InputRequestMap, state string) *mcp.CallToolResult {
	return &mcp.CallToolResult{InputRequests: keyed(reqs), RequestState: state}
}

// inputKeyMeta is the params._meta member in which a server-to-client
// request names its key among an InputRequiredResult's inputRequests. On a
// legacy session the SDK sends each input request as a request of its own,
// which has no key; mcpfort's era bridge reads this member to give a
// 2026-07-28 client the keys this server chose (see the gateway's
// InputKeyMeta).
const inputKeyMeta = "io.github.mcpfort/inputKey"

// keyed sets inputKeyMeta on every request of reqs to its key.
func keyed(reqs mcp.InputRequestMap) mcp.InputRequestMap {
	for k, r := range reqs {
		if p, ok := r.(mcp.Params); ok {
			withKey(p, k)
		}
	}
	return reqs
}

// withKey sets inputKeyMeta on p's _meta to key.
func withKey(p mcp.Params, key string) {
	m := p.GetMeta()
	if m == nil {
		m = map[string]any{}
	}
	m[inputKeyMeta] = key
	p.SetMeta(m)
}

const (
	toolIRRElicitation    = "test_input_required_result_elicitation"
	toolIRRSampling       = "test_input_required_result_sampling"
	toolIRRListRoots      = "test_input_required_result_list_roots"
	toolIRRRequestState   = "test_input_required_result_request_state"
	toolIRRMultipleInputs = "test_input_required_result_multiple_inputs"
	toolIRRMultiRound     = "test_input_required_result_multi_round"
	toolIRRTamperedState  = "test_input_required_result_tampered_state"
	toolIRRCapabilities   = "test_input_required_result_capabilities"
	promptIRR             = "test_input_required_result_prompt"
)

func (e *everything) addMRTRTools() {
	e.addNoArgTool(toolIRRElicitation, "MRTR (SEP-2322): asks for the caller's name with an elicitation input request", e.irrElicitation)
	e.addNoArgTool(toolIRRSampling, "MRTR (SEP-2322): asks for an LLM completion with a sampling input request", e.irrSampling)
	e.addNoArgTool(toolIRRListRoots, "MRTR (SEP-2322): asks for the client's roots with a roots/list input request", e.irrListRoots)
	e.addNoArgTool(toolIRRRequestState, "MRTR (SEP-2322): round-trips an integrity-protected requestState with an elicitation", e.irrRequestState)
	e.addNoArgTool(toolIRRMultipleInputs, "MRTR (SEP-2322): asks for elicitation, sampling and roots input in one round", e.irrMultipleInputs)
	e.addNoArgTool(toolIRRMultiRound, "MRTR (SEP-2322): two elicitation rounds with evolving requestState", e.irrMultiRound)
	e.addNoArgTool(toolIRRTamperedState, "MRTR (SEP-2322): refuses a retry whose requestState fails integrity verification", e.irrTamperedState)
	e.addNoArgTool(toolIRRCapabilities, "MRTR (SEP-2322): requests only the input kinds the client's declared capabilities cover", e.irrCapabilities)
}

// irrElicitation completes once the retry carries an accepted "user_name"
// answer with a name. Anything else, missing, wrong or extra keys included,
// gets a fresh InputRequiredResult (input-required-result-missing-input-response,
// -ignore-extra-params, -validate-input).
func (e *everything) irrElicitation(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if name, ok := acceptedString(req.Params.InputResponses, "user_name", "name"); ok {
		return textResult(fmt.Sprintf("Hello, %s!", name)), nil
	}
	return inputRequired(mcp.InputRequestMap{
		"user_name": &mcp.ElicitParams{Message: "What is your name?", RequestedSchema: nameSchema()},
	}, ""), nil
}

func capitalQuestion(maxTokens int64, text string) *mcp.CreateMessageParams {
	return &mcp.CreateMessageParams{
		Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}},
		MaxTokens: maxTokens,
	}
}

func (e *everything) irrSampling(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if text, ok := samplingText(req.Params.InputResponses, "capital_question"); ok {
		return textResult("Sampling response: " + text), nil
	}
	return inputRequired(mcp.InputRequestMap{
		"capital_question": capitalQuestion(100, "What is the capital of France?"),
	}, ""), nil
}

func (e *everything) irrListRoots(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if r, ok := rootsAnswer(req.Params.InputResponses, "client_roots"); ok {
		uris := make([]string, 0, len(r.Roots))
		for _, root := range r.Roots {
			if root != nil {
				uris = append(uris, root.URI)
			}
		}
		return textResult(fmt.Sprintf("Client exposed %d root(s): %s", len(uris), strings.Join(uris, ", "))), nil
	}
	return inputRequired(mcp.InputRequestMap{"client_roots": &mcp.ListRootsParams{}}, ""), nil
}

// confirmRound implements the request-state and tampered-state tools: round
// one asks for confirmation and mints state; a retry with state must carry
// valid state, else it is refused with -32602.
func (e *everything) confirmRound(req *mcp.CallToolRequest, tool string) (*mcp.CallToolResult, error) {
	if req.Params.RequestState != "" {
		if _, err := e.openState(req.Params.RequestState, tool, time.Now()); err != nil {
			return nil, invalidState()
		}
		if accepted(req.Params.InputResponses, "confirm") != nil {
			return textResult("state-ok: requestState verified and confirmation accepted"), nil
		}
	}
	return e.inputRequiredWithState(mcp.InputRequestMap{
		"confirm": &mcp.ElicitParams{Message: "Please confirm", RequestedSchema: confirmSchema()},
	}, requestState{Tool: tool, Round: 1})
}

func (e *everything) irrRequestState(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return e.confirmRound(req, toolIRRRequestState)
}

func (e *everything) irrTamperedState(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return e.confirmRound(req, toolIRRTamperedState)
}

func (e *everything) irrMultipleInputs(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	in := req.Params.InputResponses
	if req.Params.RequestState != "" {
		if _, err := e.openState(req.Params.RequestState, toolIRRMultipleInputs, time.Now()); err != nil {
			return nil, invalidState()
		}
		name, okName := acceptedString(in, "user_name", "name")
		greeting, okGreeting := samplingText(in, "greeting")
		roots, okRoots := rootsAnswer(in, "client_roots")
		if okName && okGreeting && okRoots {
			return textResult(fmt.Sprintf("%s %s: %d root(s) visible", greeting, name, len(roots.Roots))), nil
		}
	}
	return e.inputRequiredWithState(mcp.InputRequestMap{
		"user_name":    &mcp.ElicitParams{Message: "What is your name?", RequestedSchema: nameSchema()},
		"greeting":     capitalQuestion(50, "Generate a greeting"),
		"client_roots": &mcp.ListRootsParams{},
	}, requestState{Tool: toolIRRMultipleInputs, Round: 1})
}

// irrMultiRound keeps the round and the name from round one in the sealed
// state: the server remembers nothing between requests.
func (e *everything) irrMultiRound(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	step1 := func() (*mcp.CallToolResult, error) {
		return e.inputRequiredWithState(mcp.InputRequestMap{
			"step1": &mcp.ElicitParams{Message: "Step 1: What is your name?", RequestedSchema: nameSchema()},
		}, requestState{Tool: toolIRRMultiRound, Round: 1})
	}
	if req.Params.RequestState == "" {
		return step1()
	}
	st, err := e.openState(req.Params.RequestState, toolIRRMultiRound, time.Now())
	if err != nil {
		return nil, invalidState()
	}
	switch st.Round {
	case 1:
		name, ok := acceptedString(req.Params.InputResponses, "step1", "name")
		if !ok {
			return step1()
		}
		return e.inputRequiredWithState(mcp.InputRequestMap{
			"step2": &mcp.ElicitParams{Message: "Step 2: What is your favorite color?", RequestedSchema: oneStringSchema("color")},
		}, requestState{Tool: toolIRRMultiRound, Round: 2, Name: name})
	default:
		color, ok := acceptedString(req.Params.InputResponses, "step2", "color")
		if !ok {
			return e.inputRequiredWithState(mcp.InputRequestMap{
				"step2": &mcp.ElicitParams{Message: "Step 2: What is your favorite color?", RequestedSchema: oneStringSchema("color")},
			}, requestState{Tool: toolIRRMultiRound, Round: 2, Name: st.Name})
		}
		return textResult(fmt.Sprintf("Multi-round complete: %s likes %s", st.Name, color)), nil
	}
}

// irrCapabilities asks only for what the request's declared client
// capabilities allow (2026-07-28 basic/index: servers MUST NOT rely on
// undeclared capabilities).
func (e *everything) irrCapabilities(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if len(req.Params.InputResponses) > 0 {
		return textResult("Capability-aware input requests fulfilled"), nil
	}
	caps := req.ClientCapabilities()
	reqs := mcp.InputRequestMap{}
	if caps != nil && caps.Elicitation != nil {
		reqs["user_name"] = &mcp.ElicitParams{Message: "What is your name?", RequestedSchema: nameSchema()}
	}
	if caps != nil && caps.Sampling != nil {
		reqs["greeting"] = capitalQuestion(50, "Generate a short greeting")
	}
	if caps != nil && (caps.RootsV2 != nil || caps.Roots.ListChanged) {
		reqs["client_roots"] = &mcp.ListRootsParams{}
	}
	if len(reqs) == 0 {
		return textResult("No declared client capability supports an input request"), nil
	}
	return inputRequired(reqs, ""), nil
}

// irrPrompt is the prompts/get counterpart: MRTR is not limited to tools
// (input-required-result-non-tool-request).
func irrPrompt(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	if ctxText, ok := acceptedString(req.Params.InputResponses, "user_context", "context"); ok {
		return &mcp.GetPromptResult{
			Description: "A prompt with elicited context",
			Messages:    []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "Context: " + ctxText}}},
		}, nil
	}
	return &mcp.GetPromptResult{InputRequests: keyed(mcp.InputRequestMap{
		"user_context": &mcp.ElicitParams{Message: "What context should the prompt use?", RequestedSchema: oneStringSchema("context")},
	})}, nil
}
