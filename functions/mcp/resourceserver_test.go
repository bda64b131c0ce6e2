package main

import (
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
	})
	call := func(token string) (int, string) {
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
		return resp.StatusCode, b.String()
	}
	token := idp.Token(t, "alice")
	if status, body := call(token); status != http.StatusOK || !strings.Contains(body, `"list_builds"`) {
		t.Errorf("alice's opaque token: %d %.300s", status, body)
	}
	if status, _ := call("made-up-opaque-token-0123456789"); status != http.StatusUnauthorized {
		t.Errorf("a made-up token: %d, want 401", status)
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
