package identity

import (
	"net/http/httptest"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// Finding M3 (unverified): the email counted unless email_verified was the
// boolean false, so "false" (a string) and a missing claim bound the
// caller by email. Only the boolean true counts now.
func TestSecurityM3EmailBindsOnlyWhenVerifiedTrue(t *testing.T) {
	p := newProvider(t)
	o, _ := newTestOIDC(t, p, nil)
	tests := []struct {
		name      string
		verified  any // nil: claim absent
		wantEmail string
	}{
		{"boolean true", true, "victim@example.com"},
		{"boolean false", false, ""},
		{"string false", "false", ""},
		{"string true", "true", ""},
		{"number 1", 1, ""},
		{"absent", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := with(p.claims(), "sub", "mallory", "groups", nil, "email", "victim@example.com", "email_verified", tt.verified)
			r := httptest.NewRequest("POST", "/mcp", nil)
			r.Header.Set("Authorization", "Bearer "+sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", claims))
			c, err := o.Authenticate(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			if c.Email != tt.wantEmail || c.Subject != "mallory" {
				t.Errorf("caller %+v, want email %q", c, tt.wantEmail)
			}
		})
	}
}
