package main

import (
	"testing"

	"github.com/kitegate/kitegate/internal/stack"
)

// TestTemplateSetsWhatTheFunctionReads: every variable the configuration
// reads is set for DiscoveryFunction in template.yaml or is optional below (with why it
// may stay unset), and the template sets nothing the code does not read.
// The variables are the ones the loader asks for, on Lambda and off it.
func TestTemplateSetsWhatTheFunctionReads(t *testing.T) {
	tm, err := stack.Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var read []string
	for _, env := range []map[string]string{nil, {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}} {
		rec := &stack.EnvRecorder{Env: env}
		_, _ = loadConfig(rec.Lookup) // only which variables it reads matters
		read = append(read, rec.Read()...)
	}
	optional := map[string]string{
		"KITEGATE_STATE_DIR":         "the embedded store only; Lambda uses the policy table",
		"KITEGATE_POLICY_FILE":       "the embedded store only; Lambda uses the policy table",
		"BUILDKITE_API_TOKEN_FILE":   "local only; on Lambda the token is in Secrets Manager",
		"BUILDKITE_API_TOKEN":        "local only; on Lambda the token is in Secrets Manager",
		"BUILDKITE_API_URL":          "default: Buildkite's API",
		"KITEGATE_BUILDKITE_TIMEOUT": "default 10s",
		"KITEGATE_LOG_LEVEL":         "default info",
	}
	for _, p := range tm.CheckEnv("DiscoveryFunction", read, optional) {
		t.Error(p)
	}
}
