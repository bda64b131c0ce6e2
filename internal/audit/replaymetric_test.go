package audit

import (
	"bytes"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/metrics"
	"github.com/kitegate/kitegate/internal/metrics/metricstest"
)

// TestReplayIsCounted: an event that falls back to a replay line publishes
// AuditReplay (the alarm that pages), naming the event.
func TestReplayIsCounted(t *testing.T) {
	down := dynamodb.NewFromConfig(dynamotest.Config("http://127.0.0.1:1", nil)) // nothing listens on port 1
	var fallback, out bytes.Buffer
	w, err := NewDynamoDB(down, "kitegate-audit", DynamoDBOptions{
		Fallback: &fallback, Budget: time.Second, Backoff: time.Millisecond,
		Metrics: metrics.New(&out, "kitegate-test-McpFunction"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(t.Context(), sampleEvent("ev-lost")); err != nil {
		t.Fatal(err)
	}
	lines, err := metricstest.Parse(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].Values["AuditReplay"] != 1 || lines[0].Fields["audit_event_id"] != "ev-lost" {
		t.Errorf("metrics %q, want one AuditReplay line for ev-lost", out.String())
	}
	if fallback.Len() == 0 {
		t.Error("no replay line")
	}
}
