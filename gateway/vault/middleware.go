package vault

import (
	"context"
	"errors"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// inputKey names the vault's input request in an InputRequiredResult; a
// retry's answer under it is the vault's, removed before the call goes
// upstream.
const inputKey = "mcpfort_connect"

type tokenKey struct{}

// TokenFrom returns the upstream token the middleware found for the call.
func TokenFrom(ctx context.Context) (string, bool) {
	t, ok := ctx.Value(tokenKey{}).(string)
	return t, ok
}

// Middleware keeps a call without the user's grant from going upstream
// and answers it with the way to connect, as the client can take it:
//
//   - a 2026-07-28 client declaring URL-mode elicitation: an
//     InputRequiredResult whose input request is a URL-mode
//     elicitation/create (2026-07-28 basic/patterns/mrtr);
//   - a 2025-11-25 client declaring it: URLElicitationRequiredError, -32042
//     (2025-11-25 client/elicitation "URL Elicitation Required Error");
//   - any other: a tools/call result with isError and the link, or a
//     JSON-RPC error with the link for other requests.
//
// A call with a grant goes on with the token in its context (TokenFrom),
// where the upstream's Authorize finds it.
func (u *Upstream) Middleware() gateway.Middleware {
	return func(next gateway.Handler) gateway.Handler {
		return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			if c.Principal == nil || c.Principal.Subject == "" {
				return nil, jsonrpc.NewError(jsonrpc.CodeForbidden, "Forbidden: this upstream needs an authenticated user")
			}
			user := User{Issuer: c.Principal.Issuer, Subject: c.Principal.Subject}
			tok, err := u.Token(ctx, user)
			if err == nil {
				if c.Era == mcp.EraModern && c.Msg.Kind == jsonrpc.KindRequest {
					if err := stripAnswer(c); err != nil {
						return nil, err
					}
				}
				return next(context.WithValue(ctx, tokenKey{}, tok), c)
			}
			if !errors.Is(err, ErrNotConnected) {
				u.v.opts.Logger.Error("vault: upstream token unavailable", "route", u.opts.Route, "err", err)
				return nil, jsonrpc.NewError(jsonrpc.CodeUpstreamUnavailable, "Upstream authorization unavailable")
			}
			if c.Stream {
				return nil, jsonrpc.NewError(jsonrpc.CodeForbidden, u.message())
			}
			if c.Msg.Kind != jsonrpc.KindRequest {
				return upstream.Accepted(), nil // nothing to answer, nothing goes upstream
			}
			link, id, err := u.Link(user)
			if err != nil {
				return nil, err
			}
			return u.ask(c, link, id)
		}
	}
}

func (u *Upstream) message() string {
	return "Authorize access to " + u.opts.Route + " in your browser, then try again."
}

// ask builds the answer of a call that needs the user to connect.
func (u *Upstream) ask(c *gateway.Call, link, id string) (upstream.Reply, error) {
	caps := c.Params.ClientCapabilities
	if c.Era == mcp.EraLegacy && c.Session != nil {
		caps = c.Session.ClientCapabilities
	}
	urlMode := false
	if e, ok := jsonx.Get(caps, "elicitation"); ok {
		_, urlMode = jsonx.Get(e, "url")
	}
	elicit := []byte(`{"mode":"url","elicitationId":`)
	elicit = jsonx.AppendQuote(elicit, id)
	elicit = append(elicit, `,"url":`...)
	elicit = jsonx.AppendQuote(elicit, link)
	elicit = append(elicit, `,"message":`...)
	elicit = jsonx.AppendQuote(elicit, u.message())
	elicit = append(elicit, '}')
	modern := c.Era == mcp.EraModern
	switch {
	case modern && c.Msg.Method == mcp.MethodServerDiscover:
		// server/discover describes the server, and a client that cannot
		// discover falls back to another era: answer it here, with the
		// link in the instructions.
		res := []byte(`{"resultType":"complete","supportedVersions":["` + mcp.Version20260728 + `"],"capabilities":{"tools":{}},"serverInfo":{"name":`)
		res = jsonx.AppendQuote(res, u.opts.Route)
		res = append(res, `,"version":"0"},"instructions":`...)
		res = jsonx.AppendQuote(res, u.message()+" "+link)
		res = append(res, '}')
		return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, res)), nil
	case modern && urlMode && inputCapable(c.Msg.Method):
		res := []byte(`{"resultType":"input_required","inputRequests":{"` + inputKey + `":{"method":"elicitation/create","params":`)
		res = append(res, elicit...)
		res = append(res, `}}}`...)
		return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, res)), nil
	case !modern && urlMode && c.Version >= mcp.Version20251125:
		e := jsonrpc.NewError(jsonrpc.CodeURLElicitationRequired, "This request requires more information.")
		e.Data = append(append([]byte(`{"elicitations":[`), elicit...), `]}`...)
		return nil, e
	case c.Msg.Method == mcp.MethodToolsCall:
		res := []byte(`{"content":[{"type":"text","text":`)
		res = jsonx.AppendQuote(res, u.message()+" Open: "+link)
		res = append(res, `}],"isError":true`...)
		if modern {
			res = append(res, `,"resultType":"complete"`...)
		}
		res = append(res, '}')
		return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, res)), nil
	}
	e := jsonrpc.NewError(jsonrpc.CodeForbidden, u.message()+" Open: "+link)
	e.Data = append(append([]byte(`{"url":`), jsonx.AppendQuote(nil, link)...), '}')
	return nil, e
}

// inputCapable: the requests a 2026-07-28 server may answer with an
// InputRequiredResult (2026-07-28 basic/patterns/mrtr).
func inputCapable(method string) bool {
	switch method {
	case mcp.MethodToolsCall, mcp.MethodPromptsGet, mcp.MethodResourcesRead:
		return true
	}
	return false
}

// stripAnswer removes the client's answer to the vault's input request
// from a retried call: the upstream never asked for it.
func stripAnswer(c *gateway.Call) error {
	ir, ok := jsonx.Get(c.Msg.Params, "inputResponses")
	if !ok {
		return nil
	}
	if _, mine := jsonx.Get(ir, inputKey); !mine {
		return nil
	}
	ms, err := jsonx.ObjectMembers(ir, 64)
	if err != nil {
		return err
	}
	var params []byte
	if len(ms) == 1 {
		params, err = jsonx.Delete(c.Msg.Params, "inputResponses")
	} else {
		var rest []byte
		if rest, err = jsonx.Delete(ir, inputKey); err == nil {
			params, err = jsonx.Set(c.Msg.Params, "inputResponses", rest)
		}
	}
	if err != nil {
		return err
	}
	b, err := jsonx.Set(c.Msg.Raw, "params", params)
	if err != nil {
		return err
	}
	return c.SetBody(b)
}
