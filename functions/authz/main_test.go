package main

import (
	"context"
	"strings"
	"testing"

	// The tests run the function by hand, with its local server, whatever
	// the build tags.
	_ "github.com/kitegate/kitegate/internal/local"
)

func TestRunRefusesBadConfig(t *testing.T) {
	err := run(context.Background(), func(k string) (string, bool) {
		if k == "AWS_LAMBDA_RUNTIME_API" {
			return "127.0.0.1:9001", true
		}
		return "", false
	})
	for _, want := range []string{"KITEGATE_RESOURCE_URL", "KITEGATE_UPSTREAM_ISSUER", "KITEGATE_AUTH_TABLE", "KITEGATE_SIGNING_KEYS", "KITEGATE_POLICY_TABLE"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run on Lambda with nothing set: %v, want it to name %s", err, want)
		}
	}
}
