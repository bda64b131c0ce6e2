package identity

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// resourceName is the human-readable name in the metadata.
const resourceName = "kitegate (Buildkite MCP server)"

// wellKnownPath is the RFC 9728 well-known URI suffix.
const wellKnownPath = "/.well-known/oauth-protected-resource"

// ProtectedResourceMetadata serves the RFC 9728 metadata of resource as JSON,
// through the MCP SDK's handler (GET and CORS preflight only). Mount it at
// /.well-known/oauth-protected-resource and at that path followed by the
// resource's path (/mcp). The document changes only with a deploy, so clients
// and caches may keep it for an hour.
func ProtectedResourceMetadata(resource string, authServers []string, scopes []string) http.Handler {
	h := auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               resource,
		AuthorizationServers:   slices.Clone(authServers),
		BearerMethodsSupported: []string{"header"},
		ScopesSupported:        slices.Clone(scopes),
		ResourceName:           resourceName,
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// MetadataURL returns the RFC 9728 §3.1 metadata URL of a resource:
// /.well-known/oauth-protected-resource inserted between the host and the
// path, so https://x.example/mcp gives
// https://x.example/.well-known/oauth-protected-resource/mcp. A resource URL
// that does not parse as an absolute URL gives "".
func MetadataURL(resourceURL string) string {
	u, err := url.Parse(resourceURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	path := u.EscapedPath()
	if path == "/" {
		path = "" // §3.1: the slash after the host is dropped
	}
	m := url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: u.RawQuery}
	m.Path, _ = url.PathUnescape(wellKnownPath + path)
	m.RawPath = wellKnownPath + path
	return m.String()
}
