package identity

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzAuthenticate feeds arbitrary Authorization headers to the OIDC and dev
// authenticators. Neither may panic; every refusal must be ErrMissingToken or
// ErrInvalidToken (the provider is healthy), and whatever is accepted can only
// be alice, the one subject a valid signature exists for.
func FuzzAuthenticate(f *testing.F) {
	p := newProvider(f)
	valid := sign(f, jose.RS256, p.rsa, "rsa-1", "JWT", p.claims())
	validEC := sign(f, jose.ES256, p.ec, "ec-1", "at+jwt", p.claims())
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		"",
		"Bearer " + valid,
		"bearer   " + validEC,
		"Bearer " + parts[0] + "." + parts[1] + ".",
		"Bearer " + parts[0] + "." + parts[1],
		"Bearer eyJhbGciOiJub25lIn0." + parts[1] + ".c2ln",
		"Bearer eyJhbGciOiJIUzI1NiIsImtpZCI6InJzYS0xIn0." + parts[1] + "." + parts[2],
		"Bearer e30.e30.e30",
		"Bearer ...",
		"Bearer " + strings.Repeat("A", 100),
		`Bearer {"payload":"e30","signatures":[{"protected":"e30","signature":""}]}`,
		"Basic YWxpY2U6eA==",
		"Bearer alice-token",
		"Bearer\t" + valid,
	} {
		f.Add(seed)
	}

	o, err := NewOIDC(f.Context(), OIDCConfig{
		Issuer:     p.issuer(),
		Audience:   testAudience,
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
		Now:        func() time.Time { return testNow },
	})
	if err != nil {
		f.Fatal(err)
	}
	d, err := NewDev(DevConfig{Default: Caller{Subject: "dev"}, Tokens: map[string]Caller{"alice-token": {Subject: "alice"}}})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, authorization string) {
		r := httptest.NewRequest("POST", "/mcp", nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		for name, a := range map[string]Authenticator{"oidc": o, "dev": d} {
			c, err := a.Authenticate(t.Context(), r)
			if err != nil {
				if !errors.Is(err, ErrMissingToken) && !errors.Is(err, ErrInvalidToken) {
					t.Errorf("%s: err = %v, want ErrMissingToken or ErrInvalidToken", name, err)
				}
				continue
			}
			if c.Subject != "alice" {
				t.Errorf("%s: accepted %q as %+v", name, authorization, c)
			}
		}
	})
}
