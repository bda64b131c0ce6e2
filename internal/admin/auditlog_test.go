package admin

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/audit/auditstream"
	"github.com/kitegate/kitegate/internal/dynamotest"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		end  bool
		want time.Time
		bad  bool
	}{
		{in: ""},
		{in: "24h", want: now.Add(-24 * time.Hour)},
		{in: "7d", want: now.AddDate(0, 0, -7)},
		{in: "2026-03-01", want: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2026-03-01", end: true, want: time.Date(2026, 3, 1, 23, 59, 59, 999999000, time.UTC)},
		{in: "2026-03-01T12:00:00+01:00", want: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)},
		{in: "last week", bad: true},
		{in: "-5h", bad: true},
		{in: "-2d", bad: true},
	} {
		got, err := ParseWhen(tc.in, now, tc.end)
		if (err != nil) != tc.bad || !got.Equal(tc.want) {
			t.Errorf("ParseWhen(%q, end=%t) = %v, %v; want %v (error %t)", tc.in, tc.end, got, err, tc.want, tc.bad)
		}
	}
}

func TestLogQueryText(t *testing.T) {
	q, err := LogQuery{User: `al"ice`, Tool: "list_builds", Limit: 5}.Text()
	if err != nil {
		t.Fatal(err)
	}
	want := "fields @timestamp, audit, user.sub, user.email, client.name, tool, decision, reason, outcome, latency_ms, buildkite_token_uuid, request_id, policy_version\n" +
		`| filter audit = "tool_call" and user.sub = "al\"ice" and tool = "list_builds"` + "\n| sort @timestamp desc\n| limit 5"
	if q != want {
		t.Errorf("query:\n%s\nwant:\n%s", q, want)
	}
	if q, _ := (LogQuery{Kind: "policy_change"}).Text(); !strings.Contains(q, `filter audit = "policy_change"`) || !strings.Contains(q, "changed_by") {
		t.Errorf("policy_change query:\n%s", q)
	}
	if _, err := (LogQuery{Kind: "everything"}).Text(); err == nil {
		t.Error("unknown kind accepted")
	}
}

// The audit log read back for a user within a time range (the by-user
// index), the per-day rollups the audit function keeps, and the Logs
// Insights query for a range.
func TestAuditRangeAndUsage(t *testing.T) {
	db := dynamotest.Client(t)
	tabs := dynamotest.NewTables(t, db)
	c := cli{t: t, ep: dynamotest.Endpoint(t), env: map[string]string{
		"KITEGATE_POLICY_TABLE": tabs.Policy, "KITEGATE_AUDIT_TABLE": tabs.Audit, "KITEGATE_ACTOR": "carol",
		"KITEGATE_AUDIT_LOG_GROUP": "/aws/lambda/kitegate-prod-audit",
	}}
	w, err := audit.NewDynamoDB(db, tabs.Audit, audit.DynamoDBOptions{Fallback: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	stream := dynamotest.NewStream(t, db, tabs.Audit)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for i, at := range []time.Time{today.AddDate(0, 0, -2).Add(time.Hour), today.AddDate(0, 0, -1).Add(time.Hour), today.Add(time.Minute), today.Add(2 * time.Minute)} {
		tool := "list_builds"
		if i == 3 {
			tool = "get_build"
		}
		e := audit.Event{ID: audit.NewID(), Time: at, User: audit.User{Subject: "alice"}, Tool: tool, Decision: audit.Allowed, Reason: "allowed", Outcome: audit.OutcomeOK, LatencyMS: 10}
		if err := w.Write(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	proc, err := auditstream.NewProcessor(db, auditstream.ProcessorOptions{Tables: auditstream.StreamTables{Audit: tabs.Audit, Policy: tabs.Policy}, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := proc.Handle(t.Context(), stream.NextEvent(t)); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("process: %v %v", err, resp)
	}

	out := c.must("audit", "-user", "alice", "-since", today.AddDate(0, 0, -1).Format("2006-01-02"), "-until", today.AddDate(0, 0, -1).Format("2006-01-02"))
	if strings.Count(out, "alice") != 1 {
		t.Errorf("audit -user alice for yesterday:\n%s", out)
	}
	if out := c.must("audit", "-tool", "list_builds", "-since", today.Format(time.RFC3339)); strings.Count(out, "alice") != 1 {
		t.Errorf("audit -tool list_builds since today:\n%s", out)
	}
	if _, err := c.run("audit", "-since", "24h"); err == nil || !strings.Contains(err.Error(), "audit-log") {
		t.Errorf("audit with a range alone: %v", err)
	}

	out = c.must("usage", "-user", "alice", "-days", "3")
	for _, want := range []string{
		today.AddDate(0, 0, -2).Format("2006-01-02") + "  1 ",
		today.AddDate(0, 0, -1).Format("2006-01-02") + "  1 ",
		today.Format("2006-01-02") + "  2 ",
		"outcome", "(user alice: 4 calls from " + today.AddDate(0, 0, -2).Format("2006-01-02"),
	} {
		if !strings.Contains(strings.ToLower(out), strings.ToLower(want)) {
			t.Errorf("usage -user alice -days 3 has no %q:\n%s", want, out)
		}
	}
	if out := c.must("usage", "-tool", "get_build", "-days", "1"); !strings.Contains(out, "(tool get_build: 1 calls") || !strings.Contains(out, "ok=1") {
		t.Errorf("usage -tool get_build:\n%s", out)
	}

	out = c.must("audit-log", "-since", "2026-03-01", "-until", "2026-03-02", "-user", "alice")
	for _, want := range []string{
		"log group /aws/lambda/kitegate-prod-audit, 2026-03-01T00:00:00Z to 2026-03-02T23:59:59Z",
		`user.sub = "alice"`,
		"aws logs start-query --log-group-name '/aws/lambda/kitegate-prod-audit' --start-time 1772323200 --end-time 1772495999",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("audit-log has no %q:\n%s", want, out)
		}
	}
}
