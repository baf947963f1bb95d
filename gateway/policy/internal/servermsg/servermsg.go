package servermsg

import (
	"bytes"
	"errors"
	"strings"

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
// notifications/tools/list_changed with its method spelled without
// escapes. An upstream that escapes it only delays what the notification
// would hasten (pinning relearns after its refresh interval anyway), as
// not sending it would: no event pays a decode for that case.
func MayBeToolsChanged(data []byte) bool { return bytes.Contains(data, toolsChange) }

// ErrNoURI reports a notifications/resources/updated without one string
// params.uri: a client might still read a URI from it (under another
// spelling of the member, or the last of two), so the policies drop it.
var ErrNoURI = errors.New("servermsg: resources/updated without a string params.uri")

// UpdatedURI returns the URI a notifications/resources/updated names. ok
// is false for any other message; err is ErrNoURI when the notification
// has no string params.uri.
func UpdatedURI(m *jsonrpc.Message) (uri string, ok bool, err error) {
	if m.Kind != jsonrpc.KindNotification || m.Method != mcp.NotificationResourcesUpdated {
		return "", false, nil
	}
	v, err := member(m.Params, "uri")
	if err != nil || v == nil {
		return "", true, ErrNoURI
	}
	s, isStr := jsonx.String(v)
	if !isStr {
		return "", true, ErrNoURI
	}
	return s, true, nil
}

// ErrBadListen reports subscriptions/listen params the policies cannot
// read for certain: notifications.resourceSubscriptions is not an array of
// strings, or a member on the way is repeated or spelled in another case.
var ErrBadListen = errors.New("servermsg: malformed notifications.resourceSubscriptions")

// ListenURIs returns the resource URIs a subscriptions/listen request
// subscribes to (params.notifications.resourceSubscriptions, 2026-07-28
// basic/patterns/subscriptions). A rule checked against URIs the policy
// could not read would check nothing, while readers that match member
// names case-insensitively and keep the last duplicate (Go's
// encoding/json, in upstreams and in the gateway's own bridge) would
// subscribe to them: a member that is not an array of strings, or that is
// repeated or spelled in another case ("Notifications"), is ErrBadListen.
func ListenURIs(params []byte) ([]string, error) {
	if params == nil {
		return nil, nil
	}
	n, err := member(params, "notifications")
	if err != nil || n == nil || !jsonx.IsObject(n) {
		return nil, err // not an object: the gateway or the upstream refuses it
	}
	subs, err := member(n, "resourceSubscriptions")
	if err != nil || subs == nil || jsonx.IsNull(subs) {
		return nil, err
	}
	var uris []string
	bad := false
	err = jsonx.WalkArray(subs, func(e []byte) bool {
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

// member returns the value of obj's member name (nil when absent, or
// when obj is not an object), or ErrBadListen when a member's name equals
// name ignoring case (as encoding/json compares them) but is not it, or
// name appears twice.
func member(obj []byte, name string) ([]byte, error) {
	if !jsonx.IsObject(obj) {
		return nil, nil
	}
	var val []byte
	bad := false
	err := jsonx.WalkObject(obj, func(k string, v []byte) bool {
		if !strings.EqualFold(k, name) { // Unicode simple folding, as encoding/json
			return true
		}
		if k != name || val != nil {
			bad = true
			return false
		}
		val = v
		return true
	})
	if err != nil || bad {
		return nil, ErrBadListen
	}
	return val, nil
}
