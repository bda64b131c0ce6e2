package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testNow is the fixed time tokens are issued and checked at.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testAudience = "https://mcp.example.com/mcp"

// clock is a settable time source shared by a test and the authenticator.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// provider is an OpenID provider on 127.0.0.1 serving discovery and a JWKS
// with one RSA and one EC key, generated per test.
type provider struct {
	t      testing.TB
	srv    *httptest.Server
	rsa    *rsa.PrivateKey
	ec     *ecdsa.PrivateKey
	mu     sync.Mutex
	status int // JWKS response status; 0 means 200
	hits   map[string]int
}

func newProvider(t testing.TB) *provider {
	t.Helper()
	p := &provider{t: t, hits: map[string]int{}}
	var err error
	if p.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if p.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) issuer() string { return p.srv.URL }

func (p *provider) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.hits[r.URL.Path]++
	status := p.status
	p.mu.Unlock()
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		writeJSON(w, map[string]any{"issuer": p.issuer(), "jwks_uri": p.srv.URL + "/jwks"})
	case "/jwks":
		if status != 0 && status != http.StatusOK {
			http.Error(w, "unavailable", status)
			return
		}
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: p.rsa.Public(), KeyID: "rsa-1", Algorithm: "RS256", Use: "sig"},
			{Key: p.ec.Public(), KeyID: "ec-1", Algorithm: "ES256", Use: "sig"},
		}})
	default:
		// Not an error: the provider's loopback port is the kernel's to
		// reuse, and a client of another test process (the TypeScript SDK
		// probing RFC 8414 metadata at a server that has closed) can reach
		// it. What the verifier fetches is asserted by path counts.
		p.t.Logf("provider: request for a path it does not serve: %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	}
}

func (p *provider) hitCount(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[path]
}

func (p *provider) setStatus(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = status
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// claims returns valid claims for alice, for a test to adjust.
func (p *provider) claims() map[string]any {
	return map[string]any{
		"iss":            p.issuer(),
		"aud":            testAudience,
		"sub":            "alice",
		"email":          "alice@example.com",
		"email_verified": true,
		"groups":         []string{"admins", "builders"},
		"iat":            testNow.Unix(),
		"nbf":            testNow.Unix(),
		"exp":            testNow.Add(time.Hour).Unix(),
	}
}

// sign returns a compact JWS of claims.
func sign(t testing.TB, alg jose.SignatureAlgorithm, key crypto.Signer, kid, typ string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// newTestOIDC returns an authenticator for p with a settable clock.
func newTestOIDC(t *testing.T, p *provider, adjust func(*OIDCConfig)) (*OIDC, *clock) {
	t.Helper()
	c := &clock{now: testNow}
	cfg := OIDCConfig{
		Issuer:     p.issuer(),
		Audience:   testAudience,
		HTTPClient: p.srv.Client(),
		Now:        c.Now,
	}
	cfg.HTTPClient.Timeout = 5 * time.Second
	if adjust != nil {
		adjust(&cfg)
	}
	o, err := NewOIDC(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o, c
}
