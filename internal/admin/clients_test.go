package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/audit/auditstream"
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

// make client-remove takes a pre-registered client out of the registry and
// marks its policy item removed (disabled: its access tokens stop working;
// audited as client_removed); make client-add may add the id again
// (audited as client_added); a registered client is not removed.
func TestClientRemove(t *testing.T) {
	db := dynamotest.Client(t)
	policyTable := dynamotest.NewTable(t, db, tables.Policy)
	authTable := dynamotest.NewTable(t, db, tables.Auth)
	reg := authz.NewStore(db, authTable)
	store := policystore.NewDynamoDB(db, policyTable)
	c := cli{t: t, ep: dynamotest.Endpoint(t), env: map[string]string{
		"KITEGATE_POLICY_TABLE": policyTable, "KITEGATE_AUTH_TABLE": authTable, "KITEGATE_ACTOR": "carol",
	}}
	c.must("client-add", "kite-cli", "-name", "Kite CLI", "-redirects", "http://127.0.0.1/callback")
	added := rawClientItem(t, db, policyTable, "kite-cli")
	out := c.must("client-remove", "kite-cli", "-note", "replaced")
	if !strings.Contains(out, "kite-cli (Kite CLI) is removed") {
		t.Errorf("client-remove said:\n%s", out)
	}
	if _, err := reg.Client(t.Context(), "kite-cli"); err != authz.ErrNotFound {
		t.Errorf("the registry after client-remove: %v, want ErrNotFound", err)
	}
	p, err := store.Load(t.Context())
	if pc := p.Clients["kite-cli"]; err != nil || !pc.Removed || !pc.Disabled || pc.ChangedBy != "carol" || pc.Note != "replaced" {
		t.Fatalf("policy after client-remove: %+v %v", pc, err)
	}
	snap, err := policy.NewSnapshot(p)
	if err != nil || !snap.ClientDisabled("kite-cli") {
		t.Errorf("a removed client's access tokens still pass the policy: %v", err)
	}
	old, new := added, rawClientItem(t, db, policyTable, "kite-cli")
	if ch := auditstream.DescribePolicyChange("MODIFY", tables.PolicyClientPrefix+"kite-cli", old, new); ch.Kind != auditstream.ChangeClientRemoved || ch.ChangedBy != "carol" {
		t.Errorf("the audit's reading of client-remove: %s by %s (%s)", ch.Kind, ch.ChangedBy, ch.Summary)
	}
	if out, err := c.run("client-remove", "kite-cli"); err == nil || !strings.Contains(err.Error(), "not found") && !strings.Contains(err.Error(), authz.ErrNotFound.Error()) {
		t.Errorf("removing it twice: %v\n%s", err, out)
	}

	// Added again, with another redirect URI: enabled, audited as added.
	c.must("client-add", "kite-cli", "-name", "Kite CLI", "-redirects", "http://127.0.0.1/callback http://localhost/callback")
	p2, _ := store.Load(t.Context())
	if pc := p2.Clients["kite-cli"]; pc.Disabled || pc.Removed {
		t.Errorf("policy after adding it again: %+v", pc)
	}
	if ch := auditstream.DescribePolicyChange("MODIFY", tables.PolicyClientPrefix+"kite-cli", new, rawClientItem(t, db, policyTable, "kite-cli")); ch.Kind != auditstream.ChangeClientAdded {
		t.Errorf("the audit's reading of adding it again: %s (%s)", ch.Kind, ch.Summary)
	}

	dynamic := authz.Client{ID: "dyn-abc", Name: "Cursor", RedirectURIs: []string{"http://127.0.0.1/cb"}, Source: authz.SourceDynamic, State: authz.ClientActive, Created: time.Now()}
	if err := reg.PutClient(t.Context(), dynamic); err != nil {
		t.Fatal(err)
	}
	if _, err := c.run("client-remove", "dyn-abc"); err == nil || !strings.Contains(err.Error(), "client-disable") {
		t.Errorf("removing a registered client: %v, want a pointer to client-disable", err)
	}
}

// rawClientItem is a policy CLIENT item as stored (what the stream carries).
func rawClientItem(t *testing.T, db *dynamodb.Client, table, id string) map[string]types.AttributeValue {
	t.Helper()
	out, err := db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true), Key: map[string]types.AttributeValue{
		tables.PolicyPK: &types.AttributeValueMemberS{Value: tables.PolicyPartition},
		tables.PolicySK: &types.AttributeValueMemberS{Value: tables.PolicyClientPrefix + id},
	}})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("policy item CLIENT#%s: %v", id, err)
	}
	return out.Item
}
