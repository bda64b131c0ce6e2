package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/authz/authztest"
)

// Issue 15, resource-server mode, through the function as it is wired:
// oidc-provider is the company IdP. Its opaque access tokens are accepted
// through introspection (client secret from the environment here, Secrets
// Manager on Lambda); a made-up token gets the normal 401; and an issuer
// configured with a spelling the IdP's discovery document does not use is
// reported as a configuration error in the log at start, before any call.
func TestResourceServerOpaqueTokensAndIssuerMismatch(t *testing.T) {
	idp := authztest.NewOpaqueIdP(t)
	logs := &syncBuffer{}
	logOutput = logs
	prev := slog.Default()
	t.Cleanup(func() { logOutput = nil; slog.SetDefault(prev) })

	url := startServer(t, map[string]string{
		"KITEGATE_OIDC_ISSUER":                      idp.Issuer,
		"KITEGATE_OIDC_INTROSPECTION_URL":           idp.Issuer + "/token/introspection",
		"KITEGATE_OIDC_INTROSPECTION_CLIENT_ID":     idp.ClientID,
		"KITEGATE_OIDC_INTROSPECTION_CLIENT_SECRET": idp.Secret,
		"KITEGATE_OIDC_SCOPES":                      "mcp offline_access",
	})
	call := func(token string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp.StatusCode, b.String(), resp.Header
	}
	token := idp.Token(t, "alice")
	if status, body, _ := call(token); status != http.StatusOK || !strings.Contains(body, `"list_builds"`) {
		t.Errorf("alice's opaque token: %d %.300s", status, body)
	}
	// The normal 401 names the metadata and the scopes to ask for, and the
	// metadata names the IdP and the scopes (RFC 9728; MCP authorization).
	status, _, h := call("made-up-opaque-token-0123456789")
	if challenge := h.Get("WWW-Authenticate"); status != http.StatusUnauthorized || !strings.Contains(challenge, `scope="mcp offline_access"`) || !strings.Contains(challenge, "resource_metadata=") {
		t.Errorf("a made-up token: %d, challenge %q, want 401 with the scope hint", status, challenge)
	}
	var meta struct {
		Servers []string `json:"authorization_servers"`
		Scopes  []string `json:"scopes_supported"`
	}
	resp, err := http.Get(strings.TrimSuffix(url, "/mcp") + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if strings.Join(meta.Servers, " ") != idp.Issuer || strings.Join(meta.Scopes, " ") != "mcp offline_access" {
		t.Errorf("protected-resource metadata %+v, want the IdP and the scopes", meta)
	}
	if strings.Contains(logs.String(), "configuration error") {
		t.Errorf("a configuration error reported for a right configuration:\n%s", logs.String())
	}

	startServer(t, map[string]string{"KITEGATE_OIDC_ISSUER": idp.Issuer + "/", "KITEGATE_LOG_LEVEL": "info"})
	// Bounded: the check runs beside the start.
	for i := 0; i < 100 && !strings.Contains(logs.String(), "configuration error"); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	out := logs.String()
	if !strings.Contains(out, "configuration error") || !strings.Contains(out, "KITEGATE_OIDC_ISSUER") {
		t.Errorf("no configuration error naming KITEGATE_OIDC_ISSUER in the log:\n%s", out)
	}
}
