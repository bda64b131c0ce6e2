package config

import (
	"strings"
	"testing"
)

// Issue 14, fail closed: local mode without OIDC treats every request as
// the dev user, so it must not listen where others can reach it.
func TestSecurityFailClosedLocalNonLoopbackNeedsAuthenticatedCallers(t *testing.T) {
	tests := []struct {
		addr, issuer string
		ok           bool
	}{
		{"127.0.0.1:8080", "", true},
		{"[::1]:8080", "", true},
		{"localhost:8080", "", true},
		{"0.0.0.0:8080", "", false},
		{":8080", "", false},
		{"[::]:8080", "", false},
		{"192.168.1.5:8080", "", false},
		{"0.0.0.0:8080", "https://idp.example.com", true},
	}
	for _, tt := range tests {
		_, err := Load(env(map[string]string{"KITEGATE_ADDR": tt.addr, "KITEGATE_OIDC_ISSUER": tt.issuer}))
		if ok := err == nil; ok != tt.ok {
			t.Errorf("KITEGATE_ADDR=%s issuer=%q: err = %v, want ok %v", tt.addr, tt.issuer, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("%s: error %q does not say why", tt.addr, err)
		}
	}
}

// Issue 14, fail closed: on Lambda without its policy table the mcp
// function served the policy built into the binary (37 tools to everyone),
// and without its audit table it wrote the audit only to its log.
func TestSecurityFailClosedLambdaNeedsPolicyAndAuditTables(t *testing.T) {
	base := map[string]string{
		"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "KITEGATE_OIDC_ISSUER": "https://idp.example.com",
		"KITEGATE_RESOURCE_URL": "https://api.example.com/mcp", "KITEGATE_BUILDKITE_SECRET_ID": "kitegate/buildkite",
		"KITEGATE_POLICY_TABLE": "policy", "KITEGATE_AUDIT_TABLE": "audit",
	}
	for _, missing := range []string{"KITEGATE_POLICY_TABLE", "KITEGATE_AUDIT_TABLE"} {
		t.Run(missing, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range base {
				if k != missing {
					e[k] = v
				}
			}
			_, err := Load(env(e))
			if err == nil || !strings.Contains(err.Error(), missing+" is required on Lambda") {
				t.Errorf("Load without %s: err = %v, want it required", missing, err)
			}
		})
	}
	if _, err := Load(env(base)); err != nil {
		t.Errorf("Load with both tables: %v", err)
	}
}
