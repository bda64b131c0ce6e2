package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/signing/signingtest"
	"github.com/kitegate/kitegate/internal/tables"
)

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type authzEnv struct{ url string }

// startAuthz runs the authz function as on a laptop until the test ends:
// its tables in DynamoDB Local, its signing key in local-kms, an IdP
// address nothing answers (the tests here never reach the sign-in).
func startAuthz(t *testing.T, env map[string]string) authzEnv {
	t.Helper()
	db := dynamotest.Client(t)
	kmsClient, kmsCalls := signingtest.Server(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	vars := map[string]string{
		"KITEGATE_ADDR":                   addr,
		"KITEGATE_RESOURCE_URL":           "http://" + addr + "/mcp",
		"KITEGATE_UPSTREAM_ISSUER":        "http://127.0.0.1:1",
		"KITEGATE_UPSTREAM_CLIENT_ID":     "kitegate",
		"KITEGATE_UPSTREAM_CLIENT_SECRET": "upstream-secret",
		"KITEGATE_AUTH_TABLE":             dynamotest.NewTable(t, db, tables.Auth),
		"KITEGATE_POLICY_TABLE":           dynamotest.NewTable(t, db, tables.Policy),
		"KITEGATE_SIGNING_KEYS":           signingtest.SigningKey(t, kmsClient),
		"AWS_REGION":                      "us-east-1",
		"AWS_ACCESS_KEY_ID":               "local",
		"AWS_SECRET_ACCESS_KEY":           "local",
		"AWS_ENDPOINT_URL_DYNAMODB":       dynamotest.Endpoint(t),
		"AWS_ENDPOINT_URL_KMS":            kmsCalls.URL,
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) (string, bool) { v, ok := vars[k]; return v, ok }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	u := "http://" + addr
	c := &http.Client{Timeout: time.Second}
	for range 500 {
		if resp, err := c.Get(u + "/.well-known/oauth-authorization-server"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return authzEnv{url: u}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never answered", u)
	return authzEnv{}
}

// The authz function serves the metadata documents and the key set it
// signs with: what the mcp function verifies kitegate's tokens by.
func TestRunServesMetadataAndKeys(t *testing.T) {
	g := startAuthz(t, map[string]string{"KITEGATE_LOG_LEVEL": "error"})
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	get := func(u string, v any) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
	}
	get(g.url+"/.well-known/openid-configuration", &meta)
	if meta.Issuer != g.url || meta.JWKSURI != g.url+"/oauth/jwks" {
		t.Errorf("metadata %+v, want issuer %s and its /oauth/jwks", meta, g.url)
	}
	var jwks struct {
		Keys []struct {
			Kty string `json:"kty"`
			Alg string `json:"alg"`
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	get(meta.JWKSURI, &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kty != "RSA" || jwks.Keys[0].Kid == "" {
		t.Errorf("key set %+v, want the one KMS key (RSA, with a kid)", jwks)
	}
	resp, err := http.Get(g.url + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /mcp on the authz function: %d, want 404 (the mcp function serves it)", resp.StatusCode)
	}
}

// Finding M2, the libraries' side: zitadel/oidc's op logs through slog's
// default logger only (its WithLogger option does nothing), so what it
// logged bypassed internal/redact — and it logs a refused authorization
// request whole, redirect_uri included. The authz function (op's only
// home) makes its redacting logger the default: op's line is in the
// function's log, and the token-shaped value the refused request carried
// is not. (The request is one kitegate's own checks let through — the
// redirect URI is the registered one — and op refuses: prompt "none"
// beside another prompt.)
func TestSecurityM2LibraryLogsGoThroughRedaction(t *testing.T) {
	logs := &syncBuffer{}
	logOutput = logs
	prev := slog.Default()
	t.Cleanup(func() { logOutput = nil; slog.SetDefault(prev) })
	g := startAuthz(t, map[string]string{"KITEGATE_LOG_LEVEL": "warn"})

	const token = "bkua_0123456789abcdefghijklmnopqrstuvwxyzAB"
	redirect := "http://127.0.0.1:9/callback?stolen=" + token
	resp, err := http.Post(g.url+"/oauth/register", "application/json", strings.NewReader(
		`{"client_name":"Log Test","redirect_uris":["`+redirect+`"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if reg.ClientID == "" {
		t.Fatalf("register: %d", resp.StatusCode)
	}
	q := url.Values{
		"response_type": {"code"}, "client_id": {reg.ClientID}, "scope": {"mcp"}, "state": {"s"},
		"redirect_uri": {redirect}, "prompt": {"none login"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.Get(g.url + "/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "error=invalid_request") {
		t.Fatalf("authorize with prompt \"none login\": %d to %q, want op's invalid_request redirect", resp.StatusCode, loc)
	}
	out := logs.String()
	if !strings.Contains(out, "auth request") || !strings.Contains(out, "redirect_uri") {
		t.Fatalf("op's log line is not in the function's log (it went around the redacting logger):\n%s", out)
	}
	if strings.Contains(out, token) {
		t.Errorf("the token reached the log:\n%s", out)
	}
}

// The metadata fetcher the function builds (no test seam: the production
// egress rules) refuses a Client ID Metadata Document on a loopback
// address, by IP and by a name resolving to loopback, before any request
// reaches it; the function advertises metadata documents.
func TestRunRefusesLoopbackMetadataDocument(t *testing.T) {
	var hits atomic.Int64
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"client_id":"https://`+r.Host+r.URL.Path+`","client_name":"Loopback","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none"}`)
	}))
	t.Cleanup(docs.Close)
	port := docs.URL[strings.LastIndex(docs.URL, ":"):]
	g := startAuthz(t, map[string]string{"KITEGATE_LOG_LEVEL": "error"})

	resp, err := http.Get(g.url + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta["client_id_metadata_document_supported"] != true {
		t.Errorf("metadata documents are not advertised: %v", meta["client_id_metadata_document_supported"])
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, id := range []string{"https://127.0.0.1" + port + "/client.json", "https://localhost" + port + "/client.json", "https://[::1]" + port + "/client.json"} {
		q := url.Values{
			"response_type": {"code"}, "client_id": {id}, "scope": {"mcp"}, "state": {"s"},
			"redirect_uri":   {"http://127.0.0.1/callback"},
			"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
		}
		resp, err := noRedirect.Get(g.url + "/oauth/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "loopback") {
			t.Errorf("authorize with the metadata document %s: %d %q, want 400 saying loopback", id, resp.StatusCode, body)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback document server was reached %d times", n)
	}
}
