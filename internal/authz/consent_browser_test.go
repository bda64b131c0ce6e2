package authz_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/kitegate/kitegate/internal/authz"
	"github.com/kitegate/kitegate/internal/authz/authztest"
)

// consentRun is what infra/local/signin/consent-browser.mjs reports.
type consentRun struct {
	Pages   []string `json:"pages"`
	Console []string `json:"console"`
	Consent struct {
		CSP          string   `json:"csp"`
		FrameOptions string   `json:"frame_options"`
		Heading      string   `json:"heading"`
		Tools        []string `json:"tools"`
	} `json:"consent"`
	Landed     string `json:"landed"`
	FramedForm bool   `json:"framed_form_visible"`
	Error      string `json:"error"`
}

// The consent page in a real browser (Debian's chromium, headless): the
// user signs in at the IdP, reads which client asks and which tools it
// would get, and clicks Allow or Deny; the page's CSP lets its own form
// post and the redirect to the client after it through (browsers apply
// form-action to that redirect too), and it forbids framing.
func TestConsentPageInChromium(t *testing.T) {
	chromium := authztest.Chromium(t)
	e := newEnv(t, func(c *authz.Config) {
		c.Tools = func(context.Context, authz.User) ([]string, error) { return []string{"get_build", "list_builds"}, nil }
	})
	clientID := e.newClient(t)
	const redirect = "http://127.0.0.1:43210/callback"
	browse := func(user, decision string, p pkce) consentRun {
		t.Helper()
		out := authztest.Run(t, []string{authztest.ChromiumEnv + "=" + chromium}, "consent-browser.mjs", e.authorizeURL(clientID, redirect, p, nil), redirect, user, decision)
		var r consentRun
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("consent-browser.mjs printed %q: %v", out, err)
		}
		if r.Error != "" {
			t.Fatalf("browser: %s\npages %v\nconsole %v", r.Error, r.Pages, r.Console)
		}
		return r
	}

	p := newPKCE()
	r := browse("alice", "approve", p)
	if !strings.Contains(r.Consent.Heading, "Test Client") || !strings.Contains(r.Consent.Heading, "alice@example.com") {
		t.Errorf("consent heading %q, want the client's name and the user", r.Consent.Heading)
	}
	if !slices.Equal(r.Consent.Tools, []string{"get_build", "list_builds"}) {
		t.Errorf("consent tools %v", r.Consent.Tools)
	}
	if !strings.Contains(r.Consent.CSP, "frame-ancestors 'none'") || r.Consent.FrameOptions != "DENY" {
		t.Errorf("consent headers: CSP %q, X-Frame-Options %q", r.Consent.CSP, r.Consent.FrameOptions)
	}
	for _, line := range r.Console {
		if strings.Contains(line, "Content Security Policy") {
			t.Errorf("CSP violation in the browser: %s", line)
		}
	}
	got, err := url.Parse(r.Landed)
	if err != nil || got.Query().Get("code") == "" || got.Query().Get("state") != "st4te" {
		t.Fatalf("after Allow the browser went to %q (pages %v), want the redirect URI with a code", r.Landed, r.Pages)
	}
	if tk := e.exchange(t, clientID, got.Query().Get("code"), p); tk.status != http.StatusOK {
		t.Errorf("the browser's code: %+v", tk)
	}

	d := browse("bob", "deny", newPKCE())
	got, err = url.Parse(d.Landed)
	if err != nil || got.Query().Get("error") != "access_denied" || got.Query().Get("code") != "" {
		t.Errorf("after Deny the browser went to %q, want access_denied", d.Landed)
	}
}
