package authz_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/kitegate/kitegate/internal/authz"
	"github.com/kitegate/kitegate/internal/authz/authztest"
)

// The user kill switch: RevokeUser (by email, in any case) ends every
// refresh family of the person and no one else's; while the policy says
// they are disabled they cannot sign in or refresh.
func TestUserKillSwitch(t *testing.T) {
	var off atomic.Bool
	e := newEnv(t, func(c *authz.Config) {
		c.UserDisabled = func(_ context.Context, u authz.User) bool { return off.Load() && u.Subject == "alice" }
	})
	clientID := e.newClient(t)
	p1, p2, p3 := newPKCE(), newPKCE(), newPKCE()
	a1 := e.exchange(t, clientID, e.signIn(t, "alice", clientID, p1), p1)
	a2 := e.exchange(t, clientID, e.signIn(t, "alice", clientID, p2), p2)
	b := e.exchange(t, clientID, e.signIn(t, "bob", clientID, p3), p3)
	if a1.Refresh == "" || a2.Refresh == "" || b.Refresh == "" {
		t.Fatalf("sign-ins: %+v %+v %+v", a1, a2, b)
	}
	n, err := e.store.RevokeUser(context.Background(), "Alice@Example.com")
	if err != nil || n != 2 {
		t.Fatalf("RevokeUser: %d %v, want alice's 2 families", n, err)
	}
	for _, rt := range []string{a1.Refresh, a2.Refresh} {
		if got := e.refresh(t, clientID, rt); got.Error != "invalid_grant" {
			t.Errorf("alice's refresh after revocation: %+v", got)
		}
	}
	next := e.refresh(t, clientID, b.Refresh)
	if next.status != 200 {
		t.Errorf("bob's refresh: %+v, want it untouched", next)
	}

	off.Store(true)
	redirect := "http://127.0.0.1:43210/callback"
	got, err := authztest.NewBrowser("alice", redirect).Visit(e.authorizeURL(clientID, redirect, newPKCE(), nil))
	if err != nil || got.Query().Get("error") != "access_denied" || got.Query().Get("code") != "" {
		t.Errorf("sign-in of a disabled user: %v %v, want access_denied", got, err)
	}
	p4 := newPKCE()
	b2 := e.exchange(t, clientID, e.signIn(t, "bob", clientID, p4), p4)
	if b2.status != 200 {
		t.Errorf("bob's sign-in while alice is disabled: %+v", b2)
	}
}
