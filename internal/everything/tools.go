//lint:file-ignore SA1019 the conformance suite exercises sampling, roots and logging, which 2026-07-28 deprecates (SEP-2577) but still specifies.

package everything

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Names and texts below are the ones the conformance scenarios look for
// (@modelcontextprotocol/conformance 0.1.16 and 0.2.0-alpha.12, server
// scenarios under src/scenarios/server/); changing any of them fails a
// scenario.

// modernVersion is the first stateless protocol revision. Requests at or
// after it carry their own _meta and cannot receive server-to-client
// requests, so tools that need client input answer with an
// InputRequiredResult instead (SEP-2322, 2026-07-28 basic/patterns/mrtr).
const modernVersion = "2026-07-28"

// noArgs is the input schema of tools that take no arguments.
var noArgs = json.RawMessage(`{"type":"object","properties":{}}`)

func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

// addNoArgTool registers a tool without arguments through the low-level API,
// so that its schema is exactly noArgs and no reflection runs at start-up.
func (e *everything) addNoArgTool(name, description string, h mcp.ToolHandler) {
	e.server.AddTool(&mcp.Tool{Name: name, Description: description, InputSchema: noArgs}, h)
}

func (e *everything) addTools() {
	// echo is the benchmark tool: as cheap as a tools/call can be. Its
	// argument is optional because it sorts first in tools/list, and the
	// suite's http-header-validation scenario calls the first listed tool
	// with empty arguments and expects success.
	e.server.AddTool(&mcp.Tool{
		Name:        "echo",
		Description: "Returns its text argument (empty if absent) as text content",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string","description":"Text to echo back"}}}`),
	}, echo)

	e.addNoArgTool("test_simple_text", "Tests simple text content response", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return textResult("This is a simple text response for testing."), nil
	})
	e.addNoArgTool("test_image_content", "Tests image content response", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.ImageContent{Data: pngImage, MIMEType: "image/png"}}}, nil
	})
	e.addNoArgTool("test_audio_content", "Tests audio content response", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.AudioContent{Data: wavAudio, MIMEType: "audio/wav"}}}, nil
	})
	e.addNoArgTool("test_embedded_resource", "Tests embedded resource content response", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
			URI: "test://embedded-resource", MIMEType: "text/plain", Text: "This is an embedded resource content.",
		}}}}, nil
	})
	e.addNoArgTool("test_multiple_content_types", "Tests response with multiple content types (text, image, resource)", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{
			&mcp.TextContent{Text: "Multiple content types test:"},
			&mcp.ImageContent{Data: pngImage, MIMEType: "image/png"},
			&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
				URI: "test://mixed-content-resource", MIMEType: "application/json", Text: `{"test":"data","value":123}`,
			}},
		}}, nil
	})
	e.addNoArgTool("test_tool_with_logging", "Tests tool that emits log messages during execution", e.toolWithLogging)
	e.addNoArgTool("test_tool_with_progress", "Tests tool that reports progress notifications", e.toolWithProgress)
	e.addNoArgTool("test_error_handling", "Tests error response handling", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		// A tool failure is a result with isError, not a JSON-RPC error
		// (2025-11-25 server/tools "Error Handling").
		r := textResult("This tool intentionally returns an error for testing")
		r.IsError = true
		return r, nil
	})
	e.server.AddTool(&mcp.Tool{
		Name:        "test_sampling",
		Description: "Tests server-initiated sampling (LLM completion request)",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"prompt":{"type":"string","description":"The prompt to send to the LLM"}},"required":["prompt"]}`),
	}, sampling)
	e.server.AddTool(&mcp.Tool{
		Name:        "test_elicitation",
		Description: "Tests server-initiated elicitation (user input request)",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"message":{"type":"string","description":"The message to show the user"}},"required":["message"]}`),
	}, elicitation)
	e.addNoArgTool("test_elicitation_sep1034_defaults", "Tests elicitation with default values per SEP-1034", elicitWith("Test defaults for primitive types", sep1034Schema))
	e.addNoArgTool("test_elicitation_sep1330_enums", "Tests elicitation with enum schema improvements per SEP-1330", elicitWith("Test enum schema variants", sep1330Schema))
	e.server.AddTool(&mcp.Tool{
		Name:        "json_schema_2020_12_tool",
		Description: "Tool with JSON Schema 2020-12 features (SEP-1613, SEP-2106)",
		InputSchema: jsonSchema202012,
	}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return textResult("JSON Schema 2020-12 tool called with: " + string(req.Params.Arguments)), nil
	})
	e.addNoArgTool("test_reconnection", "Tests SSE stream disconnection and client reconnection (SEP-1699): closes the stream mid-call and sends the result after the client reconnects", e.reconnection)
	e.server.AddTool(&mcp.Tool{
		Name:        "test_x_mcp_header",
		Description: "Tests Mcp-Param-* header mirroring of x-mcp-header arguments (SEP-2243)",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"region":{"type":"string","description":"Mirrored into the Mcp-Param-Region header","x-mcp-header":"Region"},"level":{"type":"integer","description":"Not mirrored"}}}`),
	}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var in struct {
			Region string `json:"region"`
		}
		if err := unmarshalArgs(req, &in); err != nil {
			return nil, err
		}
		return textResult("region=" + in.Region), nil
	})

	e.addNoArgTool("test_trace_context", "Reports the W3C trace context the request carried: params._meta traceparent, tracestate and baggage (2026-07-28 basic _meta, SEP-414) and, over HTTP, the traceparent, tracestate and baggage headers", traceContext)

	// 2026-07-28 diagnostics used by the server-stateless scenario (SEP-2575).
	e.addNoArgTool("test_missing_capability", "Requires the sampling client capability; without it the call fails with -32021 MissingRequiredClientCapability (SEP-2575)", missingCapability)
	e.addNoArgTool("test_streaming_elicitation", "Streams progress while the call runs; the response stream carries only notifications and the result, never independent requests (SEP-2575)", e.streamingElicitation)
	e.addNoArgTool("test_logging_tool", "Tries to log; the SDK drops the message unless the request set _meta io.modelcontextprotocol/logLevel (SEP-2575)", func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "test_logging_tool", Data: "test_logging_tool executed"})
		return textResult("Log attempted"), nil
	})
	e.addNoArgTool("test_trigger_tool_change", "Changes the tool list, sending notifications/tools/list_changed to subscribers (SEP-2575)", e.triggerToolChange)
	e.addNoArgTool("test_trigger_prompt_change", "Changes the prompt list, sending notifications/prompts/list_changed to subscribers (SEP-2575)", e.triggerPromptChange)
}

// unmarshalArgs decodes tools/call arguments; malformed arguments are an
// invalid-params error (JSON-RPC 2.0 §5.1), never a panic.
func unmarshalArgs(req *mcp.CallToolRequest, v any) error {
	if len(req.Params.Arguments) == 0 {
		return nil
	}
	if err := json.Unmarshal(req.Params.Arguments, v); err != nil {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "invalid arguments: " + err.Error()}
	}
	return nil
}

func echo(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var in struct {
		Text string `json:"text"`
	}
	if err := unmarshalArgs(req, &in); err != nil {
		return nil, err
	}
	return textResult(in.Text), nil
}

// toolWithLogging sends three info messages about 50 ms apart
// (tools-call-with-logging). The SDK filters them by the session's
// logging/setLevel (legacy) or the request's _meta logLevel (2026-07-28).
func (e *everything) toolWithLogging(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	msgs := []string{"Tool execution started", "Tool processing data", "Tool execution completed"}
	for i, m := range msgs {
		if i > 0 {
			if err := e.pause(ctx); err != nil {
				return nil, err
			}
		}
		if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "test_tool_with_logging", Data: m}); err != nil {
			return nil, fmt.Errorf("send log message: %w", err)
		}
	}
	return textResult("Tool with logging executed successfully"), nil
}

// toolWithProgress reports 0, 50 and 100 of 100 about 50 ms apart when the
// request carries a progress token (tools-call-with-progress).
func (e *everything) toolWithProgress(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	token := req.Params.GetProgressToken()
	for i, p := range []float64{0, 50, 100} {
		if i > 0 {
			if err := e.pause(ctx); err != nil {
				return nil, err
			}
		}
		if token == nil {
			continue
		}
		if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
			ProgressToken: token, Progress: p, Total: 100, Message: fmt.Sprintf("Completed step %d of 3", i+1),
		}); err != nil {
			return nil, fmt.Errorf("send progress: %w", err)
		}
	}
	return textResult(fmt.Sprintf("Progress tool completed (token %v)", token)), nil
}

// modern reports whether the request uses the stateless protocol, in which
// client input is gathered through InputRequiredResult rather than requests.
func modern(req *mcp.CallToolRequest) bool {
	return req.ProtocolVersion() >= modernVersion
}

// sampling asks the client for an LLM completion (tools-call-sampling).
func sampling(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var in struct {
		Prompt string `json:"prompt"`
	}
	if err := unmarshalArgs(req, &in); err != nil {
		return nil, err
	}
	params := &mcp.CreateMessageParams{
		Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: in.Prompt}}},
		MaxTokens: 100,
	}
	if modern(req) {
		if text, ok := samplingText(req.Params.InputResponses, "sampling"); ok {
			return textResult("LLM response: " + text), nil
		}
		return inputRequired(mcp.InputRequestMap{"sampling": params}, ""), nil
	}
	withKey(params, "sampling")
	res, err := req.Session.CreateMessage(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("sampling failed: %w", err)
	}
	text := "(non-text response)"
	if tc, ok := res.Content.(*mcp.TextContent); ok {
		text = tc.Text
	}
	return textResult("LLM response: " + text), nil
}

// elicitation asks the user for a username and an email
// (tools-call-elicitation).
func elicitation(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var in struct {
		Message string `json:"message"`
	}
	if err := unmarshalArgs(req, &in); err != nil {
		return nil, err
	}
	params := &mcp.ElicitParams{
		Message: in.Message,
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"username": map[string]any{"type": "string", "description": "User's response"},
				"email":    map[string]any{"type": "string", "description": "User's email address"},
			},
			"required": []string{"username", "email"},
		},
	}
	res, pending, err := elicit(ctx, req, "user_input", params)
	if err != nil || pending != nil {
		return pending, err
	}
	return textResult("User response: " + describeElicitResult(res)), nil
}

// elicitWith returns a tool handler that elicits with the given schema and
// reports the outcome as "Elicitation completed: action=..., content=...".
func elicitWith(message string, schema func() map[string]any) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, pending, err := elicit(ctx, req, "elicitation", &mcp.ElicitParams{Message: message, RequestedSchema: schema()})
		if err != nil || pending != nil {
			return pending, err
		}
		return textResult("Elicitation completed: " + describeElicitResult(res)), nil
	}
}

// elicit sends elicitation/create on a legacy session, or, on the stateless
// protocol, returns the InputRequiredResult to send (pending) until the
// client's retry carries the answer under key.
func elicit(ctx context.Context, req *mcp.CallToolRequest, key string, params *mcp.ElicitParams) (res *mcp.ElicitResult, pending *mcp.CallToolResult, err error) {
	if modern(req) {
		if r, ok := req.Params.InputResponses[key].(*mcp.ElicitResult); ok && r != nil {
			return r, nil, nil
		}
		return nil, inputRequired(mcp.InputRequestMap{key: params}, ""), nil
	}
	withKey(params, key)
	res, err = req.Session.Elicit(ctx, params)
	if err != nil {
		return nil, nil, fmt.Errorf("elicitation failed: %w", err)
	}
	return res, nil, nil
}

func describeElicitResult(r *mcp.ElicitResult) string {
	content, err := json.Marshal(r.Content)
	if err != nil {
		content = []byte("{}")
	}
	return fmt.Sprintf("action=%s, content=%s", r.Action, content)
}

// sep1034Schema has a default for every primitive type (SEP-1034,
// elicitation-sep1034-defaults).
func sep1034Schema() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"name":     map[string]any{"type": "string", "description": "User name", "default": "John Doe"},
			"age":      map[string]any{"type": "integer", "description": "User age", "default": 30},
			"score":    map[string]any{"type": "number", "description": "User score", "default": 95.5},
			"status":   map[string]any{"type": "string", "description": "User status", "enum": []string{"active", "inactive", "pending"}, "default": "active"},
			"verified": map[string]any{"type": "boolean", "description": "Verification status", "default": true},
		},
	}
}

// sep1330Schema has the five enum shapes of SEP-1330
// (elicitation-sep1330-enums).
func sep1330Schema() map[string]any {
	titled := func(titles ...string) []map[string]any {
		out := make([]map[string]any, len(titles))
		for i, t := range titles {
			out[i] = map[string]any{"const": fmt.Sprintf("value%d", i+1), "title": t}
		}
		return out
	}
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"untitledSingle": map[string]any{"type": "string", "enum": []string{"option1", "option2", "option3"}},
			"titledSingle":   map[string]any{"type": "string", "oneOf": titled("First Option", "Second Option", "Third Option")},
			"legacyEnum": map[string]any{
				"type": "string", "enum": []string{"opt1", "opt2", "opt3"},
				"enumNames": []string{"Option One", "Option Two", "Option Three"},
			},
			"untitledMulti": map[string]any{
				"type": "array", "minItems": 1, "maxItems": 3,
				"items": map[string]any{"type": "string", "enum": []string{"option1", "option2", "option3"}},
			},
			"titledMulti": map[string]any{
				"type": "array", "minItems": 1, "maxItems": 3,
				"items": map[string]any{"anyOf": titled("First Choice", "Second Choice", "Third Choice")},
			},
		},
	}
}

// jsonSchema202012 must reach tools/list byte-for-byte in meaning: the
// json-schema-2020-12 scenario checks that $schema, $defs (with $anchor),
// allOf/anyOf, if/then/else and additionalProperties survive.
var jsonSchema202012 = json.RawMessage(`{
	"$schema": "https://json-schema.org/draft/2020-12/schema",
	"type": "object",
	"$defs": {
		"address": {
			"$anchor": "addressDef",
			"type": "object",
			"properties": {"street": {"type": "string"}, "city": {"type": "string"}}
		}
	},
	"properties": {
		"name": {"type": "string"},
		"address": {"$ref": "#/$defs/address"},
		"contactMethod": {"type": "string", "enum": ["phone", "email"]},
		"phone": {"type": "string"},
		"email": {"type": "string"}
	},
	"allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
	"if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
	"then": {"required": ["phone"]},
	"else": {"required": ["email"]},
	"additionalProperties": false
}`)

// reconnection closes the POST's SSE stream mid-call and answers after the
// client has come back with GET + Last-Event-ID (2025-11-25 transports,
// "Resumability and Redelivery"; SEP-1699, server-sse-polling).
func (e *everything) reconnection(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if req.Extra != nil && req.Extra.CloseSSEStream != nil {
		req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: 10 * time.Millisecond})
	}
	// Give the client time to reconnect; the result is stored in the event
	// store either way and replayed on resumption.
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	return textResult("Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure."), nil
}

// missingCapability needs the sampling capability; a client that did not
// declare it gets -32021 with data.requiredCapabilities (2026-07-28
// basic/index "Missing Required Client Capabilities").
func missingCapability(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if caps := req.ClientCapabilities(); caps != nil && caps.Sampling != nil {
		return textResult("Client declared the sampling capability; tool executed."), nil
	}
	data, err := json.Marshal(mcp.MissingRequiredClientCapabilityData{
		RequiredCapabilities: &mcp.ClientCapabilities{Sampling: &mcp.SamplingCapabilities{}},
	})
	if err != nil {
		return nil, err
	}
	return nil, &jsonrpc.Error{
		Code:    mcp.CodeMissingRequiredClientCapabilities,
		Message: "this tool requires the sampling client capability",
		Data:    data,
	}
}

// streamingElicitation sends progress on the response stream and never a
// request: on the stateless protocol a response stream may carry only
// notifications related to the request and its result (2026-07-28
// streamable-http, SEP-2575).
func (e *everything) streamingElicitation(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if token := req.Params.GetProgressToken(); token != nil {
		for i, p := range []float64{1, 2} {
			if i > 0 {
				if err := e.pause(ctx); err != nil {
					return nil, err
				}
			}
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: p, Total: 2}); err != nil {
				return nil, fmt.Errorf("send progress: %w", err)
			}
		}
	}
	return textResult("stream carried notifications and the result only"), nil
}

const (
	transientTool   = "test_transient_tool"
	transientPrompt = "test_transient_prompt"
)

// triggerToolChange re-adds a transient tool. Every AddTool makes the SDK
// send notifications/tools/list_changed to legacy sessions and to
// subscriptions/listen streams.
func (e *everything) triggerToolChange(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	e.addNoArgTool(transientTool, "Added by test_trigger_tool_change", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return textResult("transient tool"), nil
	})
	return textResult("tools list changed"), nil
}

// triggerPromptChange is the prompt counterpart of triggerToolChange.
func (e *everything) triggerPromptChange(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	e.server.AddPrompt(&mcp.Prompt{Name: transientPrompt, Description: "Added by test_trigger_prompt_change"},
		func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "transient prompt"}}}}, nil
		})
	return textResult("prompts list changed"), nil
}

// errInvalidState is returned for requestState that fails verification.
var errInvalidState = errors.New("invalid requestState")

// traceContext answers with the trace context the call arrived with, so a
// test can check what a gateway in front propagated.
func traceContext(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	out := map[string]string{}
	for _, k := range []string{"traceparent", "tracestate", "baggage"} {
		if v, ok := req.Params.Meta[k].(string); ok {
			out["meta_"+k] = v
		}
		if req.Extra != nil && req.Extra.Header != nil {
			if v := req.Extra.Header.Get(k); v != "" {
				out["header_"+k] = v
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return textResult(string(b)), nil
}
