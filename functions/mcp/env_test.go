package main

import (
	"testing"

	"github.com/kitegate/kitegate/internal/config"
	"github.com/kitegate/kitegate/internal/stack"
)

// TestTemplateSetsWhatTheFunctionReads: every variable the configuration
// reads is set for McpFunction in template.yaml or is optional below (with why it
// may stay unset), and the template sets nothing the code does not read.
// The variables are the ones the loader asks for, on Lambda and off it.
func TestTemplateSetsWhatTheFunctionReads(t *testing.T) {
	tm, err := stack.Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var read []string
	for _, env := range []map[string]string{nil, {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "KITEGATE_AUTH_MODE": "gateway"}} {
		rec := &stack.EnvRecorder{Env: env}
		_, _ = config.Load(rec.Lookup) // only which variables it reads matters
		read = append(read, rec.Read()...)
	}
	optional := map[string]string{
		"KITEGATE_ADDR":                             "local listen address; on Lambda the runtime API serves",
		"KITEGATE_DEV_USER":                         "local dev identity; Lambda requires OIDC",
		"KITEGATE_DEV_GROUPS":                       "local dev identity; Lambda requires OIDC",
		"KITEGATE_DEV_TOKENS":                       "local dev identity; Lambda requires OIDC",
		"BUILDKITE_API_TOKEN":                       "local only; refused on Lambda (the token is in Secrets Manager)",
		"BUILDKITE_API_TOKEN_FILE":                  "local only; on Lambda the token is in Secrets Manager",
		"BUILDKITE_API_URL":                         "default: Buildkite's API",
		"KITEGATE_TOKEN_TTL":                        "default 5m",
		"KITEGATE_BUILDKITE_TIMEOUT":                "default 10s",
		"KITEGATE_POLICY_FILE":                      "the embedded store only; Lambda uses the policy table",
		"KITEGATE_STATE_DIR":                        "the embedded store only; Lambda uses the policy table",
		"KITEGATE_AUDIT_FILE":                       "the local audit log; Lambda writes the audit table",
		"KITEGATE_MAX_BODY_BYTES":                   "default 1 MiB",
		"KITEGATE_LOG_LEVEL":                        "default info",
		"KITEGATE_BUILDKITE_CALLS_PER_MINUTE":       "default 50, Buildkite's budget per token user",
		"KITEGATE_BUILDKITE_ORG_CALLS_PER_MINUTE":   "default 200, Buildkite's budget per organization",
		"KITEGATE_CALLER_CALLS_PER_MINUTE":          "default half the token budget",
		"KITEGATE_OIDC_MAX_TOKEN_LIFETIME":          "default 24h",
		"KITEGATE_OIDC_INTROSPECTION_CLIENT_SECRET": "local only; refused on Lambda (the secret is in Secrets Manager)",
		"KITEGATE_OIDC_INTROSPECTION_TTL":           "default 1m",
		"KITEGATE_ARTIFACT_HOSTS":                   "default: Buildkite's and Amazon S3's hosts (egress.ArtifactHosts)",
		"KITEGATE_UPSTREAM_ISSUER":                  "chooses gateway mode by default locally; the template sets KITEGATE_AUTH_MODE, and the IdP is the authz function's",
	}
	for _, p := range tm.CheckEnv("McpFunction", read, optional) {
		t.Error(p)
	}
}
