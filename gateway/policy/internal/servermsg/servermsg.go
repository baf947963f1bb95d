package servermsg

import (
	"bytes"
	"errors"

	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// List is a list result's member and the member of each entry that names
// it.
type List struct {
	Method string // the list method ("tools/list")
	Field  string // the result's member holding the entries ("tools")
	Key    string // the entry member naming it ("name", "uri")
}

// Lists are the list results the policies filter.
var Lists = [...]List{
	{mcp.MethodToolsList, "tools", "name"},
	{mcp.MethodPromptsList, "prompts", "name"},
	{mcp.MethodResourcesList, "resources", "uri"},
	{mcp.MethodResourcesTemplates, "resourceTemplates", "uriTemplate"},
}

var (
	updated     = []byte(`"` + mcp.NotificationResourcesUpdated + `"`)
	toolsChange = []byte(`"` + mcp.NotificationToolsListChanged + `"`)
	escape      = []byte{'\\'}
)

// mayName reports whether data, one JSON-RPC message, could have the
// quoted method: a cheap test before decoding. Without escapes a method
// is spelled as is.
func mayName(data, quoted []byte) bool {
	return bytes.Contains(data, quoted) || bytes.Contains(data, escape)
}

// MayBeUpdated reports whether data could be a
// notifications/resources/updated (false means it certainly is not).
func MayBeUpdated(data []byte) bool { return mayName(data, updated) }

// MayBeToolsChanged reports whether data could be a
// notifications/tools/list_changed (false means it certainly is not).
func MayBeToolsChanged(data []byte) bool { return mayName(data, toolsChange) }

// ErrNoURI reports a notifications/resources/updated without a string
// params.uri: a client might still read a URI from it (under another
// member spelling), so the policies drop it.
var ErrNoURI = errors.New("servermsg: resources/updated without a string params.uri")

// UpdatedURI returns the URI a notifications/resources/updated names. ok
// is false for any other message; err is ErrNoURI when the notification
// has no string params.uri.
func UpdatedURI(m *jsonrpc.Message) (uri string, ok bool, err error) {
	if m.Kind != jsonrpc.KindNotification || m.Method != mcp.NotificationResourcesUpdated {
		return "", false, nil
	}
	if !jsonx.IsObject(m.Params) {
		return "", true, ErrNoURI
	}
	v, has := jsonx.Get(m.Params, "uri")
	if !has {
		return "", true, ErrNoURI
	}
	s, isStr := jsonx.String(v)
	if !isStr {
		return "", true, ErrNoURI
	}
	return s, true, nil
}

// ErrBadListen reports subscriptions/listen params whose
// notifications.resourceSubscriptions is not an array of strings.
var ErrBadListen = errors.New("servermsg: malformed notifications.resourceSubscriptions")

// ListenURIs returns the resource URIs a subscriptions/listen request
// subscribes to (params.notifications.resourceSubscriptions, 2026-07-28
// basic/patterns/subscriptions). A member that is present but not an
// array of strings is ErrBadListen: a rule checked against URIs the
// policy could not read would check nothing.
func ListenURIs(params []byte) ([]string, error) {
	if params == nil {
		return nil, nil
	}
	n, ok := jsonx.Get(params, "notifications")
	if !ok || !jsonx.IsObject(n) {
		return nil, nil // the gateway or the upstream refuses it as malformed
	}
	subs, ok := jsonx.Get(n, "resourceSubscriptions")
	if !ok || jsonx.IsNull(subs) {
		return nil, nil
	}
	var uris []string
	bad := false
	err := jsonx.WalkArray(subs, func(e []byte) bool {
		s, ok := jsonx.String(e)
		if !ok {
			bad = true
			return false
		}
		uris = append(uris, s)
		return true
	})
	if err != nil || bad {
		return nil, ErrBadListen
	}
	return uris, nil
}
