package main

import (
	"testing"

	"github.com/kitegate/kitegate/internal/config"
	"github.com/kitegate/kitegate/internal/stack"
)

// TestTemplateSetsWhatTheFunctionReads: every variable the authz
// function's configuration reads is set for AuthzFunction in template.yaml
// or is optional below (with why it may stay unset), and the template sets
// nothing the code does not read.
func TestTemplateSetsWhatTheFunctionReads(t *testing.T) {
	tm, err := stack.Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var read []string
	for _, env := range []map[string]string{nil, {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}} {
		rec := &stack.EnvRecorder{Env: env}
		_, _ = config.LoadAuthz(rec.Lookup) // only which variables it reads matters
		read = append(read, rec.Read()...)
	}
	optional := map[string]string{
		"KITEGATE_ADDR":                   "local listen address; on Lambda the runtime API serves",
		"KITEGATE_LOG_LEVEL":              "default info",
		"KITEGATE_UPSTREAM_CLIENT_SECRET": "local only; refused on Lambda (the secret is in Secrets Manager)",
		"KITEGATE_UPSTREAM_USERINFO":      "default false: groups come from the ID token",
	}
	for _, p := range tm.CheckEnv("AuthzFunction", read, optional) {
		t.Error(p)
	}
}
