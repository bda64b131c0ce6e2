package authz_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
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

// A client unused for longer than ClientIdleClose is closed when it is
// next presented: refused, its refresh tokens revoked for good, and the
// close recorded in the policy as a client change (audited through the
// policy stream like client-disable); an administrator can open it again,
// and only new sign-ins work then.
func TestIdleClientClosed(t *testing.T) {
	var offset atomic.Int64
	db := dynamotest.Client(t)
	policyTable := dynamotest.NewTable(t, db, tables.Policy)
	policies := policystore.NewDynamoDB(db, policyTable)
	var closed atomic.Int32
	e := newEnv(t, func(c *authz.Config) {
		c.ClientIdleClose = time.Hour
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		c.ClientClosed = func(ctx context.Context, cl authz.Client) error {
			closed.Add(1)
			return policy.CloseClient(ctx, policies, cl.ID, cl.Name, time.Hour, c.Now())
		}
	})
	clientID := e.newClient(t)
	p := newPKCE()
	tk := e.exchange(t, clientID, e.signIn(t, "alice", clientID, p), p)
	next := e.refresh(t, clientID, tk.Refresh)
	if next.status != http.StatusOK {
		t.Fatalf("refresh while in use: %+v", next)
	}

	offset.Store(int64(2 * time.Hour))
	if got := e.refresh(t, clientID, next.Refresh); got.status != http.StatusUnauthorized || got.Error != "invalid_client" || !strings.Contains(got.Desc, "closed") {
		t.Errorf("refresh after two idle hours: %+v, want 401 invalid_client (closed)", got)
	}
	c, err := e.store.Client(context.Background(), clientID)
	if err != nil || c.State != authz.ClientClosed || c.TokensBefore == 0 {
		t.Fatalf("registry after the idle close: %+v %v", c, err)
	}
	if status, body := e.authorizeStatus(t, clientID); status != http.StatusBadRequest || !strings.Contains(body, "closed") {
		t.Errorf("authorize for a closed client: %d %q", status, body)
	}
	if n := closed.Load(); n != 1 {
		t.Errorf("the close was recorded %d times, want once", n)
	}
	p0, err := policies.Load(context.Background())
	if pc := p0.Clients[clientID]; err != nil || !pc.Closed || !pc.Disabled || pc.ChangedBy != policy.ClosedBy || p0.Version != 1 {
		t.Fatalf("policy after the idle close: version %d, %+v, %v", p0.Version, pc, err)
	}
	item, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(policyTable), Key: map[string]types.AttributeValue{
		tables.PolicyPK: &types.AttributeValueMemberS{Value: tables.PolicyPartition},
		tables.PolicySK: &types.AttributeValueMemberS{Value: tables.PolicyClientPrefix + clientID},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if ch := auditstream.DescribePolicyChange("INSERT", tables.PolicyClientPrefix+clientID, nil, item.Item); ch.Kind != auditstream.ChangeClientClosed || ch.ChangedBy != policy.ClosedBy {
		t.Errorf("the audit's reading of the close: %+v, want %s by %q", ch, auditstream.ChangeClientClosed, policy.ClosedBy)
	}

	// make client-enable opens it again: the old refresh token stays dead,
	// a new sign-in works.
	if _, err := e.store.SetClientState(context.Background(), clientID, authz.ClientActive); err != nil {
		t.Fatal(err)
	}
	if got := e.refresh(t, clientID, next.Refresh); got.Error != "invalid_grant" {
		t.Errorf("a refresh token from before the close: %+v, want invalid_grant", got)
	}
	p2 := newPKCE()
	tk2 := e.exchange(t, clientID, e.signIn(t, "alice", clientID, p2), p2)
	if got := e.refresh(t, clientID, tk2.Refresh); got.status != http.StatusOK {
		t.Errorf("refresh of a sign-in after reopening: %+v", got)
	}
}

// The software allow-list admits clients by software_id, client_name or
// the host of their metadata document; pre-registered clients always.
func TestAllowList(t *testing.T) {
	d := newDocServer(t)
	good := d.add("/client.json", goodDoc)
	e := newEnv(t, func(c *authz.Config) {
		c.ClientAllow = []string{"software_id:claude-code", "client_name:Cursor*"}
		c.ClientMetadata = d.fetcher(t)
	})
	tests := []struct {
		name, body string
		status     int
	}{
		{"software_id", `{"software_id":"claude-code","client_name":"x","redirect_uris":["http://127.0.0.1/cb"]}`, http.StatusCreated},
		{"client name pattern, any case", `{"client_name":"cursor 1.2","redirect_uris":["http://127.0.0.1/cb"]}`, http.StatusCreated},
		{"not listed", `{"client_name":"Rogue","software_id":"rogue","redirect_uris":["http://127.0.0.1/cb"]}`, http.StatusBadRequest},
		{"nothing to match", `{"redirect_uris":["http://127.0.0.1/cb"]}`, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := e.register(t, tc.body)
			if status != tc.status {
				t.Errorf("register: %d %v, want %d", status, out, tc.status)
			}
			if status == http.StatusBadRequest && !strings.Contains(out["error_description"].(string), "allow-list") {
				t.Errorf("refusal %v does not name the allow-list", out)
			}
		})
	}
	// The metadata client's software_id (example-agent) is not listed.
	if status, body := e.authorizeStatus(t, good); status != http.StatusBadRequest || !strings.Contains(body, "allow-list") {
		t.Errorf("authorize for an unlisted metadata client: %d %q", status, body)
	}
	c, _ := authz.Preregistered("internal-tool", "Internal tool", []string{"http://127.0.0.1/callback"}, time.Now())
	if err := e.store.AddClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if status, body := e.authorizeStatus(t, "internal-tool"); status == http.StatusBadRequest {
		t.Errorf("a pre-registered client refused by the allow-list: %q", body)
	}

	// By metadata host: documents from example.com are admitted, others
	// are refused before any fetch.
	hosts := newEnv(t, func(c *authz.Config) {
		c.ClientAllow = []string{"metadata_host:example.com"}
		c.ClientMetadata = d.fetcher(t)
	})
	if status, body := hosts.authorizeStatus(t, good); status == http.StatusBadRequest {
		t.Errorf("a metadata client from an allowed host refused: %q", body)
	}
	before := d.total.Load()
	if status, body := hosts.authorizeStatus(t, d.url("private.example.com", "/client.json")); status != http.StatusBadRequest || !strings.Contains(body, "allow-list") {
		t.Errorf("a metadata client from another host: %d %q", status, body)
	}
	if d.total.Load() != before {
		t.Error("a document from a host off the list was fetched")
	}
}
