package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadLocalDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		AuthMode: "local", Addr: "127.0.0.1:8080", ResourceURL: "http://127.0.0.1:8080/mcp", OIDCAudience: "http://127.0.0.1:8080/mcp",
		GroupClaim: "groups", DevUser: "dev@localhost", DevGroups: []string{"engineering"},
		TokenTTL: 5 * time.Minute, BuildkiteTimeout: 10 * time.Second, PolicyTTL: 5 * time.Second, OIDCMaxTokenLifetime: 24 * time.Hour, OIDCIntrospectionTTL: time.Minute,
		StateDir: ".local/state", AuditFile: ".local/audit.jsonl", MaxBodyBytes: 1 << 20, LogLevel: "info",
		AuditRetentionDays: 365, BuildkiteCallsPerMinute: 50, BuildkiteOrgCallsPerMinute: 200,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !c.DevMode() {
		t.Error("no issuer, not dev mode")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"lambda needs oidc, resource and secret", map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"},
			[]string{"KITEGATE_OIDC_ISSUER (resource-server mode) is required", "KITEGATE_RESOURCE_URL is required", "KITEGATE_BUILDKITE_SECRET_ID is required"}},
		{"no raw token on lambda", map[string]string{"AWS_LAMBDA_RUNTIME_API": "x", "BUILDKITE_API_TOKEN": "bkua_x", "KITEGATE_OIDC_ISSUER": "https://idp", "KITEGATE_RESOURCE_URL": "https://x/mcp", "KITEGATE_BUILDKITE_SECRET_ID": "s", "KITEGATE_POLICY_TABLE": "p", "KITEGATE_AUDIT_TABLE": "a"},
			[]string{"BUILDKITE_API_TOKEN must not be set on Lambda"}},
		{"bad artifact host pattern", map[string]string{"KITEGATE_ARTIFACT_HOSTS": "*.s3.amazonaws.com, [x"}, []string{"KITEGATE_ARTIFACT_HOSTS"}},
		{"bad duration", map[string]string{"KITEGATE_POLICY_TTL": "soon"}, []string{"KITEGATE_POLICY_TTL"}},
		{"bad retention", map[string]string{"KITEGATE_AUDIT_RETENTION_DAYS": "0"}, []string{"KITEGATE_AUDIT_RETENTION_DAYS"}},
		{"body cap too big", map[string]string{"KITEGATE_MAX_BODY_BYTES": "99999999"}, []string{"KITEGATE_MAX_BODY_BYTES"}},
		{"timeout past the gateway", map[string]string{"KITEGATE_BUILDKITE_TIMEOUT": "40s"}, []string{"KITEGATE_BUILDKITE_TIMEOUT"}},
		{"relative resource", map[string]string{"KITEGATE_RESOURCE_URL": "/mcp"}, []string{"not an absolute URL"}},
		{"log level", map[string]string{"KITEGATE_LOG_LEVEL": "loud"}, []string{"KITEGATE_LOG_LEVEL"}},
		{"introspection without a client", map[string]string{"KITEGATE_OIDC_INTROSPECTION_URL": "https://idp/introspect"}, []string{"KITEGATE_OIDC_INTROSPECTION_CLIENT_ID"}},
		{"introspection with two secrets", map[string]string{"KITEGATE_OIDC_INTROSPECTION_URL": "https://idp/introspect", "KITEGATE_OIDC_INTROSPECTION_CLIENT_ID": "rs",
			"KITEGATE_OIDC_INTROSPECTION_SECRET_ID": "s", "KITEGATE_OIDC_INTROSPECTION_CLIENT_SECRET": "x"}, []string{"one of KITEGATE_OIDC_INTROSPECTION_SECRET_ID"}},
		{"introspection answers kept too long", map[string]string{"KITEGATE_OIDC_INTROSPECTION_URL": "https://idp/introspect", "KITEGATE_OIDC_INTROSPECTION_CLIENT_ID": "rs",
			"KITEGATE_OIDC_INTROSPECTION_CLIENT_SECRET": "x", "KITEGATE_OIDC_INTROSPECTION_TTL": "2h"}, []string{"KITEGATE_OIDC_INTROSPECTION_TTL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "bkua_x") {
				t.Error("error repeats the token")
			}
		})
	}
}

