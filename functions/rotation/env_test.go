package main

import (
	"testing"

	"github.com/kitegate/kitegate/internal/stack"
)

// TestTemplateSetsWhatTheFunctionReads: every variable the configuration
// reads is set for RotationFunction in template.yaml or is optional below (with why it
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
		"BUILDKITE_API_URL":          "default: Buildkite's API",
		"KITEGATE_BUILDKITE_TIMEOUT": "default 10s",
		"KITEGATE_POLICY_FILE":       "default: the policy built into the binary",
		"KITEGATE_STATE_DIR":         "default: a directory under /tmp",
		"KITEGATE_LOG_LEVEL":         "default info",
	}
	for _, p := range tm.CheckEnv("RotationFunction", read, optional) {
		t.Error(p)
	}
}
