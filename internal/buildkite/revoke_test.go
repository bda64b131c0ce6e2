package buildkite_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
)

func TestRevokeAccessToken(t *testing.T) {
	c, _ := simClient(t)
	ctx := context.Background()
	if err := c.RevokeAccessToken(ctx); err != nil {
		t.Fatalf("first revoke: %v", err)
	}
	// The token no longer works, and revoking it again answers 401.
	for name, call := range map[string]func() error{
		"AccessToken":       func() error { _, err := c.AccessToken(ctx); return err },
		"RevokeAccessToken": func() error { return c.RevokeAccessToken(ctx) },
	} {
		err := call()
		var e *buildkite.Error
		if !errors.As(err, &e) || e.Kind != buildkite.Unauthorized || e.Status != 401 {
			t.Errorf("%s after revoke = %v, want unauthorized (401)", name, err)
		}
		if err != nil && strings.Contains(err.Error(), buildkitetest.DefaultToken) {
			t.Errorf("%s error holds the token: %v", name, err)
		}
	}
}
