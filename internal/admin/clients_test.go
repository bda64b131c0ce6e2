package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/authz"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/tables"
)

// make clients shows a client unused for longer than
// KITEGATE_CLIENT_IDLE_CLOSE as idle (the authorization server closes it
// when it is next presented), one closed by the authorization server as
// closed, and a recent one as active.
func TestListClientsIdleAndClosed(t *testing.T) {
	db := dynamotest.Client(t)
	policyTable := dynamotest.NewTable(t, db, tables.Policy)
	authTable := dynamotest.NewTable(t, db, tables.Auth)
	reg := authz.NewStore(db, authTable)
	now := time.Now()
	for id, created := range map[string]time.Time{"stale-cli": now.Add(-48 * time.Hour), "fresh-cli": now.Add(-time.Minute), "gone-cli": now.Add(-72 * time.Hour)} {
		c, err := authz.Preregistered(id, id+" app", []string{"http://127.0.0.1/callback"}, created)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.AddClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	if err := policy.CloseClient(t.Context(), policystore.NewDynamoDB(db, policyTable), "gone-cli", "gone-cli app", 24*time.Hour, now); err != nil {
		t.Fatal(err)
	}
	c := cli{t: t, ep: dynamotest.Endpoint(t), env: map[string]string{
		"KITEGATE_POLICY_TABLE": policyTable, "KITEGATE_AUTH_TABLE": authTable, "KITEGATE_CLIENT_IDLE_CLOSE": "24h",
	}}
	out := c.must("clients")
	for id, want := range map[string]string{"stale-cli": clientIdle, "fresh-cli": authz.ClientActive, "gone-cli": authz.ClientClosed} {
		if !regexpLine(out, id, want) {
			t.Errorf("make clients: %s should be %q:\n%s", id, want, out)
		}
	}
	// Without an idle close (0) nothing is idle.
	c.env["KITEGATE_CLIENT_IDLE_CLOSE"] = "0"
	if out := c.must("clients"); strings.Contains(out, clientIdle) || !regexpLine(out, "stale-cli", authz.ClientActive) {
		t.Errorf("make clients with KITEGATE_CLIENT_IDLE_CLOSE=0:\n%s", out)
	}
	c.env["KITEGATE_CLIENT_IDLE_CLOSE"] = "soon"
	if _, err := c.run("clients"); err == nil || !strings.Contains(err.Error(), "KITEGATE_CLIENT_IDLE_CLOSE") {
		t.Errorf("a bad KITEGATE_CLIENT_IDLE_CLOSE: %v, want a clear error", err)
	}
}
