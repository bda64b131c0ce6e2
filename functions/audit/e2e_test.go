package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/audit/auditstream"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/lambdatest"
)

// The bootstrap and the Lambda emulator are built once for this test binary.
func TestMain(m *testing.M) { os.Exit(lambdatest.Main(m)) }

const pkg = "github.com/kitegate/kitegate/functions/audit"

// TestLambdaAuditBatch runs the built bootstrap under the Lambda emulator
// on a batch read from DynamoDB Local's stream with a poison record in the
// middle: the response names exactly that record, the others are logged
// and counted, and the same batch again changes nothing.
func TestLambdaAuditBatch(t *testing.T) {
	db := dynamotest.Client(t)
	tabs := dynamotest.NewTables(t, db)
	stream := dynamotest.NewStream(t, db, tabs.Audit)
	w, err := audit.NewDynamoDB(db, tabs.Audit, audit.DynamoDBOptions{Fallback: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	write := func(id string) {
		e := audit.Event{ID: id, Time: now, User: audit.User{Subject: "grace"}, Tool: "list_builds", Decision: audit.Allowed, Reason: "allowed", Outcome: audit.OutcomeOK, LatencyMS: 5}
		if err := w.Write(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	write("l1")
	_, err = db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(tabs.Audit), Item: map[string]types.AttributeValue{
		"id": &types.AttributeValueMemberS{Value: "poison"}, "time": &types.AttributeValueMemberS{Value: "not a time"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	write("l2")
	batch := stream.NextEvent(t)
	if len(batch.Records) != 3 {
		t.Fatalf("%d records, want 3", len(batch.Records))
	}
	// Find the poison record by its key: the stream's order is the write
	// order, but the test should not depend on where it lands.
	poisonSeq := ""
	for _, r := range batch.Records {
		if k, ok := r.Change.Keys["id"]; ok && k.String() == "poison" {
			poisonSeq = r.Change.SequenceNumber
		}
	}
	if poisonSeq == "" {
		t.Fatalf("no poison record in the batch: %+v", batch.Records)
	}
	payload, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}

	emu := lambdatest.Start(t, lambdatest.Bootstrap(t, pkg, runtime.GOARCH), lambdatest.Options{Timeout: 30 * time.Second, Env: map[string]string{
		"KITEGATE_AUDIT_TABLE":      tabs.Audit,
		"KITEGATE_POLICY_TABLE":     tabs.Policy,
		"AWS_ENDPOINT_URL_DYNAMODB": dynamotest.Endpoint(t),
		"AWS_REGION":                "us-east-1",
		"AWS_ACCESS_KEY_ID":         "local",
		"AWS_SECRET_ACCESS_KEY":     "local",
		"AWS_EC2_METADATA_DISABLED": "true",
	}})
	for delivery := 1; delivery <= 2; delivery++ {
		status, body, err := emu.Invoke(t.Context(), payload)
		if err != nil || status != http.StatusOK {
			t.Fatalf("delivery %d: %d %s %v\n%s", delivery, status, body, err, emu.Logs())
		}
		var resp events.DynamoDBEventResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("delivery %d: response %s: %v", delivery, body, err)
		}
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != poisonSeq {
			t.Errorf("delivery %d: failures %+v, want the poison record's %s", delivery, resp.BatchItemFailures, poisonSeq)
		}
	}
	// Both deliveries' output reaches the logs through the emulator's
	// pipes; wait (boundedly) for the second delivery's poison line.
	logs, _ := emu.WaitLogs(10*time.Second, `"audit_poison":true`)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs, `"audit_poison":true`) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		logs = emu.Logs()
	}
	if n := strings.Count(logs, `"audit":"tool_call"`); n != 2 {
		t.Errorf("%d tool_call lines over two deliveries, want 2:\n%s", n, logs)
	}
	if n := strings.Count(logs, `"audit_poison":true`); n != 2 {
		t.Errorf("%d poison lines over two deliveries, want 2", n)
	}
	u, err := auditstream.ReadUsage(t.Context(), db, tabs.Audit, auditstream.ByUser, "grace", now, now)
	if err != nil || len(u) != 1 || u[0].Calls != 2 {
		t.Errorf("usage %+v, %v; want 2 calls", u, err)
	}
}