func TestLoadLambda(t *testing.T) {
	c, err := Load(env(map[string]string{
		"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "KITEGATE_OIDC_ISSUER": "https://idp.example.com",
		"KITEGATE_RESOURCE_URL": "https://api.example.com/mcp", "KITEGATE_BUILDKITE_SECRET_ID": "kitegate/buildkite",
		"KITEGATE_ALLOWED_ORIGINS": "https://a.example.com, https://b.example.com",
		"KITEGATE_POLICY_TABLE":    "policy", "KITEGATE_AUDIT_TABLE": "audit",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DevMode() || c.StateDir != "/tmp/kitegate" || c.AuditFile != "" || c.OIDCAudience != "https://api.example.com/mcp" {
		t.Errorf("lambda config %+v", c)
	}
	if diff := cmp.Diff([]string{"https://a.example.com", "https://b.example.com"}, c.AllowedOrigins); diff != "" {
		t.Errorf("origins (-want +got):\n%s", diff)
	}
}

func TestLoadAuthModes(t *testing.T) {
	gateway := map[string]string{
		"KITEGATE_RESOURCE_URL": "https://mcp.example.com/mcp", "KITEGATE_UPSTREAM_ISSUER": "https://idp.example.com",
		"KITEGATE_UPSTREAM_CLIENT_ID": "kitegate", "KITEGATE_UPSTREAM_CLIENT_SECRET": "s",
		"KITEGATE_AUTH_TABLE": "auth", "KITEGATE_SIGNING_KEYS": "key-new,key-old", "KITEGATE_POLICY_TABLE": "policy",
	}
	c, err := LoadAuthz(env(gateway))
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthMode != ModeGateway || c.Issuer != "https://mcp.example.com" || c.AccessTokenTTL != 15*time.Minute || len(c.SigningKeys) != 2 || c.DevMode() {
		t.Errorf("authz: %+v", c)
	}
	if diff := cmp.Diff([]string{"openid", "email", "profile"}, c.UpstreamScopes); diff != "" {
		t.Errorf("upstream scopes (-want +got):\n%s", diff)
	}
	// The mcp function in gateway mode only verifies kitegate's tokens: it
	// needs their issuer, not the authorization server's settings.
	c, err = Load(env(map[string]string{"KITEGATE_RESOURCE_URL": "https://mcp.example.com/mcp", "KITEGATE_AUTH_MODE": "gateway"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthMode != ModeGateway || c.Issuer != "https://mcp.example.com" || c.AuthTable != "" || len(c.SigningKeys) != 0 {
		t.Errorf("mcp in gateway mode: %+v", c)
	}
	c, err = Load(env(map[string]string{"KITEGATE_OIDC_ISSUER": "https://idp.example.com", "KITEGATE_OIDC_SCOPES": "api://kitegate/mcp offline_access"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthMode != ModeResourceServer || strings.Join(c.Scopes, "|") != "api://kitegate/mcp|offline_access" {
		t.Errorf("resource-server: %+v", c)
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"both issuers", map[string]string{"KITEGATE_UPSTREAM_ISSUER": "https://idp", "KITEGATE_OIDC_ISSUER": "https://idp"}, []string{"KITEGATE_OIDC_ISSUER is for resource-server mode"}},
		{"unknown mode", map[string]string{"KITEGATE_AUTH_MODE": "open"}, []string{"is not gateway, resource-server or local"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	authz := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"the authorization server needs its parts", map[string]string{"KITEGATE_UPSTREAM_ISSUER": "https://idp"},
			[]string{"KITEGATE_RESOURCE_URL is required", "KITEGATE_UPSTREAM_CLIENT_ID is required", "KITEGATE_UPSTREAM_SECRET_ID", "KITEGATE_AUTH_TABLE is required", "KITEGATE_SIGNING_KEYS is required"}},
		{"no IdP", map[string]string{"KITEGATE_RESOURCE_URL": "https://mcp.example.com/mcp"}, []string{"KITEGATE_UPSTREAM_ISSUER is required"}},
		{"no secret in the environment on lambda", map[string]string{"AWS_LAMBDA_RUNTIME_API": "x", "KITEGATE_UPSTREAM_ISSUER": "https://idp", "KITEGATE_UPSTREAM_CLIENT_SECRET": "s"},
			[]string{"KITEGATE_UPSTREAM_CLIENT_SECRET must not be set on Lambda", "KITEGATE_POLICY_TABLE is required"}},
		{"token lifetime", map[string]string{"KITEGATE_UPSTREAM_ISSUER": "https://idp", "KITEGATE_ACCESS_TOKEN_TTL": "24h"}, []string{"KITEGATE_ACCESS_TOKEN_TTL"}},
		{"relative MCP URL", map[string]string{"KITEGATE_RESOURCE_URL": "/mcp"}, []string{"KITEGATE_RESOURCE_URL: \"/mcp\" is not an absolute URL"}},
		{"log level", map[string]string{"KITEGATE_LOG_LEVEL": "loud"}, []string{"KITEGATE_LOG_LEVEL"}},
	}
	for _, tt := range authz {
		t.Run("authz/"+tt.name, func(t *testing.T) {
			_, err := LoadAuthz(env(tt.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
