package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/authz/authztest"
	"github.com/kitegate/kitegate/internal/identity"
)

// Issue 15, resource-server mode: opaque access tokens are accepted through
// RFC 7662 introspection, against a real OpenID Provider (npm
// oidc-provider, infra/local/signin.sh): its opaque tokens are accepted
// with the user's claims, a token it says is inactive (made up, or
// revoked) is refused, answers are kept no longer than the configured
// maximum, and an introspection kitegate cannot make is not blamed on the
// caller (503, not 401).
func TestResourceServerOpaqueTokensIntrospected(t *testing.T) {
	p := authztest.NewOpaqueIdP(t)
	idp, clientID, secret := p.Issuer, p.ClientID, p.Secret
	const resource = "https://kitegate.example.com/mcp"
	var meta struct {
		Introspection string `json:"introspection_endpoint"`
		Revocation    string `json:"revocation_endpoint"`
	}
	getJSON(t, idp+"/.well-known/openid-configuration", &meta)
	if meta.Introspection == "" || meta.Revocation == "" {
		t.Fatalf("the IdP offers no introspection or revocation: %+v", meta)
	}
	signIn := func(user string) string {
		t.Helper()
		token := p.Token(t, user)
		if strings.Count(token, ".") == 2 {
			t.Fatalf("access token %q, want an opaque one", token)
		}
		return token
	}
	now := &clock{t: time.Now()}
	newOIDC := func(t *testing.T, secret string, maxTTL time.Duration) *identity.OIDC {
		o, err := identity.NewOIDC(t.Context(), identity.OIDCConfig{
			Issuer: idp, Audience: resource, Now: now.Now,
			Introspection: &identity.IntrospectionConfig{
				URL: meta.Introspection, ClientID: clientID, MaxTTL: maxTTL,
				ClientSecret: func(context.Context) (string, error) { return secret, nil },
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	authWith := func(o *identity.OIDC, token string) (identity.Caller, error) {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return o.Authenticate(t.Context(), r)
	}
	o := newOIDC(t, secret, 30*time.Second)
	long := newOIDC(t, secret, 2*time.Hour) // answers kept longer than oidc-provider's tokens live (1 h)
	auth := func(token string) (identity.Caller, error) { return authWith(o, token) }

	alice := signIn("alice")
	c, err := auth(alice)
	if err != nil || c.Subject != "alice" || c.Email != "alice@example.com" || strings.Join(c.Groups, ",") != "engineering,platform-oncall" {
		t.Fatalf("alice's opaque token: %+v, %v", c, err)
	}
	if c, err := auth(signIn("mallory")); err != nil || c.Subject != "mallory" || c.Email != "" {
		t.Errorf("mallory (unverified email): %+v, %v, want no email", c, err)
	}
	if _, err := auth("made-up-opaque-token-0123456789"); !errors.Is(err, identity.ErrInvalidToken) {
		t.Errorf("a made-up token: %v, want refused", err)
	}

	// Revoked before its first use: refused at once.
	bob := signIn("bob")
	revoke(t, meta.Revocation, bob, clientID, secret)
	if _, err := auth(bob); !errors.Is(err, identity.ErrInvalidToken) {
		t.Errorf("a revoked token: %v, want refused", err)
	}
	// Revoked after it was used: refused once the kept answer runs out.
	revoke(t, meta.Revocation, alice, clientID, secret)
	if _, err := auth(alice); err != nil {
		t.Errorf("within the kept answer's 30 s: %v", err)
	}
	now.advance(31 * time.Second)
	if _, err := auth(alice); !errors.Is(err, identity.ErrInvalidToken) {
		t.Errorf("revoked, after the answer's time: %v, want refused", err)
	}

	// An answer is never kept past the token's exp, whatever the TTL: dev's
	// token, revoked after its first use, is asked about again once its
	// exp has passed (on kitegate's clock) and refused.
	dev := signIn("dev")
	if _, err := authWith(long, dev); err != nil {
		t.Fatalf("dev's token: %v", err)
	}
	revoke(t, meta.Revocation, dev, clientID, secret)
	now.advance(30 * time.Minute)
	if _, err := authWith(long, dev); err != nil {
		t.Errorf("within exp and the 2 h TTL, the kept answer: %v", err)
	}
	now.advance(31 * time.Minute)
	if _, err := authWith(long, dev); !errors.Is(err, identity.ErrInvalidToken) {
		t.Errorf("past exp, within the 2 h TTL: %v, want asked again and refused", err)
	}

	// kitegate's own credentials refused by the IdP: not the caller's fault.
	bad := newOIDC(t, "wrong-secret", 30*time.Second)
	if _, err := authWith(bad, signIn("alice")); err == nil || errors.Is(err, identity.ErrInvalidToken) {
		t.Errorf("introspection with a wrong client secret: %v, want an error that is not the caller's (503)", err)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func revoke(t *testing.T, u, token, id, secret string) {
	t.Helper()
	if err := authztest.PostForm(u, url.Values{"token": {token}}, id, secret, nil); err != nil {
		t.Fatal(err)
	}
}

// An opaque token the company IdP issued to another of its applications is
// not kitegate's: RFC 7662 lets the introspection answer leave out aud, and
// oidc-provider does for a token requested without a resource, so kitegate
// must not take an answer without an audience naming it for a token issued
// to it (MCP authorization: a server accepts only tokens issued for it; no
// token passthrough). A token issued to kitegate's own client at the IdP is
// still accepted, and one issued for kitegate's resource too.
func TestSecurityIntrospectedTokenOfAnotherApplicationRefused(t *testing.T) {
	authztest.Dir(t)
	const clientID, secret, redirect = "kitegate-rs", "introspection-secret", "http://127.0.0.1:9/callback"
	idp := authztest.IdP(t, clientID, secret, redirect, "IDP_INTROSPECTION=1", "IDP_OTHER_CLIENT=other-app")
	var meta struct {
		Introspection string `json:"introspection_endpoint"`
	}
	getJSON(t, idp+"/.well-known/openid-configuration", &meta)
	o, err := identity.NewOIDC(t.Context(), identity.OIDCConfig{
		Issuer: idp, Audience: "https://kitegate.example.com/mcp",
		Introspection: &identity.IntrospectionConfig{
			URL: meta.Introspection, ClientID: clientID,
			ClientSecret: func(context.Context) (string, error) { return secret, nil },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	auth := func(token string) (identity.Caller, error) {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return o.Authenticate(t.Context(), r)
	}
	other := authztest.IdPToken(t, idp, "other-app", secret, redirect, "alice")
	if c, err := auth(other); !errors.Is(err, identity.ErrInvalidToken) {
		t.Errorf("alice's token issued to other-app: %+v, %v; want it refused as not kitegate's", c, err)
	}
	own := authztest.IdPToken(t, idp, clientID, secret, redirect, "alice")
	if c, err := auth(own); err != nil || c.Subject != "alice" {
		t.Errorf("alice's token issued to kitegate's client: %+v, %v; want accepted", c, err)
	}
}
