package auditstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/tables"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "functions", "audit", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logBuffer collects the processor's lines; failNext makes the next write fail.
type logBuffer struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	failNext int
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failNext > 0 {
		l.failNext--
		return 0, errors.New("log output unavailable")
	}
	return l.buf.Write(p)
}

// lines returns the lines written since the last call, decoded.
func (l *logBuffer) lines(t testing.TB) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(&l.buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, sc.Text())
		}
		out = append(out, m)
	}
	l.buf.Reset()
	return out
}

// byAudit returns the lines whose "audit" is kind.
func byAudit(lines []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, m := range lines {
		if m["audit"] == kind {
			out = append(out, m)
		}
	}
	return out
}

func batchLine(t testing.TB, lines []map[string]any) map[string]any {
	t.Helper()
	b := byAudit(lines, "batch")
	if len(b) != 1 {
		t.Fatalf("want one batch line, got %d in %v", len(b), lines)
	}
	return b[0]
}

func failures(resp events.DynamoDBEventResponse) []string {
	out := []string{}
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

type fixture struct {
	db     *dynamodb.Client
	tables dynamotest.Tables
	log    *logBuffer
	proc   *Processor
	writer *audit.DynamoDB
}

func newFixture(t *testing.T, client StreamAPI) *fixture {
	t.Helper()
	db := dynamotest.Client(t)
	f := &fixture{db: db, tables: dynamotest.NewTables(t, db), log: &logBuffer{}}
	if client == nil {
		client = db
	}
	var err error
	f.proc, err = NewProcessor(client, ProcessorOptions{Tables: StreamTables{Audit: f.tables.Audit, Policy: f.tables.Policy}, Out: f.log})
	if err != nil {
		t.Fatal(err)
	}
	f.writer, err = audit.NewDynamoDB(db, f.tables.Audit, audit.DynamoDBOptions{Fallback: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) write(t *testing.T, events ...audit.Event) {
	t.Helper()
	for _, e := range events {
		if err := f.writer.Write(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) usage(t *testing.T, by, key string, day time.Time) Usage {
	t.Helper()
	u, err := ReadUsage(t.Context(), f.db, f.tables.Audit, by, key, day, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(u) == 0 {
		return Usage{}
	}
	return u[0]
}

// scanOwnItems counts the processor's markers and rollups in the audit table.
func (f *fixture) scanOwnItems(t *testing.T) (markers, rollups int) {
	t.Helper()
	out, err := f.db.Scan(t.Context(), &dynamodb.ScanInput{TableName: aws.String(f.tables.Audit), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range out.Items {
		switch id := str(it, tables.AuditID); {
		case strings.HasPrefix(id, SeenPrefix):
			markers++
		case strings.HasPrefix(id, UsagePrefix):
			rollups++
		}
	}
	return markers, rollups
}

// A tool call is written by the real writer, read back from the real
// stream, logged once and counted once, however often it is delivered.
func TestStreamToolCalls(t *testing.T) {
	f := newFixture(t, nil)
	stream := dynamotest.NewStream(t, f.db, f.tables.Audit)
	day := time.Now().UTC().Truncate(time.Hour)

	ev := func(id, sub, tool, decision, outcome string, latency float64) audit.Event {
		e := callEvent(id, sub, tool)
		e.Time = day.Add(time.Duration(len(id)) * time.Minute)
		e.Decision, e.Outcome, e.LatencyMS = decision, outcome, latency
		if decision == audit.Denied {
			e.Reason, e.BuildkiteCalls, e.BuildkiteStatus, e.RateLimitRemaining, e.TokenUUID = "tool_disabled", 0, 0, nil, ""
		}
		return e
	}
	calls := []audit.Event{
		ev("a1", "alice", "list_builds", audit.Allowed, audit.OutcomeOK, 10),
		ev("a2", "alice", "list_builds", audit.Allowed, audit.OutcomeOK, 20),
		ev("a3", "alice", "create_build", audit.Denied, audit.OutcomeDenied, 0.5),
		ev("b1", "bob", "list_builds", audit.Allowed, audit.OutcomeOK, 30),
		ev("b2", "bob", "get_build", audit.Allowed, audit.OutcomeToolError, 40),
	}
	f.write(t, calls...)
	batch := stream.NextEvent(t)
	if len(batch.Records) != len(calls) {
		t.Fatalf("stream has %d records, want %d", len(batch.Records), len(calls))
	}
	if r := batch.Records[0]; r.EventName != "INSERT" || r.EventID == "" || r.Change.SequenceNumber == "" || r.Change.StreamViewType != "NEW_IMAGE" {
		t.Fatalf("stream record: %+v", r)
	}

	resp, err := f.proc.Handle(t.Context(), batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("first delivery: %v, failures %v", err, failures(resp))
	}
	lines := f.log.lines(t)
	got := byAudit(lines, "tool_call")
	if len(got) != len(calls) {
		t.Fatalf("%d tool_call lines, want %d:\n%v", len(got), len(calls), lines)
	}
	first := got[0]
	want := map[string]any{
		"level": "INFO", "msg": "tool call", "audit": "tool_call", "stream_event_id": batch.Records[0].EventID,
		"id": "a1", "time": calls[0].Time.Format(time.RFC3339Nano), "request_id": "req-a1",
		"user":   map[string]any{"sub": "alice", "email": "alice@example.com", "groups": []any{"eng"}},
		"client": map[string]any{"name": "claude-code", "version": "2.1.0", "id": "client-1", "protocol_version": "2025-06-18"},
		"tool":   "list_builds", "arguments": map[string]any{"org": "acme"},
		"decision": "allowed", "reason": "allowed", "profiles": []any{"readers"}, "policy_version": 7.0,
		"outcome": "ok", "buildkite_calls": 1.0, "buildkite_status": 200.0, "buildkite_rate_limit_remaining": 42.0,
		"buildkite_token_uuid": "3f1c0000-0000-4000-8000-000000000001", "latency_ms": 10.0,
	}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("first line (-want +got):\n%s", diff)
	}
	if b := batchLine(t, lines); b["logged"] != 5.0 || b["records"] != 5.0 {
		t.Errorf("batch line %v", b)
	}

	dayStart := truncDay(day)
	wantAlice := Usage{By: ByUser, Key: "alice", Day: dayStart.Format(DayLayout), Calls: 3, Allowed: 2, Denied: 1,
		Outcomes: map[string]int64{"ok": 2, "denied": 1}, LatencyMSTotal: 30.5, BuildkiteCalls: 2, Email: "alice@example.com"}
	wantListBuilds := Usage{By: ByTool, Key: "list_builds", Day: dayStart.Format(DayLayout), Calls: 3, Allowed: 3,
		Outcomes: map[string]int64{"ok": 3}, LatencyMSTotal: 60, BuildkiteCalls: 3}
	wantBob := Usage{By: ByUser, Key: "bob", Day: dayStart.Format(DayLayout), Calls: 2, Allowed: 2,
		Outcomes: map[string]int64{"ok": 1, "tool_error": 1}, LatencyMSTotal: 70, BuildkiteCalls: 2, Email: "bob@example.com"}
	check := func(when string) {
		t.Helper()
		for _, w := range []Usage{wantAlice, wantListBuilds, wantBob} {
			if diff := cmp.Diff(w, f.usage(t, w.By, w.Key, day)); diff != "" {
				t.Errorf("%s: usage %s %s (-want +got):\n%s", when, w.By, w.Key, diff)
			}
		}
	}
	check("after the first delivery")
	markers, rollups := f.scanOwnItems(t)
	if markers != 5 || rollups != 5 {
		t.Errorf("own items: %d markers, %d rollups; want 5 and 5 (2 users + 3 tools)", markers, rollups)
	}

	// The same batch again, as after a retry: nothing changes, no line.
	resp, err = f.proc.Handle(t.Context(), batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("second delivery: %v, failures %v", err, failures(resp))
	}
	lines = f.log.lines(t)
	if n := len(byAudit(lines, "tool_call")); n != 0 {
		t.Errorf("second delivery wrote %d tool_call lines", n)
	}
	if b := batchLine(t, lines); b["duplicate"] != 5.0 {
		t.Errorf("second delivery batch line %v", b)
	}
	check("after the second delivery")

	// The processor's own writes are on the stream too: all ignored,
	// and they write nothing.
	own := stream.NextEvent(t)
	if len(own.Records) == 0 {
		t.Fatal("the processor's markers and rollups are not on the stream")
	}
	resp, err = f.proc.Handle(t.Context(), own)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("own records: %v, failures %v", err, failures(resp))
	}
	if b := batchLine(t, f.log.lines(t)); b["ignored"] != float64(len(own.Records)) {
		t.Errorf("own records: batch line %v, want %d ignored", b, len(own.Records))
	}
	if next := stream.NextEvent(t); len(next.Records) != 0 {
		t.Errorf("ignoring own records wrote %d stream records", len(next.Records))
	}
	check("after the own records")
}

// An attempt that counted a call but could not write its line (the
// invocation died in between) is finished by the redelivery: the line is
// written then, and the call is still counted once.
func TestStreamLineLostAfterCount(t *testing.T) {
	f := newFixture(t, nil)
	stream := dynamotest.NewStream(t, f.db, f.tables.Audit)
	e := callEvent("c1", "carol", "get_build")
	e.Time = time.Now().UTC()
	f.write(t, e)
	batch := stream.NextEvent(t)

	f.log.failNext = 1
	resp, err := f.proc.Handle(t.Context(), batch)
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != batch.Records[0].Change.SequenceNumber {
		t.Fatalf("failed line: %v, failures %v; want the record reported", err, failures(resp))
	}
	if n := len(byAudit(f.log.lines(t), "tool_call")); n != 0 {
		t.Fatalf("%d lines written while the output failed", n)
	}
	if u := f.usage(t, ByUser, "carol", e.Time); u.Calls != 1 {
		t.Fatalf("counted %d, want 1 (the claim committed)", u.Calls)
	}

	resp, err = f.proc.Handle(t.Context(), batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %v, failures %v", err, failures(resp))
	}
	lines := byAudit(f.log.lines(t), "tool_call")
	if len(lines) != 1 || lines[0]["id"] != "c1" {
		t.Fatalf("redelivery lines %v, want the one line", lines)
	}
	if u := f.usage(t, ByUser, "carol", e.Time); u.Calls != 1 {
		t.Errorf("counted %d after the redelivery, want 1", u.Calls)
	}
	resp, _ = f.proc.Handle(t.Context(), batch)
	if n := len(byAudit(f.log.lines(t), "tool_call")); n != 0 || len(resp.BatchItemFailures) != 0 {
		t.Errorf("third delivery: %d lines, failures %v", n, failures(resp))
	}
}

// A poison record in the middle of a real batch: the others are logged
// and counted, exactly the poison record is reported; Lambda's retry from
// its sequence number changes nothing for the records after it.
func TestStreamPoisonInTheMiddle(t *testing.T) {
	f := newFixture(t, nil)
	stream := dynamotest.NewStream(t, f.db, f.tables.Audit)
	now := time.Now().UTC()
	mk := func(id string) audit.Event { e := callEvent(id, "dana", "list_builds"); e.Time = now; return e }
	f.write(t, mk("p1"), mk("p2"))
	// Written by hand, past the writer: its time is not a time.
	_, err := f.db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(f.tables.Audit), Item: map[string]types.AttributeValue{
		"id": s("poison"), "time": s("yesterday"), "sub": s("dana"), "tool": s("list_builds"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, mk("p3"), mk("p4"))
	batch := stream.NextEvent(t)
	if len(batch.Records) != 5 {
		t.Fatalf("%d records, want 5", len(batch.Records))
	}
	poisonSeq := batch.Records[2].Change.SequenceNumber

	resp, err := f.proc.Handle(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{poisonSeq}, failures(resp)); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	lines := f.log.lines(t)
	if n := len(byAudit(lines, "tool_call")); n != 4 {
		t.Errorf("%d tool_call lines, want 4", n)
	}
	p := byAudit(lines, "poison")
	if len(p) != 1 || p[0]["audit_poison"] != true || p[0]["level"] != "ERROR" || p[0]["sequence_number"] != poisonSeq ||
		!strings.Contains(p[0]["err"].(string), "time") || p[0]["record"] == nil {
		t.Errorf("poison line %v", p)
	}
	if u := f.usage(t, ByUser, "dana", now); u.Calls != 4 {
		t.Errorf("counted %d, want 4", u.Calls)
	}

	// Lambda resumes from the lowest reported sequence number: the poison
	// record and everything after it come again.
	retry := events.DynamoDBEvent{Records: batch.Records[2:]}
	resp, err = f.proc.Handle(t.Context(), retry)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{poisonSeq}, failures(resp)); diff != "" {
		t.Errorf("retry failures (-want +got):\n%s", diff)
	}
	lines = f.log.lines(t)
	if n := len(byAudit(lines, "tool_call")); n != 0 {
		t.Errorf("retry wrote %d tool_call lines", n)
	}
	if b := batchLine(t, lines); b["duplicate"] != 2.0 || b["poison"] != 1.0 {
		t.Errorf("retry batch line %v", b)
	}
	if u := f.usage(t, ByUser, "dana", now); u.Calls != 4 {
		t.Errorf("counted %d after the retry, want 4", u.Calls)
	}
}

// failingClient fails the transaction of chosen records once, as a
// throttled or unreachable table would.
type failingClient struct {
	*dynamodb.Client
	mu   sync.Mutex
	fail map[string]bool // marker ids whose next transaction fails
}

func (c *failingClient) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	id := str(in.TransactItems[0].Put.Item, tables.AuditID)
	c.mu.Lock()
	fail := c.fail[id]
	delete(c.fail, id)
	c.mu.Unlock()
	if fail {
		return nil, fmt.Errorf("simulated: %w", &types.ProvisionedThroughputExceededException{Message: aws.String("throttled")})
	}
	return c.Client.TransactWriteItems(ctx, in, opts...)
}

var _ StreamAPI = (*failingClient)(nil)

// Failures are reported lowest sequence number first, compared as
// numbers, whatever order the batch holds them in; every failed record is
// reported, and the rest are processed.
func TestStreamReportsFailuresLowestFirst(t *testing.T) {
	db := dynamotest.Client(t)
	fc := &failingClient{Client: db, fail: map[string]bool{}}
	f := newFixture(t, fc)
	now := time.Now().UTC()
	arn := strings.Replace(testAuditARN, "kitegate-dev-audit", f.tables.Audit, 1)
	rec := func(id, eventID, seq string) events.DynamoDBEventRecord {
		e := callEvent(id, "erin", "get_build")
		e.Time = now
		r := toolCallRecord(t, e, eventID, seq)
		r.EventSourceArn = arn
		return r
	}
	poison := rec("x", "ev-poison", "9")
	poison.Change.NewImage["time"] = events.NewNumberAttribute("9")
	fc.fail[seenID("ev-throttled")] = true
	batch := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		rec("e1", "ev-1", "8"),
		rec("e2", "ev-throttled", "100"),
		poison,
		rec("e3", "ev-3", "1000"),
	}}
	resp, err := f.proc.Handle(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"9", "100"}, failures(resp)); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	lines := f.log.lines(t)
	if n := len(byAudit(lines, "tool_call")); n != 2 {
		t.Errorf("%d tool_call lines, want 2", n)
	}
	if r := byAudit(lines, "record_failed"); len(r) != 1 || r[0]["stream_event_id"] != "ev-throttled" {
		t.Errorf("record_failed lines %v", r)
	}
	// The retry from sequence number 9: the throttled record goes through now.
	resp, _ = f.proc.Handle(t.Context(), events.DynamoDBEvent{Records: batch.Records[1:]})
	if diff := cmp.Diff([]string{"9"}, failures(resp)); diff != "" {
		t.Errorf("retry failures (-want +got):\n%s", diff)
	}
	if u := f.usage(t, ByUser, "erin", now); u.Calls != 3 {
		t.Errorf("counted %d, want 3", u.Calls)
	}
}

// Near the invocation's deadline nothing new is started: every record is
// reported, so that a timeout never fails the batch as a whole.
func TestStreamStopsBeforeTheDeadline(t *testing.T) {
	p, err := NewProcessor(nil, ProcessorOptions{Tables: testTables, Out: io.Discard, Margin: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	batch := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		toolCallRecord(t, callEvent("a", "u", "t"), "ev-a", "20"),
		toolCallRecord(t, callEvent("b", "u", "t"), "ev-b", "3"),
	}}
	resp, err := p.Handle(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"3", "20"}, failures(resp)); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	// A failed record without a sequence number cannot be reported: the
	// whole batch fails instead.
	batch.Records[0].Change.SequenceNumber = ""
	if _, err := p.Handle(ctx, batch); err == nil {
		t.Error("a failed record without a sequence number did not fail the batch")
	}
}

// Policy changes made by kitegate (policystore.DynamoDB.Apply) and by hand (raw
// UpdateItem and DeleteItem, as the console does) come off the policy
// table's stream as audit events with a diff, a kind and who made them.
func TestStreamPolicyChanges(t *testing.T) {
	f := newFixture(t, nil)
	stream := dynamotest.NewStream(t, f.db, f.tables.Policy)
	store := policystore.NewDynamoDB(f.db, f.tables.Policy)
	ctx := t.Context()
	p := policy.Policy{
		Tools: map[string]policy.Tool{
			"list_builds":  {Name: "list_builds", Class: policy.ClassRead, State: policy.StateApproved, Scopes: []string{"read_builds"}},
			"create_build": {Name: "create_build", Class: policy.ClassWrite, State: policy.StatePendingReview, Scopes: []string{"write_builds"}},
		},
		Toolsets: map[string]policy.Toolset{"ops": {Name: "ops", Tools: []string{"create_build"}}},
		Profiles: map[string]policy.Profile{"oncall": {Name: "oncall", Toolsets: []string{"read-only", "ops"}, Groups: []string{"sre"}}},
	}
	stored, err := store.Apply(ctx, p, "carol")
	if err != nil {
		t.Fatal(err)
	}
	handle := func(ev events.DynamoDBEvent) []map[string]any {
		t.Helper()
		resp, err := f.proc.Handle(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("handle: %v, failures %v", err, failures(resp))
		}
		return byAudit(f.log.lines(t), "policy_change")
	}
	bySK := func(lines []map[string]any) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, l := range lines {
			out[l["item"].(string)] = l
		}
		return out
	}

	seed := stream.NextEvent(t)
	got := bySK(handle(seed))
	wantKinds := map[string]string{
		"VERSION": ChangeVersionBumped, "SETTINGS": ChangeSettingsChanged, "TOOL#list_builds": ChangeToolApproved,
		"TOOL#create_build": ChangeToolPending, "TOOLSET#ops": ChangeToolsetCreated, "PROFILE#oncall": ChangeProfileBound,
	}
	for sk, kind := range wantKinds {
		l, ok := got[sk]
		if !ok {
			t.Errorf("no policy_change line for %s", sk)
			continue
		}
		if l["kind"] != kind || l["changed_by"] != "carol" || l["operation"] != "INSERT" {
			t.Errorf("%s: kind %v by %v op %v; want %s by carol, INSERT", sk, l["kind"], l["changed_by"], l["operation"], kind)
		}
	}
	if len(got) != len(wantKinds) {
		t.Errorf("%d policy_change lines, want %d", len(got), len(wantKinds))
	}

	// An approval through kitegate: attributed to its actor.
	// As make approve does: the loaded tool, its state and note changed.
	tool := stored.Tools["create_build"]
	tool.State, tool.Note = policy.StateApproved, "reviewed"
	stored.Tools["create_build"] = tool
	if _, err := store.Apply(ctx, stored, "dave"); err != nil {
		t.Fatal(err)
	}
	got = bySK(handle(stream.NextEvent(t)))
	if l := got["TOOL#create_build"]; l == nil || l["kind"] != ChangeToolApproved || l["changed_by"] != "dave" || l["msg"] != "tool create_build approved by dave" {
		t.Errorf("approval line %v", l)
	} else if diff := cmp.Diff([]any{"note: (none) → reviewed", "state: pending_review → approved"}, l["diff"]); diff != "" {
		t.Errorf("approval diff (-want +got):\n%s", diff)
	}
	if l := got["VERSION"]; l == nil || l["kind"] != ChangeVersionBumped || l["changed_by"] != "dave" {
		t.Errorf("version line %v", l)
	}

	// By hand, as in the console: a tool disabled without touching its
	// stamps, a group added to a profile, the server kill switch with a
	// name, a toolset deleted.
	key := func(sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": s("POLICY"), "sk": s(sk)}
	}
	_, err = f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(f.tables.Policy), Key: key("TOOL#list_builds"),
		UpdateExpression: aws.String("SET #s = :v"), ExpressionAttributeNames: map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("disabled")}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(f.tables.Policy), Key: key("PROFILE#oncall"),
		UpdateExpression: aws.String("SET #g = list_append(#g, :g)"), ExpressionAttributeNames: map[string]string{"#g": "groups"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":g": l("contractors")}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(f.tables.Policy), Key: key("SETTINGS"),
		UpdateExpression:          aws.String("SET server_disabled = :t, disabled_reason = :r, changed_by = :by, changed_at = :at"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": b(true), ":r": s("incident 42"), ":by": s("erin"), ":at": s(time.Now().UTC().Format(time.RFC3339))}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(f.tables.Policy), Key: key("TOOLSET#ops")}); err != nil {
		t.Fatal(err)
	}
	hand := stream.NextEvent(t)
	lines := handle(hand)
	got = bySK(lines)
	for _, tc := range []struct {
		sk, kind, by string
		diff         []any
	}{
		{"TOOL#list_builds", ChangeToolDisabled, UnknownActor, []any{"state: approved → disabled"}},
		{"PROFILE#oncall", ChangeProfileBound, UnknownActor, []any{"groups: [sre] → [sre, contractors] (+contractors)"}},
		{"SETTINGS", ChangeKillSwitch, "erin", []any{"disabled_reason: (none) → incident 42", "server_disabled: false → true"}},
		{"TOOLSET#ops", ChangeToolsetDeleted, unknownActorDeleted, []any{"tools: [create_build] → (none) (-create_build)"}},
	} {
		l := got[tc.sk]
		if l == nil {
			t.Errorf("no line for %s", tc.sk)
			continue
		}
		if l["kind"] != tc.kind || l["changed_by"] != tc.by {
			t.Errorf("%s: kind %v by %v; want %s by %s", tc.sk, l["kind"], l["changed_by"], tc.kind, tc.by)
		}
		if diff := cmp.Diff(tc.diff, l["diff"]); diff != "" {
			t.Errorf("%s diff (-want +got):\n%s", tc.sk, diff)
		}
	}
	if l := got["TOOL#list_builds"]; l != nil {
		if l["level"] != "WARN" || l["old"].(map[string]any)["state"] != "approved" || l["new"].(map[string]any)["state"] != "disabled" {
			t.Errorf("hand edit line %v", l)
		}
	}
	if len(lines) != 4 {
		t.Errorf("%d lines for 4 hand edits", len(lines))
	}

	// Delivered again: no line.
	if again := handle(hand); len(again) != 0 {
		t.Errorf("redelivery wrote %d policy_change lines", len(again))
	}
	// Everything the processor wrote went to the audit table, never to the policy table.
	if next := stream.NextEvent(t); len(next.Records) != 0 {
		t.Errorf("processing wrote %d records to the policy table", len(next.Records))
	}
}

