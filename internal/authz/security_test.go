package authz_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/kitegate/kitegate/internal/authz/authztest"
)

// The review of this session's surface: for a client registered with a
// loopback redirect URI, op's native-app rule let /authorize send the code
// to another loopback host, over https, with user information or a
// fragment. Only the port may differ now (RFC 8252 §7.3); every sign-in of
// these tests goes through another port than the one registered.
func TestSecurityLoopbackRedirectOnlyThePortMayDiffer(t *testing.T) {
	e := newEnv(t)
	withPort := e.newClient(t) // registered: http://127.0.0.1:9/callback
	status, out := e.register(t, `{"client_name":"No Port","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none"}`)
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, out)
	}
	for _, clientID := range []string{withPort, out["client_id"].(string)} {
		refusesAllButThePort(t, e, clientID)
	}
}

func refusesAllButThePort(t *testing.T, e *env, clientID string) {
	p := newPKCE()
	for _, redirect := range []string{
		"https://127.0.0.1:43210/callback",
		"http://127.0.0.2:43210/callback",
		"http://localhost:43210/callback",
		"http://[::1]:43210/callback",
		"http://evil@127.0.0.1:43210/callback",
		"http://127.0.0.1:43210/callback#x",
		"http://127.0.0.1:43210/callback?next=https://evil.example",
		"http://127.0.0.1:43210/callback/",
		"http://127.0.0.1:43210/CALLBACK",
		"",
	} {
		t.Run(redirect, func(t *testing.T) {
			b := authztest.NewBrowser("alice", "http://127.0.0.1:43210")
			_, err := b.Visit(e.authorizeURL(clientID, redirect, p, nil))
			pe, ok := err.(*authztest.PageError)
			if !ok {
				t.Fatalf("got %v, want kitegate's error page", err)
			}
			if pe.Status != http.StatusBadRequest || !strings.Contains(pe.Body, "redirect_uri") || !strings.HasPrefix(pe.URL, e.base) {
				t.Errorf("page %s %d %q, want 400 about redirect_uri on kitegate", pe.URL, pe.Status, pe.Body)
			}
		})
	}
	// The registered URI itself and its port at run time are the client's.
	for _, redirect := range []string{"http://127.0.0.1:43210/callback", "http://127.0.0.1:9/callback"} {
		if _, err := authztest.NewBrowser("alice", redirect).Visit(e.authorizeURL(clientID, redirect, p, nil)); err != nil {
			t.Errorf("sign-in through %s: %v", redirect, err)
		}
	}
}

// Finding I7 (token type): kitegate's own tokens said typ JWT, as an ID
// token does, and typ was not required. They are RFC 9068 access tokens
// now — typ at+jwt, signed by the KMS key — and kitegate refuses a token it
// signed itself unless it says at+jwt (the same claims re-signed as JWT or
// with no typ), and an ID token's shape (nonce) even when it says at+jwt.
func TestSecurityI7OwnTokensAreAtJWT(t *testing.T) {
	e := newEnv(t)
	clientID := e.newClient(t)
	p := newPKCE()
	tk := e.exchange(t, clientID, e.signIn(t, "alice", clientID, p), p)
	if tk.status != http.StatusOK || tk.Access == "" {
		t.Fatalf("code exchange: %+v", tk)
	}
	parsed, err := jwt.ParseSigned(tk.Access, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	h := parsed.Headers[0]
	pubs, err := e.keys.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if h.ExtraHeaders[jose.HeaderType] != "at+jwt" || h.KeyID != pubs[0].KeyID {
		t.Fatalf("access token header typ %v kid %q, want at+jwt by the KMS key %q", h.ExtraHeaders[jose.HeaderType], h.KeyID, pubs[0].KeyID)
	}
	if status, caller, _ := e.call(t, tk.Access); status != http.StatusOK || caller.Subject != "alice" {
		t.Fatalf("call with the at+jwt token: %d %+v", status, caller)
	}
	var claims map[string]any
	if err := parsed.Claims(pubs[0].Key, &claims); err != nil {
		t.Fatal(err)
	}
	// The same claims, signed by the same KMS key, under another typ.
	resign := func(typ string, extra map[string]any) string {
		signer, kid, err := e.keys.Signer(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		opts := &jose.SignerOptions{}
		if typ != "" {
			opts = opts.WithType(jose.ContentType(typ))
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: &jose.JSONWebKey{Key: signer, KeyID: kid}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		for k, v := range extra {
			c[k] = v
		}
		token, err := jwt.Signed(s).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	if status, _, _ := e.call(t, resign("at+jwt", nil)); status != http.StatusOK {
		t.Fatalf("control: the claims re-signed as at+jwt got %d", status)
	}
	for name, token := range map[string]string{
		"typ JWT":                resign("JWT", nil),
		"no typ":                 resign("", nil),
		"ID token shape, at+jwt": resign("at+jwt", map[string]any{"nonce": "n-0S6_WzA2Mj"}),
	} {
		if status, _, challenge := e.call(t, token); status != http.StatusUnauthorized {
			t.Errorf("%s: status %d (%s), want 401", name, status, challenge)
		}
	}
}
