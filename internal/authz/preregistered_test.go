package authz_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/authz"
)

// A client an administrator declared signs in with its fixed id, without
// registering; an undeclared id is still refused.
func TestPreregisteredSignIn(t *testing.T) {
	e := newEnv(t)
	c, err := authz.Preregistered("claude-desktop", "Claude Desktop", []string{"http://127.0.0.1/callback"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddClient(context.Background(), c); err != authz.ErrExists {
		t.Errorf("adding it twice: %v, want ErrExists", err)
	}
	p := newPKCE()
	tk := e.exchange(t, "claude-desktop", e.signIn(t, "alice", "claude-desktop", p), p)
	if tk.status != http.StatusOK || tk.Refresh == "" {
		t.Fatalf("exchange: %+v", tk)
	}
	if status, caller, _ := e.call(t, tk.Access); status != http.StatusOK || caller.ClientID != "claude-desktop" || caller.ClientName != "Claude Desktop" {
		t.Errorf("call: %d %+v", status, caller)
	}
	if next := e.refresh(t, "claude-desktop", tk.Refresh); next.status != http.StatusOK {
		t.Errorf("refresh: %+v", next)
	}
	got, err := e.store.Client(context.Background(), "claude-desktop")
	if err != nil || got.Source != authz.SourcePreregistered || got.ExpiresAt != 0 || len(got.Users) != 1 {
		t.Errorf("registry entry %+v %v", got, err)
	}
	if status, body := e.authorizeStatus(t, "cursor"); status != http.StatusBadRequest || !strings.Contains(body, "unknown client") {
		t.Errorf("an undeclared id: %d %q", status, body)
	}
}

func TestPreregisteredRules(t *testing.T) {
	tests := []struct {
		name, id, client string
		redirects        []string
		want             string
	}{
		{"a URL as id", "https://example.com/c.json", "C", []string{"http://127.0.0.1/cb"}, "lowercase letters"},
		{"too short", "ab", "C", []string{"http://127.0.0.1/cb"}, "3 to 64"},
		{"no name", "claude", "", []string{"http://127.0.0.1/cb"}, "needs a name"},
		{"no redirect", "claude", "C", nil, "redirect_uris is required"},
		{"http off loopback", "claude", "C", []string{"http://example.com/cb"}, "loopback"},
		{"javascript", "claude", "C", []string{"javascript:alert(1)"}, "not a private-use scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := authz.Preregistered(tc.id, tc.client, tc.redirects, time.Now())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
	if _, err := authz.Preregistered("vscode.copilot", "VS Code", []string{"http://127.0.0.1/cb", "vscode://auth/cb", "https://vscode.dev/redirect"}, time.Now()); err != nil {
		t.Errorf("a valid client: %v", err)
	}
}

// make client-remove takes a pre-registered client out of the registry:
// its refresh tokens stop working at once, and stay dead when the id is
// added again (with new redirect URIs), while new sign-ins work. A client
// that registered itself is not removed (it is disabled instead).
func TestPreregisteredRemoved(t *testing.T) {
	var offset atomic.Int64
	e := newEnv(t, func(c *authz.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	ctx := context.Background()
	c, err := authz.Preregistered("claude-desktop", "Claude Desktop", []string{"http://127.0.0.1/callback"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	p := newPKCE()
	tk := e.exchange(t, "claude-desktop", e.signIn(t, "alice", "claude-desktop", p), p)
	if tk.status != http.StatusOK || tk.Refresh == "" {
		t.Fatalf("exchange: %+v", tk)
	}
	removed, err := e.store.RemoveClient(ctx, "claude-desktop")
	if err != nil || removed.Name != "Claude Desktop" {
		t.Fatalf("remove: %+v %v", removed, err)
	}
	if _, err := e.store.Client(ctx, "claude-desktop"); err != authz.ErrNotFound {
		t.Errorf("the registry after remove: %v, want ErrNotFound", err)
	}
	if got := e.refresh(t, "claude-desktop", tk.Refresh); got.status == http.StatusOK {
		t.Errorf("refresh after remove: %+v, want refused", got)
	}
	if _, err := e.store.RemoveClient(ctx, "claude-desktop"); err != authz.ErrNotFound {
		t.Errorf("removing it twice: %v, want ErrNotFound", err)
	}

	// Added again a minute later: the old refresh token stays dead, a new
	// sign-in works.
	offset.Store(int64(time.Minute))
	again, err := authz.Preregistered("claude-desktop", "Claude Desktop", []string{"http://127.0.0.1/callback", "http://localhost/callback"}, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddClient(ctx, again); err != nil {
		t.Fatal(err)
	}
	if got := e.refresh(t, "claude-desktop", tk.Refresh); got.status == http.StatusOK {
		t.Errorf("an old refresh token after the id was added again: %+v, want refused", got)
	}
	p2 := newPKCE()
	tk2 := e.exchange(t, "claude-desktop", e.signIn(t, "alice", "claude-desktop", p2), p2)
	if got := e.refresh(t, "claude-desktop", tk2.Refresh); got.status != http.StatusOK {
		t.Errorf("refresh of a sign-in after adding it again: %+v", got)
	}

	dynamic := e.newClient(t)
	if _, err := e.store.RemoveClient(ctx, dynamic); err != authz.ErrNotPreregistered {
		t.Errorf("removing a registered client: %v, want ErrNotPreregistered", err)
	}
	if _, err := e.store.Client(ctx, dynamic); err != nil {
		t.Errorf("a registered client after a refused remove: %v", err)
	}
}
