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
