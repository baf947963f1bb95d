package everything

import (
	"context"
	"encoding/json"
	"regexp"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// templateURI is the resource template of resources-templates-read.
const templateURI = "test://template/{id}/data"

// templateID extracts {id} from a URI matching templateURI. An id is one
// path segment; RFC 6570 simple expansion percent-encodes '/', so a literal
// '/' cannot belong to it.
var templateID = regexp.MustCompile(`^test://template/([^/]+)/data$`)

func (e *everything) addResources() {
	e.server.AddResource(&mcp.Resource{
		URI: "test://static-text", Name: "static-text", MIMEType: "text/plain",
		Description: "A static text resource for testing",
	}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
			URI: req.Params.URI, MIMEType: "text/plain", Text: "This is the content of the static text resource.",
		}}}, nil
	})
	e.server.AddResource(&mcp.Resource{
		URI: "test://static-binary", Name: "static-binary", MIMEType: "image/png",
		Description: "A static binary resource (PNG image) for testing",
	}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
			URI: req.Params.URI, MIMEType: "image/png", Blob: pngImage,
		}}}, nil
	})
	e.server.AddResource(&mcp.Resource{
		URI: WatchedResourceURI, Name: "watched-resource", MIMEType: "text/plain",
		Description: "A resource that subscribers hear about when it is updated",
	}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
			URI: req.Params.URI, MIMEType: "text/plain", Text: "Watched resource content",
		}}}, nil
	})
	e.server.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: templateURI, Name: "template", MIMEType: "application/json",
		Description: "A resource template with parameter substitution",
	}, readTemplate)
}

// readTemplate answers test://template/{id}/data with a JSON document
// naming the id. A URI that does not fit the template is "Resource not
// found": -32602 with the uri in data (SEP-2164, 2026-07-28
// server/resources "Error Handling").
func readTemplate(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	m := templateID.FindStringSubmatch(req.Params.URI)
	if m == nil {
		return nil, mcp.ResourceNotFoundError(req.Params.URI)
	}
	text, err := json.Marshal(struct {
		ID           string `json:"id"`
		TemplateTest bool   `json:"templateTest"`
		Data         string `json:"data"`
	}{m[1], true, "Data for ID: " + m[1]})
	if err != nil {
		return nil, err
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
		URI: req.Params.URI, MIMEType: "application/json", Text: string(text),
	}}}, nil
}
