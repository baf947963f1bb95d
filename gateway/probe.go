package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// CheckEra asks an upstream whether it speaks the era it is configured
// with, the way the gateway will address it: a 2026-07-28 server/discover
// (2026-07-28 basic/versioning "Version Negotiation") for EraModern, a
// 2025-11-25 initialize (basic/lifecycle "Initialization") for EraLegacy,
// whose session is then deleted. Other eras are not checked. It returns an
// error saying what the upstream answered when the era is not spoken.
//
// An upstream forced to an era it does not speak fails every call (a
// legacy server answers each 2026-07-28 request as sent before
// initialize); checking once, before serving, turns that into one clear
// refusal.
func CheckEra(ctx context.Context, up upstream.Upstream, era UpstreamEra, clientInfo Implementation) error {
	info := []byte(`{"name":`)
	info = jsonx.AppendQuote(info, clientInfo.Name)
	info = append(info, `,"version":`...)
	info = jsonx.AppendQuote(info, clientInfo.Version)
	info = append(info, '}')
	switch era {
	case EraModern:
		params := []byte(`{"_meta":{"` + mcp.MetaProtocolVersion + `":"` + mcp.Version20260728 + `","` + mcp.MetaClientCapabilities + `":{},"` + mcp.MetaClientInfo + `":`)
		params = append(params, info...)
		params = append(params, `}}`...)
		reply, err := up.Post(ctx, &upstream.Request{
			Body:      jsonrpc.AppendRequest(nil, jsonrpc.StringID("mcpfort-era-check"), mcp.MethodServerDiscover, params),
			Principal: "gateway", ProtocolVersion: mcp.Version20260728,
			Header: http.Header{mcp.HeaderMethod: {mcp.MethodServerDiscover}},
		})
		if err != nil {
			return fmt.Errorf("server/discover failed: %w", err)
		}
		res, err := upstream.FinalResult(ctx, reply)
		if err != nil {
			return fmt.Errorf("server/discover answered: %w", err)
		}
		var vs []string
		if v, ok := jsonx.Get(res, "supportedVersions"); ok {
			_ = json.Unmarshal(v, &vs)
		}
		if !slices.ContainsFunc(vs, mcp.IsModern) {
			return fmt.Errorf("server/discover lists supported versions %q", vs)
		}
		return nil
	case EraLegacy:
		var n [8]byte
		_, _ = rand.Read(n[:])
		key := "mcpfort-era-check-" + hex.EncodeToString(n[:])
		params := []byte(`{"protocolVersion":"` + mcp.LatestLegacy + `","capabilities":{},"clientInfo":`)
		params = append(params, info...)
		params = append(params, '}')
		reply, err := up.Post(ctx, &upstream.Request{
			Body: jsonrpc.AppendRequest(nil, jsonrpc.StringID("mcpfort-era-check"), mcp.MethodInitialize, params),
			Key:  key, Principal: "gateway",
		})
		if err != nil {
			return fmt.Errorf("initialize failed: %w", err)
		}
		sid := reply.Info().Session
		res, err := upstream.FinalResult(ctx, reply)
		if err == nil {
			if _, ok := jsonx.Get(res, "protocolVersion"); !ok {
				err = fmt.Errorf("initialize result has no protocolVersion")
			}
		} else {
			err = fmt.Errorf("initialize answered: %w", err)
		}
		_ = up.Delete(ctx, &upstream.Request{Session: sid, Key: key, Principal: "gateway", ProtocolVersion: mcp.LatestLegacy})
		return err
	}
	return nil
}
