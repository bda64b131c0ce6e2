package identity

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
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

// Finding I4: the dev token file accepted the key "dave token", which no
// bearer header can carry, without a word at start.
func TestSecurityI4DevTokenWithWhitespaceWarned(t *testing.T) {
	d, err := NewDev(DevConfig{Source: "tokens.yaml", Tokens: map[string]Caller{"dave token": {Subject: "dave"}, "alice-token": {Subject: "alice"}}})
	if err != nil {
		t.Fatal(err)
	}
	w := d.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], `"dave"`) || strings.Contains(w[0], "dave token") {
		t.Errorf("warnings %q, want one naming sub dave and not the token", w)
	}
}

// Findings I2 and I7: a token without kid was tried against every key of
// the set; exp in year 9999, iat 10^6 s in the future and exp as a numeric
// string were accepted. Each is refused now.
func TestSecurityI7TokenKidAndLifetimeChecks(t *testing.T) {
	p := newProvider(t)
	o, _ := newTestOIDC(t, p, nil)
	now := testNow.Unix()
	tests := []struct {
		name     string
		kid      string
		claims   map[string]any
		wantDesc string // "" accepted
	}{
		{"control: one hour", "rsa-1", p.claims(), ""},
		{"no kid, right key", "", p.claims(), "token has no key id"},
		{"exp in year 9999", "rsa-1", with(p.claims(), "exp", 253402300799), "token lifetime too long"},
		{"exp 25 h away, no iat", "rsa-1", with(p.claims(), "iat", nil, "exp", now+25*3600), "token lifetime too long"},
		{"iat 10^6 s in the future", "rsa-1", with(p.claims(), "iat", now+1_000_000), "token issued in the future"},
		{"exp - iat over the maximum", "rsa-1", with(p.claims(), "iat", now-23*3600, "exp", now+3*3600), "token lifetime too long"},
		{"exp as a numeric string", "rsa-1", with(p.claims(), "exp", fmt.Sprint(now+3600)), "malformed claims"},
		{"iat as a string", "rsa-1", with(p.claims(), "iat", fmt.Sprint(now)), "malformed claims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/mcp", nil)
			r.Header.Set("Authorization", "Bearer "+sign(t, jose.RS256, p.rsa, tt.kid, "JWT", tt.claims))
			_, err := o.Authenticate(t.Context(), r)
			var desc string
			if e, ok := errors.AsType[*invalidTokenError](err); ok {
				desc = e.description
			} else if err != nil {
				desc = err.Error()
			}
			if desc != tt.wantDesc {
				t.Errorf("refusal %q, want %q", desc, tt.wantDesc)
			}
		})
	}
}

// Finding I7 (token type): typ JWT and at+jwt were both accepted and
// nothing else was looked at, so an IdP's ID token with the same iss and an
// aud naming the resource (a client id equal to the MCP URL) passed as an
// access token. A token carrying what only ID tokens carry is refused
// always; with TokenType at+jwt (kitegate's own tokens; RFC 9068 IdPs) the
// typ header must say at+jwt.
func TestSecurityI7IDTokensAndWrongTokenTypesRefused(t *testing.T) {
	p := newProvider(t)
	lenient, _ := newTestOIDC(t, p, nil)
	strict, _ := newTestOIDC(t, p, func(c *OIDCConfig) { c.TokenType = TypeAccessToken })
	access := with(p.claims(), "scope", "mcp offline_access", "client_id", "cursor", "jti", "j-1")
	idToken := with(p.claims(), "nonce", "n-0S6_WzA2Mj", "at_hash", "77QmUPtjPfzWtF2AnpK9RQ", "auth_time", testNow.Unix(), "azp", "cursor")
	tests := []struct {
		name           string
		typ            string // "" no typ header
		claims         map[string]any
		lenient, wantS string // the refusal ("" accepted) without and with TokenType at+jwt
	}{
		{"access token, at+jwt", "at+jwt", access, "", ""},
		{"access token, application/at+jwt", "application/at+jwt", access, "", ""},
		{"access token, typ JWT", "JWT", access, "", "unexpected token type"},
		{"access token, no typ", "", access, "", "unexpected token type"},
		{"ID token, typ JWT (nonce, at_hash)", "JWT", idToken, "not an access token", "unexpected token type"},
		{"ID token, no typ", "", idToken, "not an access token", "unexpected token type"},
		{"ID token dressed as at+jwt", "at+jwt", idToken, "not an access token", "not an access token"},
		{"ID token with nonce only", "JWT", with(p.claims(), "nonce", "abc"), "not an access token", "unexpected token type"},
		{"code-flow ID token with c_hash", "JWT", with(p.claims(), "c_hash", "LDktKdoQak3Pk0cnXxCltA"), "not an access token", "unexpected token type"},
		{"Cognito ID token", "", with(p.claims(), "token_use", "id"), "not an access token", "unexpected token type"},
		{"Cognito access token", "", with(p.claims(), "token_use", "access"), "", "unexpected token type"},
		{"Keycloak ID token", "JWT", with(p.claims(), "typ", "ID"), "not an access token", "unexpected token type"},
		{"Keycloak access token", "JWT", with(p.claims(), "typ", "Bearer"), "", "unexpected token type"},
		{"Keycloak access token with the sign-in's nonce", "JWT", with(p.claims(), "typ", "Bearer", "nonce", "n-1"), "", "unexpected token type"},
		{"Cognito access token with a nonce", "", with(p.claims(), "token_use", "access", "nonce", "n-1"), "", "unexpected token type"},
		{"logout token", "logout+jwt", access, "unexpected token type", "unexpected token type"},
		{"DPoP proof", "dpop+jwt", access, "unexpected token type", "unexpected token type"},
		{"id_token+jwt", "id_token+jwt", access, "unexpected token type", "unexpected token type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := sign(t, jose.RS256, p.rsa, "rsa-1", tt.typ, tt.claims)
			for _, v := range []struct {
				o    *OIDC
				want string
			}{{lenient, tt.lenient}, {strict, tt.wantS}} {
				r := httptest.NewRequest("POST", "/mcp", nil)
				r.Header.Set("Authorization", "Bearer "+token)
				_, err := v.o.Authenticate(t.Context(), r)
				var desc string
				if e, ok := errors.AsType[*invalidTokenError](err); ok {
					desc = e.description
				} else if err != nil {
					desc = err.Error()
				}
				if desc != v.want {
					t.Errorf("TokenType %q: refusal %q, want %q", v.o.cfg.TokenType, desc, v.want)
				}
			}
		})
	}
	if _, err := NewOIDC(t.Context(), OIDCConfig{Issuer: p.issuer(), Audience: testAudience, TokenType: "JWT"}); err == nil {
		t.Error("TokenType JWT accepted: only at+jwt or none may be configured")
	}
}
