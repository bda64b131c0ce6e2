package audit

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/tables"
)

func sampleEvent(id string) Event {
	remaining := 42
	return Event{
		ID: id, Time: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC), RequestID: "req-1",
		User:   User{Subject: "alice", Email: "alice@example.com", Groups: []string{"engineering"}},
		Client: Client{Name: "claude", Version: "1.0", ProtocolVersion: "2025-06-18"},
		Tool:   "list_builds", Arguments: json.RawMessage(`{"org_slug":"acme"}`),
		Decision: Allowed, Reason: "allowed", Profiles: []string{"everyone"}, PolicyVersion: 3,
		Outcome: OutcomeOK, BuildkiteCalls: 1, BuildkiteStatus: 200, RateLimitRemaining: &remaining, LatencyMS: 12.5,
		ServerVersion: "v1.4.0-3-gabc1234",
	}
}

func TestDynamoDBWriteIsIdempotentAndQueryable(t *testing.T) {
	ctx := t.Context()
	c := dynamotest.Client(t)
	table := dynamotest.NewTable(t, c, tables.Audit)
	var fallback bytes.Buffer
	// Near the real time: DynamoDB Local deletes items whose TTL has passed.
	now := time.Now().UTC().Truncate(time.Second)
	w, err := NewDynamoDB(c, table, DynamoDBOptions{Fallback: &fallback, Retention: 24 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEvent("ev-1")
	for range 2 { // the second write is a no-op, not a second item
		if err := w.Write(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if fallback.Len() != 0 {
		t.Errorf("fallback got %q", fallback.String())
	}
	out, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		IndexName:                 aws.String(tables.AuditByUser),
		KeyConditionExpression:    aws.String("#s = :s AND #t BETWEEN :from AND :to"),
		ExpressionAttributeNames:  map[string]string{"#s": tables.AuditSubject, "#t": tables.AuditTime},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: "alice"}, ":from": &types.AttributeValueMemberS{Value: "2026-03-01"}, ":to": &types.AttributeValueMemberS{Value: "2026-03-02"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 1 {
		t.Fatalf("by-user query: %d items, want 1", len(out.Items))
	}
	got, err := EventFromItem(out.Items[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, got); diff != "" {
		t.Errorf("stored event (-want +got):\n%s", diff)
	}
	if ttl := out.Items[0][tables.AuditTTL].(*types.AttributeValueMemberN).Value; ttl != strconv.FormatInt(now.Add(24*time.Hour).Unix(), 10) {
		t.Errorf("expires_at = %s, want now+24h", ttl)
	}
}

// With the table unreachable the event lands whole on the fallback as a
// replay line, Write reports success (the answer is not lost), and Replay
// later puts it into the table exactly once.
func TestDynamoDBFallbackAndReplay(t *testing.T) {
	ctx := t.Context()
	down := dynamodb.NewFromConfig(dynamotest.Config("http://127.0.0.1:1", nil)) // nothing listens on port 1
	var fallback bytes.Buffer
	w, err := NewDynamoDB(down, "kitegate-audit", DynamoDBOptions{Fallback: &fallback, Budget: time.Second, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEvent("ev-lost")
	if err := w.Write(ctx, e); err != nil {
		t.Fatalf("Write with the table down: %v, want nil (replay line written)", err)
	}
	line := fallback.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, `"audit_replay":true`) || !strings.Contains(line, `"id":"ev-lost"`) {
		t.Fatalf("fallback = %q, want one replay line with the event", line)
	}

	c := dynamotest.Client(t)
	table := dynamotest.NewTable(t, c, tables.Audit)
	live, err := NewDynamoDB(c, table, DynamoDBOptions{Fallback: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	// A log export: a timestamped replay line, an ordinary line, and the
	// same event wrapped in a "message" field.
	wrapped, _ := json.Marshal(map[string]string{"message": strings.TrimSpace(line)})
	input := "2026-03-01T12:00:00Z\t" + line + `{"level":"INFO","msg":"hello"}` + "\n" + string(wrapped) + "\n"
	st, err := live.Replay(ctx, strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if want := (ReplayStats{Lines: 3, Events: 2, Written: 1, Duplicate: 1}); st != want {
		t.Errorf("Replay = %+v, want %+v", st, want)
	}
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{tables.AuditID: &types.AttributeValueMemberS{Value: "ev-lost"}}})
	if err != nil || got.Item == nil {
		t.Fatalf("replayed item: %v %v", got, err)
	}
	ev, err := EventFromItem(got.Item)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, ev); diff != "" {
		t.Errorf("replayed event (-want +got):\n%s", diff)
	}
}
