package identity

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

func authenticate(t *testing.T, o *OIDC, token string) (Caller, error) {
	t.Helper()
	r := httptest.NewRequest("POST", "/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return o.Authenticate(t.Context(), r)
}

func TestKeySetFetching(t *testing.T) {
	const (
		discovery = "/.well-known/openid-configuration"
		jwks      = "/jwks"
	)
	type step struct {
		advance time.Duration
		kid     string // "rsa-1" signs with the provider's key, anything else with a stranger's
		status  int    // JWKS status from this step on (200 heals); 0 leaves it
		wantErr error  // nil, ErrInvalidToken, or errKeysUnavailable
		want    map[string]int
	}
	tests := []struct {
		name  string
		cfg   func(*OIDCConfig)
		steps []step
	}{
		{
			name: "discovery once, keys once, then cached",
			steps: []step{
				{kid: "rsa-1", want: map[string]int{discovery: 1, jwks: 1}},
				{kid: "rsa-1", want: map[string]int{discovery: 1, jwks: 1}},
			},
		},
		{
			name: "configured JWKS URL skips discovery",
			cfg:  func(c *OIDCConfig) { c.JWKSURL = c.Issuer + "/jwks" },
			steps: []step{
				{kid: "rsa-1", want: map[string]int{discovery: 0, jwks: 1}},
			},
		},
		{
			name: "unknown kids refetch at most once a minute",
			steps: []step{
				{kid: "rsa-1", want: map[string]int{discovery: 1, jwks: 1}},
				{kid: "new-1", wantErr: ErrInvalidToken, want: map[string]int{discovery: 1, jwks: 1}}, // fetched just now
				{advance: 61 * time.Second, kid: "new-2", wantErr: ErrInvalidToken, want: map[string]int{discovery: 1, jwks: 2}},
				{kid: "new-3", wantErr: ErrInvalidToken, want: map[string]int{discovery: 1, jwks: 2}},
				{kid: "new-4", wantErr: ErrInvalidToken, want: map[string]int{discovery: 1, jwks: 2}},
				{kid: "rsa-1", want: map[string]int{discovery: 1, jwks: 2}},
			},
		},
		{
			name: "keys older than an hour are refreshed",
			steps: []step{
				{kid: "rsa-1", want: map[string]int{discovery: 1, jwks: 1}},
				{advance: 61 * time.Minute, kid: "rsa-1", want: map[string]int{discovery: 1, jwks: 2}},
			},
		},
		{
			name: "provider down: unavailable, retried after a pause",
			steps: []step{
				{kid: "rsa-1", status: http.StatusBadGateway, wantErr: errKeysUnavailable, want: map[string]int{discovery: 1, jwks: 1}},
				{kid: "rsa-1", wantErr: errKeysUnavailable, want: map[string]int{discovery: 1, jwks: 1}},
				{advance: 6 * time.Second, kid: "rsa-1", status: http.StatusOK, want: map[string]int{discovery: 2, jwks: 2}},
			},
		},
		{
			name: "provider down later: cached keys keep working",
			steps: []step{
				{kid: "rsa-1", want: map[string]int{discovery: 1, jwks: 1}},
				{advance: 61 * time.Minute, kid: "rsa-1", status: http.StatusInternalServerError, want: map[string]int{discovery: 1, jwks: 2}},
			},
		},
	}
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t)
			o, clk := newTestOIDC(t, p, tt.cfg)
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				if s.status != 0 {
					p.setStatus(s.status)
				}
				key := p.rsa
				if s.kid != "rsa-1" {
					key = stranger
				}
				claims := with(p.claims(), "exp", clk.Now().Add(time.Hour).Unix())
				_, err := authenticate(t, o, sign(t, jose.RS256, key, s.kid, "JWT", claims))
				if !errors.Is(err, s.wantErr) || (err != nil && s.wantErr == nil) {
					t.Errorf("step %d: err = %v, want %v", i, err, s.wantErr)
				}
				if s.wantErr == errKeysUnavailable && errors.Is(err, ErrInvalidToken) {
					t.Errorf("step %d: an unavailable provider must not make the token invalid: %v", i, err)
				}
				got := map[string]int{discovery: p.hitCount(discovery), jwks: p.hitCount(jwks)}
				if diff := cmp.Diff(s.want, got); diff != "" {
					t.Errorf("step %d: fetches (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestMiddlewareProviderDown(t *testing.T) {
	p := newProvider(t)
	p.setStatus(http.StatusServiceUnavailable)
	o, _ := newTestOIDC(t, p, nil)
	w, seen, _ := serveMiddleware(t, o, "Bearer "+sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", p.claims()))
	if w.Code != http.StatusServiceUnavailable || seen != nil {
		t.Errorf("status = %d, next called: %v; want 503 and not called", w.Code, seen != nil)
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	p := newProvider(t)
	// The provider advertises its own URL; configure a different spelling.
	o, _ := newTestOIDC(t, p, func(c *OIDCConfig) { c.Issuer += "/" })
	_, err := authenticate(t, o, sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", p.claims()))
	if _, ok := errors.AsType[*ConfigError](err); !ok || errors.Is(err, ErrInvalidToken) {
		t.Errorf("err = %v, want an issuer mismatch from discovery", err)
	}
}

func TestNewOIDCErrors(t *testing.T) {
	ok := OIDCConfig{Issuer: "https://idp.example.com", Audience: testAudience}
	tests := []struct {
		name   string
		adjust func(*OIDCConfig)
	}{
		{"no issuer", func(c *OIDCConfig) { c.Issuer = "" }},
		{"no audience", func(c *OIDCConfig) { c.Audience = "" }},
		{"plain http issuer", func(c *OIDCConfig) { c.Issuer = "http://idp.example.com" }},
		{"plain http JWKS", func(c *OIDCConfig) { c.JWKSURL = "http://idp.example.com/jwks" }},
		{"HS256 configured", func(c *OIDCConfig) { c.Algorithms = []string{"RS256", "HS256"} }},
		{"none configured", func(c *OIDCConfig) { c.Algorithms = []string{"none"} }},
		{"client without timeout", func(c *OIDCConfig) { c.HTTPClient = &http.Client{} }},
		{"negative leeway", func(c *OIDCConfig) { c.Leeway = -time.Second }},
	}
	if _, err := NewOIDC(t.Context(), ok); err != nil {
		t.Fatalf("baseline config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.adjust(&cfg)
			if _, err := NewOIDC(t.Context(), cfg); err == nil {
				t.Error("NewOIDC succeeded, want an error")
			}
		})
	}
}

func TestKeySetConcurrentFirstUse(t *testing.T) {
	p := newProvider(t)
	o, _ := newTestOIDC(t, p, nil)
	token := sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", p.claims())
	errs := make(chan error, 20)
	for range cap(errs) {
		go func() {
			_, err := authenticate(t, o, token)
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := p.hitCount("/jwks"); got != 1 {
		t.Errorf("key set fetched %d times, want 1", got)
	}
}
