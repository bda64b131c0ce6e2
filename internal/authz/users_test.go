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

// The IdP's email keeps the case the person was given it in, but the user
// kill switch writes and looks up emails in lower case (make user-disable
// lowercases what the operator typed): RevokeUser must still find the
// families of Carol@Example.com when given carol@example.com, or they
// would come back to life at make user-enable (docs/signin.md: revoked
// refresh tokens stay revoked).
func TestSecurityRevokeUserFindsAMixedCaseEmail(t *testing.T) {
	t.Setenv("IDP_USERS", `{"carol":{"email":"Carol@Example.com","email_verified":true,"groups":[]},"bob":{"email":"bob@example.com","email_verified":true,"groups":[]}}`)
	e := newEnv(t)
	clientID := e.newClient(t)
	p1, p2 := newPKCE(), newPKCE()
	c := e.exchange(t, clientID, e.signIn(t, "carol", clientID, p1), p1)
	b := e.exchange(t, clientID, e.signIn(t, "bob", clientID, p2), p2)
	if c.Refresh == "" || b.Refresh == "" {
		t.Fatalf("sign-ins: %+v %+v", c, b)
	}
	n, err := e.store.RevokeUser(context.Background(), "carol@example.com")
	if err != nil || n != 1 {
		t.Fatalf("RevokeUser(carol@example.com): %d %v, want carol's 1 family (her IdP email is Carol@Example.com)", n, err)
	}
	if got := e.refresh(t, clientID, c.Refresh); got.Error != "invalid_grant" {
		t.Errorf("carol's refresh after revocation: %+v", got)
	}
	if got := e.refresh(t, clientID, b.Refresh); got.status != 200 {
		t.Errorf("bob's refresh: %+v, want it untouched", got)
	}
}
