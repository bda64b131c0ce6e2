package identity

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Issue 15, resource-server mode: issuer and audience mismatches are
// configuration errors, reported as such — from the provider's discovery
// document at start (Check), and when every token the provider signed
// names another issuer or audience — while each caller still gets the
// normal 401. A forged token (not signed by the provider) never counts.
func TestResourceServerMismatchesReportedAsConfigErrors(t *testing.T) {
	type report struct {
		claim, seen string
		tokens      int
	}
	newOIDC := func(t *testing.T, p *provider, adjust func(*OIDCConfig)) (*OIDC, *clock, func() []report) {
		var mu sync.Mutex
		var got []report
		o, c := newTestOIDC(t, p, func(cfg *OIDCConfig) {
			cfg.Misconfigured = func(_ context.Context, e *ConfigError) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, report{e.Claim, e.Seen, e.Tokens})
			}
			if adjust != nil {
				adjust(cfg)
			}
		})
		return o, c, func() []report { mu.Lock(); defer mu.Unlock(); return append([]report(nil), got...) }
	}

	t.Run("discovery names another issuer", func(t *testing.T) {
		p := newProvider(t)
		o, _, reports := newOIDC(t, p, func(c *OIDCConfig) { c.Issuer += "/" })
		err := o.Check(t.Context())
		if ce, ok := errors.AsType[*ConfigError](err); !ok || ce.Seen != p.issuer() || ce.Want != p.issuer()+"/" {
			t.Fatalf("Check: %v, want a configuration error naming both issuers", err)
		}
		if r := reports(); len(r) != 1 || r[0].claim != "iss" || r[0].tokens != 0 {
			t.Errorf("reports %+v, want one from discovery", r)
		}
	})
	t.Run("discovery agrees", func(t *testing.T) {
		p := newProvider(t)
		o, _, reports := newOIDC(t, p, nil)
		if err := o.Check(t.Context()); err != nil || len(reports()) != 0 {
			t.Errorf("Check: %v, reports %+v", err, reports())
		}
	})

	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		claim, value string
	}{
		{"iss", "https://sts.windows.net/tenant-id/"},
		{"aud", "api://kitegate"},
	} {
		t.Run("every token has another "+tc.claim, func(t *testing.T) {
			p := newProvider(t)
			o, clk, reports := newOIDC(t, p, nil)
			wrong := func() string { return sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), tc.claim, tc.value)) }
			// Forged tokens with the wrong value are not the provider's word.
			for range 2 * mismatchTokens {
				if _, err := authenticate(t, o, sign(t, jose.RS256, forger, "rsa-1", "JWT", with(p.claims(), tc.claim, tc.value))); !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("forged token: %v", err)
				}
			}
			for i := range mismatchTokens - 1 {
				_, err := authenticate(t, o, wrong())
				if e, ok := errors.AsType[*invalidTokenError](err); !ok || e.description != "token verification failed" {
					t.Fatalf("token %d: %v, want the normal 401", i, err)
				}
			}
			if r := reports(); len(r) != 0 {
				t.Fatalf("reported after %d tokens: %+v", mismatchTokens-1, r)
			}
			// An accepted token in between: not every token fails.
			if _, err := authenticate(t, o, sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", p.claims())); err != nil {
				t.Fatal(err)
			}
			for range mismatchTokens - 1 {
				_, _ = authenticate(t, o, wrong())
			}
			if r := reports(); len(r) != 0 {
				t.Fatalf("reported although a token was accepted in the run: %+v", r)
			}
			_, err := authenticate(t, o, wrong())
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("the caller gets %v, want the normal 401", err)
			}
			want := report{tc.claim, tc.value, mismatchTokens}
			if r := reports(); len(r) != 1 || r[0] != want {
				t.Fatalf("reports %+v, want %+v", r, want)
			}
			// Reported again only after a while, however many tokens fail.
			for range 20 {
				_, _ = authenticate(t, o, wrong())
			}
			if n := len(reports()); n != 1 {
				t.Errorf("%d reports within a minute, want 1", n)
			}
			clk.Advance(mismatchEvery + time.Second)
			_, _ = authenticate(t, o, wrong())
			if r := reports(); len(r) != 2 || r[1].tokens != mismatchTokens+21 {
				t.Errorf("reports %+v, want a second one counting the whole run", r)
			}
		})
	}
}
