package resourceserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Metadata is the RFC 9728 §2 protected resource metadata document.
type Metadata struct {
	Resource                          string   `json:"resource"`
	AuthorizationServers              []string `json:"authorization_servers,omitempty"`
	JWKSURI                           string   `json:"jwks_uri,omitempty"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported            []string `json:"bearer_methods_supported,omitempty"`
	ResourceSigningAlgValuesSupported []string `json:"resource_signing_alg_values_supported,omitempty"`
	ResourceName                      string   `json:"resource_name,omitempty"`
	ResourceDocumentation             string   `json:"resource_documentation,omitempty"`
	ResourcePolicyURI                 string   `json:"resource_policy_uri,omitempty"`
	ResourceTOSURI                    string   `json:"resource_tos_uri,omitempty"`
	// RFC 9728 §2 (RFC 9449): the DPoP proof algorithms accepted, and
	// whether only DPoP-bound tokens are.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundAccessTokensRequired bool     `json:"dpop_bound_access_tokens_required,omitempty"`
}

// MetadataOptions configures a [MetadataHandler].
type MetadataOptions struct {
	// Resource is the protected resource's identifier, the URI clients
	// dial; it is canonicalized ([CanonicalResource]) and published as
	// "resource", which RFC 9728 §3.3 requires to equal the identifier
	// the well-known URL was built from. Required.
	Resource string
	// AuthorizationServers are the issuer identifiers of the trusted
	// authorization servers (RFC 9728 §2). Required: the MCP
	// authorization specification needs at least one.
	AuthorizationServers []string
	// ScopesSupported is the minimal set of scopes for basic use (MCP
	// authorization, "Scope Selection Strategy"): clients without a
	// challenge scope request all of them, so list few. offline_access is
	// refused. Optional.
	ScopesSupported []string
	// ResourceName, ResourceDocumentation, ResourcePolicyURI and
	// ResourceTOSURI are the optional human-facing members of RFC 9728 §2.
	ResourceName          string
	ResourceDocumentation string
	ResourcePolicyURI     string
	ResourceTOSURI        string
	// DPoP, if set, advertises DPoP support as the middleware's
	// [DPoPOptions] (its Algorithms and Required).
	DPoP *DPoPOptions
	// CacheMaxAgeSeconds is sent as Cache-Control max-age. If zero, 3600;
	// negative sends no-store.
	CacheMaxAgeSeconds int
}

// MetadataHandler serves the protected resource metadata document.
type MetadataHandler struct {
	doc          Metadata
	body         []byte
	url          string
	paths        []string
	cacheControl string
}

// NewMetadataHandler returns a handler serving the document for opts.
func NewMetadataHandler(opts MetadataOptions) (*MetadataHandler, error) {
	res, err := CanonicalResource(opts.Resource)
	if err != nil {
		return nil, fmt.Errorf("resourceserver: MetadataOptions.Resource: %w", err)
	}
	if len(opts.AuthorizationServers) == 0 {
		return nil, errors.New("resourceserver: MetadataOptions.AuthorizationServers needs at least one issuer")
	}
	for _, as := range opts.AuthorizationServers {
		if _, err := metadataURLs(as); err != nil {
			return nil, fmt.Errorf("resourceserver: MetadataOptions.AuthorizationServers: %w", err)
		}
	}
	if err := checkScopes("MetadataOptions.ScopesSupported", opts.ScopesSupported); err != nil {
		return nil, fmt.Errorf("resourceserver: %w", err)
	}
	if contains(opts.ScopesSupported, "offline_access") {
		return nil, errors.New("resourceserver: MetadataOptions.ScopesSupported must not include offline_access (MCP authorization: refresh tokens are not a resource requirement)")
	}
	mdURL, err := MetadataURL(res)
	if err != nil {
		return nil, fmt.Errorf("resourceserver: %w", err)
	}
	u, err := url.Parse(mdURL)
	if err != nil {
		return nil, fmt.Errorf("resourceserver: %w", err)
	}
	doc := Metadata{
		Resource:             res,
		AuthorizationServers: opts.AuthorizationServers,
		ScopesSupported:      opts.ScopesSupported,
		// RFC 9728 §2 and the MCP specification: the token goes in the
		// Authorization header, nowhere else.
		BearerMethodsSupported: []string{"header"},
		ResourceName:           opts.ResourceName,
		ResourceDocumentation:  opts.ResourceDocumentation,
		ResourcePolicyURI:      opts.ResourcePolicyURI,
		ResourceTOSURI:         opts.ResourceTOSURI,
	}
	if opts.DPoP != nil {
		doc.DPoPSigningAlgValuesSupported = strings.Fields(dpopAlgsString(opts.DPoP.Algorithms))
		doc.DPoPBoundAccessTokensRequired = opts.DPoP.Required
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("resourceserver: %w", err)
	}
	paths := []string{u.EscapedPath()}
	if u.EscapedPath() != WellKnownPath {
		// The MCP authorization specification has clients try the
		// path-suffixed URL, then the root one; serve both.
		paths = append(paths, WellKnownPath)
	}
	cc := "public, max-age=3600"
	switch {
	case opts.CacheMaxAgeSeconds > 0:
		cc = "public, max-age=" + strconv.Itoa(opts.CacheMaxAgeSeconds)
	case opts.CacheMaxAgeSeconds < 0:
		cc = "no-store"
	}
	return &MetadataHandler{doc: doc, body: body, url: mdURL, paths: paths, cacheControl: cc}, nil
}

// Document returns the metadata document.
func (h *MetadataHandler) Document() Metadata { return h.doc }

// URL returns the path-suffixed well-known URL of the document (RFC 9728
// §3.1), the value for resource_metadata in challenges.
func (h *MetadataHandler) URL() string { return h.url }

// Paths returns the URL paths to mount the handler on: the path-suffixed
// well-known path, then the root one ("/.well-known/oauth-protected-resource")
// when they differ. A host serving several resources can mount the root
// path for one of them only.
func (h *MetadataHandler) Paths() []string { return append([]string(nil), h.paths...) }

// ServeHTTP answers GET and HEAD with the document (RFC 9728 §3.2: 200,
// application/json), OPTIONS with the CORS preflight, and anything else with
// 405. The document is public: any origin may read it, so browser-based MCP
// clients can discover the authorization server.
func (h *MetadataHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		hd.Set("Content-Type", "application/json")
		hd.Set("Cache-Control", h.cacheControl)
		hd.Set("Content-Length", strconv.Itoa(len(h.body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(h.body)
		}
	case http.MethodOptions:
		hd.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "Mcp-Protocol-Version")
		hd.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	default:
		hd.Set("Allow", "GET, HEAD, OPTIONS")
		hd.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte(`{"error":"method_not_allowed"}`))
	}
}