func TestReadUsageRange(t *testing.T) {
	f := newFixture(t, nil)
	stream := dynamotest.NewStream(t, f.db, f.tables.Audit)
	today := truncDay(time.Now())
	var calls []audit.Event
	for i, d := range []int{0, 0, 1, 3} { // days ago
		e := callEvent(fmt.Sprintf("r%d", i), "frank", "list_builds")
		e.Time = today.AddDate(0, 0, -d).Add(time.Hour)
		calls = append(calls, e)
	}
	f.write(t, calls...)
	if resp, err := f.proc.Handle(t.Context(), stream.NextEvent(t)); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatal(err, failures(resp))
	}
	got, err := ReadUsage(t.Context(), f.db, f.tables.Audit, ByTool, "list_builds", today.AddDate(0, 0, -6), today)
	if err != nil {
		t.Fatal(err)
	}
	var days []string
	var total int64
	for _, u := range got {
		days = append(days, fmt.Sprintf("%s=%d", u.Day, u.Calls))
		total += u.Calls
	}
	want := []string{
		today.AddDate(0, 0, -3).Format(DayLayout) + "=1",
		today.AddDate(0, 0, -1).Format(DayLayout) + "=1",
		today.Format(DayLayout) + "=2",
	}
	if diff := cmp.Diff(want, days); diff != "" || total != 4 {
		t.Errorf("days (-want +got):\n%s", diff)
	}
	if _, err := ReadUsage(t.Context(), f.db, f.tables.Audit, "org", "x", today, today); err == nil {
		t.Error("unknown dimension accepted")
	}
	if _, err := ReadUsage(t.Context(), f.db, f.tables.Audit, ByUser, "x", today, today.AddDate(0, 0, -1)); err == nil {
		t.Error("reversed range accepted")
	}
}
