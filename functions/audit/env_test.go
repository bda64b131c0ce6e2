package main

import (
	"testing"

	"github.com/kitegate/kitegate/internal/stack"
)

// TestTemplateSetsWhatTheFunctionReads: every variable the configuration
// reads is set for AuditFunction in template.yaml or is optional below (with why it
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
		"KITEGATE_AWS_TIMEOUT": "default 10s",
	}
	for _, p := range tm.CheckEnv("AuditFunction", read, optional) {
		t.Error(p)
	}
}
