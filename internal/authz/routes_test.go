package authz

import "testing"

// TestRouted: every path the authorization server serves is one of the
// routes sent to it (API Gateway, the local front), and the mcp function's
// own paths are not.
func TestRouted(t *testing.T) {
	for _, p := range []string{pathASMetadata, pathOIDCDiscovery, pathAuthorize, pathAuthorizeDone, pathToken, pathRevoke, pathJWKS, pathRegister, pathLogin, pathCallback, pathConsent} {
		if !Routed(p) {
			t.Errorf("Routed(%q) = false: the authorization server serves it", p)
		}
	}
	for _, p := range []string{"/mcp", "/healthz", "/", "/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp", "/oauth", "/oauthx/token"} {
		if Routed(p) {
			t.Errorf("Routed(%q) = true: the mcp function serves it", p)
		}
	}
}
