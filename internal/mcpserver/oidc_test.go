package mcpserver_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/mcpserver"
)

// idp is an OIDC provider on 127.0.0.1 that serves its JWKS and mints tokens.
type idp struct {
	url    string
	signer jose.Signer
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jwks)
	}))
	t.Cleanup(srv.Close)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	return &idp{url: srv.URL, signer: signer}
}

func (p *idp) token(t *testing.T, aud string, exp time.Time, groups ...string) string {
	t.Helper()
	claims := map[string]any{
		"iss": p.url, "sub": "carol", "aud": aud, "email": "carol@example.com", "email_verified": true,
		"iat": time.Now().Add(-time.Minute).Unix(), "exp": exp.Unix(), "groups": groups,
	}
	tok, err := josejwt.Signed(p.signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestOIDCCallersAreGovernedByTheirClaims(t *testing.T) {
	provider := newIDP(t)
	var audience string
	s := newStack(t, func(_ *stack, c *mcpserver.Config) {
		audience = c.ResourceURL
		a, err := identity.NewOIDC(context.Background(), identity.OIDCConfig{Issuer: provider.url, Audience: c.ResourceURL, JWKSURL: provider.url + "/jwks"})
		if err != nil {
			t.Fatal(err)
		}
		c.Auth = a
	})
	future := time.Now().Add(time.Hour)

	oncall := s.connect(t, provider.token(t, audience, future, "platform-oncall"), "2025-11-25")
	if names := toolNames(t, oncall); !slices.Contains(names, "create_build") {
		t.Errorf("platform-oncall member's tools %v lack create_build", names)
	}
	engineer := s.connect(t, provider.token(t, audience, future, "engineering"), "2025-11-25")
	if names := toolNames(t, engineer); slices.Contains(names, "create_build") || !slices.Contains(names, "list_builds") {
		t.Errorf("engineer's tools %v", names)
	}

	if _, err := oncall.CallTool(context.Background(), &mcp.CallToolParams{Name: "current_user", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	events := s.auditEvents(t)
	if got := events[len(events)-1].User; got.Subject != "carol" || got.Email != "carol@example.com" || !slices.Contains(got.Groups, "platform-oncall") {
		t.Errorf("audited user %+v, want carol from the token's claims", got)
	}

	for name, tok := range map[string]string{
		"expired":        provider.token(t, audience, time.Now().Add(-time.Hour), "platform-oncall"),
		"wrong audience": provider.token(t, "https://other.example.com/mcp", future, "platform-oncall"),
		"not a JWT":      "alice-token",
	} {
		resp, _ := post(t, s, http.MethodPost, listTools, map[string]string{"Authorization": "Bearer " + tok})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
		}
	}

}
