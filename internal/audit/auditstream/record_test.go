package auditstream

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/audit"
)

const (
	testAuditARN  = "arn:aws:dynamodb:us-east-1:123456789012:table/kitegate-dev-audit/stream/2026-03-01T00:00:00.000"
	testPolicyARN = "arn:aws:dynamodb:us-east-1:123456789012:table/kitegate-dev-policy/stream/2026-03-01T00:00:00.000"
)

var testTables = StreamTables{Audit: "kitegate-dev-audit", Policy: "kitegate-dev-policy"}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
func b(v bool) types.AttributeValue   { return &types.AttributeValueMemberBOOL{Value: v} }
func l(v ...string) types.AttributeValue {
	out := &types.AttributeValueMemberL{}
	for _, x := range v {
		out.Value = append(out.Value, s(x))
	}
	return out
}

type attrs = map[string]types.AttributeValue

func policyItem(sk string, a attrs) attrs {
	out := attrs{"pk": s("POLICY"), "sk": s(sk)}
	for k, v := range a {
		out[k] = v
	}
	return out
}

func TestDescribePolicyChange(t *testing.T) {
	const at1, at2 = "2026-03-01T12:00:00Z", "2026-03-02T09:30:00Z"
	for _, tc := range []struct {
		name     string
		op       string
		old, new attrs
		kind     string
		by       string
		diff     []string
		summary  string
	}{
		{
			name: "approve by a kitegate command",
			op:   "MODIFY",
			old:  policyItem("TOOL#create_build", attrs{"state": s("pending_review"), "class": s("write"), "changed_by": s("discovery"), "changed_at": s(at1)}),
			new:  policyItem("TOOL#create_build", attrs{"state": s("approved"), "class": s("write"), "note": s("reviewed"), "changed_by": s("carol"), "changed_at": s(at2)}),
			kind: ChangeToolApproved, by: "carol",
			diff:    []string{"note: (none) → reviewed", "state: pending_review → approved"},
			summary: "tool create_build approved by carol",
		},
		{
			name: "console edit keeps the old stamps",
			op:   "MODIFY",
			old:  policyItem("TOOL#create_build", attrs{"state": s("approved"), "changed_by": s("carol"), "changed_at": s(at1)}),
			new:  policyItem("TOOL#create_build", attrs{"state": s("disabled"), "changed_by": s("carol"), "changed_at": s(at1)}),
			kind: ChangeToolDisabled, by: UnknownActor,
			diff:    []string{"state: approved → disabled"},
			summary: "tool create_build disabled by an unknown actor (console or direct write)",
		},
		{
			name: "console edit of an unstamped item",
			op:   "MODIFY",
			old:  policyItem("TOOL#list_builds", attrs{"state": s("approved")}),
			new:  policyItem("TOOL#list_builds", attrs{"state": s("pending_review")}),
			kind: ChangeToolPending, by: UnknownActor,
			diff: []string{"state: approved → pending_review"},
		},
		{
			name: "new tool from discovery",
			op:   "INSERT",
			new:  policyItem("TOOL#new_tool", attrs{"state": s("pending_review"), "scopes": l("read_builds"), "changed_by": s("discovery"), "changed_at": s(at1)}),
			kind: ChangeToolPending, by: "discovery",
			diff: []string{"scopes: (none) → [read_builds] (+read_builds)", "state: (none) → pending_review"},
		},
		{
			name: "tool removed from the catalog",
			op:   "MODIFY",
			old:  policyItem("TOOL#gone", attrs{"state": s("approved"), "changed_by": s("carol"), "changed_at": s(at1)}),
			new:  policyItem("TOOL#gone", attrs{"state": s("removed"), "changed_by": s("discovery"), "changed_at": s(at2)}),
			kind: ChangeToolRemoved, by: "discovery", diff: []string{"state: approved → removed"},
		},
		{
			name: "token lacks a scope",
			op:   "MODIFY",
			old:  policyItem("TOOL#list_agents", attrs{"state": s("approved")}),
			new:  policyItem("TOOL#list_agents", attrs{"state": s("unavailable"), "changed_by": s("discovery"), "changed_at": s(at2)}),
			kind: ChangeToolUnavailable, by: "discovery", diff: []string{"state: approved → unavailable"},
		},
		{
			name: "same state, new hash",
			op:   "MODIFY",
			old:  policyItem("TOOL#get_build", attrs{"state": s("approved"), "hash": s("sha256:aa")}),
			new:  policyItem("TOOL#get_build", attrs{"state": s("approved"), "hash": s("sha256:bb"), "changed_by": s("discovery"), "changed_at": s(at2)}),
			kind: ChangeToolChanged, by: "discovery", diff: []string{"hash: sha256:aa → sha256:bb"},
		},
		{
			name: "tool item deleted",
			op:   "REMOVE",
			old:  policyItem("TOOL#get_build", attrs{"state": s("approved")}),
			kind: ChangeToolDeleted, by: unknownActorDeleted, diff: []string{"state: approved → (none)"},
		},
		{
			name: "toolset grows",
			op:   "MODIFY",
			old:  policyItem("TOOLSET#ops", attrs{"tools": l("get_build"), "changed_by": s("carol"), "changed_at": s(at1)}),
			new:  policyItem("TOOLSET#ops", attrs{"tools": l("get_build", "retry_job"), "changed_by": s("dave"), "changed_at": s(at2)}),
			kind: ChangeToolsetChanged, by: "dave",
			diff:    []string{"tools: [get_build] → [get_build, retry_job] (+retry_job)"},
			summary: "toolset ops changed by dave",
		},
		{name: "toolset created", op: "INSERT", new: policyItem("TOOLSET#ops", attrs{"tools": l("a")}), kind: ChangeToolsetCreated, by: UnknownActor, diff: []string{"tools: (none) → [a] (+a)"}},
		{name: "toolset deleted", op: "REMOVE", old: policyItem("TOOLSET#ops", attrs{}), kind: ChangeToolsetDeleted, by: unknownActorDeleted, diff: []string{}},
		{
			name: "profile gains a group",
			op:   "MODIFY",
			old:  policyItem("PROFILE#oncall", attrs{"toolsets": l("ops"), "groups": l("sre"), "disabled": b(false)}),
			new:  policyItem("PROFILE#oncall", attrs{"toolsets": l("ops"), "groups": l("sre", "platform"), "disabled": b(false)}),
			kind: ChangeProfileBound, by: UnknownActor, diff: []string{"groups: [sre] → [sre, platform] (+platform)"},
		},
		{
			name: "profile loses a toolset",
			op:   "MODIFY",
			old:  policyItem("PROFILE#oncall", attrs{"toolsets": l("ops", "read-only")}),
			new:  policyItem("PROFILE#oncall", attrs{"toolsets": l("read-only"), "changed_by": s("carol"), "changed_at": s(at2)}),
			kind: ChangeProfileUnbound, by: "carol", diff: []string{"toolsets: [ops, read-only] → [read-only] (-ops)"},
		},
		{
			name: "profile swaps users",
			op:   "MODIFY",
			old:  policyItem("PROFILE#oncall", attrs{"users": l("alice")}),
			new:  policyItem("PROFILE#oncall", attrs{"users": l("bob"), "changed_by": s("carol"), "changed_at": s(at2)}),
			kind: ChangeProfileChanged, by: "carol", diff: []string{"users: [alice] → [bob] (+bob -alice)"},
		},
		{
			name: "profile kill switch",
			op:   "MODIFY",
			old:  policyItem("PROFILE#oncall", attrs{"disabled": b(false)}),
			new:  policyItem("PROFILE#oncall", attrs{"disabled": b(true), "calls_per_minute": n("30")}),
			kind: ChangeKillSwitch, by: UnknownActor, diff: []string{"calls_per_minute: (none) → 30", "disabled: false → true"},
			summary: "profile oncall disabled (kill switch on) by an unknown actor (console or direct write)",
		},
		{
			name: "client kill switch on",
			op:   "INSERT",
			new:  policyItem("CLIENT#c1", attrs{"name": s("Rogue"), "disabled": b(true), "changed_by": s("ops"), "changed_at": s(at2)}),
			kind: ChangeKillSwitch, by: "ops", diff: []string{"disabled: (none) → true", "name: (none) → Rogue"},
			summary: "client c1 disabled (kill switch on: its tokens stop working) by ops",
		},
		{name: "client pre-registered", op: "INSERT", new: policyItem("CLIENT#claude-desktop", attrs{"disabled": b(false), "changed_by": s("ops")}),
			kind: ChangeClientAdded, by: "ops", diff: []string{"disabled: (none) → false"}},
		{name: "user kill switch on", op: "INSERT", new: policyItem("USER#mallory@example.com", attrs{"disabled": b(true), "changed_by": s("ops")}),
			kind: ChangeKillSwitch, by: "ops", diff: []string{"disabled: (none) → true"},
			summary: "user mallory@example.com disabled (kill switch on: their tokens stop working) by ops"},
		{name: "client kill switch off", op: "REMOVE", old: policyItem("CLIENT#c1", attrs{"disabled": b(true)}), kind: ChangeKillSwitch, by: unknownActorDeleted, diff: []string{"disabled: true → (none)"}},
		{name: "new profile", op: "INSERT", new: policyItem("PROFILE#p", attrs{"users": l("a")}), kind: ChangeProfileBound, by: UnknownActor, diff: []string{"users: (none) → [a] (+a)"}},
		{name: "profile deleted", op: "REMOVE", old: policyItem("PROFILE#p", attrs{"users": l("a")}), kind: ChangeProfileUnbound, by: unknownActorDeleted, diff: []string{"users: [a] → (none) (-a)"}},
		{
			name: "server kill switch on",
			op:   "MODIFY",
			old:  policyItem("SETTINGS", attrs{"server_disabled": b(false), "changed_by": s("carol"), "changed_at": s(at1)}),
			new:  policyItem("SETTINGS", attrs{"server_disabled": b(true), "disabled_reason": s("incident 42"), "changed_by": s("dave"), "changed_at": s(at2)}),
			kind: ChangeKillSwitch, by: "dave",
			diff:    []string{`disabled_reason: (none) → incident 42`, "server_disabled: false → true"},
			summary: "server kill switch turned on: every call is denied by dave",
		},
		{
			name: "settings default state",
			op:   "MODIFY",
			old:  policyItem("SETTINGS", attrs{"server_disabled": b(false), "default_state": s("pending_review")}),
			new:  policyItem("SETTINGS", attrs{"server_disabled": b(false), "default_state": s("approved")}),
			kind: ChangeSettingsChanged, by: UnknownActor, diff: []string{"default_state: pending_review → approved"},
		},
		{
			name: "version bump",
			op:   "MODIFY",
			old:  policyItem("VERSION", attrs{"version": n("6"), "changed_by": s("carol"), "changed_at": s(at1)}),
			new:  policyItem("VERSION", attrs{"version": n("7"), "changed_by": s("carol"), "changed_at": s(at2)}),
			kind: ChangeVersionBumped, by: "carol", diff: []string{"version: 6 → 7"},
			summary: "policy version moved from 6 to 7 by carol",
		},
		{
			name: "an item the policy cannot read",
			op:   "INSERT",
			new:  policyItem("WIDGET#x", attrs{"a": s("")}),
			kind: ChangeUnknownItem, by: UnknownActor, diff: []string{`a: (none) → ""`},
		},
		{
			name: "only the stamps moved",
			op:   "MODIFY",
			old:  policyItem("TOOLSET#ops", attrs{"tools": l("a"), "changed_by": s("carol"), "changed_at": s(at1)}),
			new:  policyItem("TOOLSET#ops", attrs{"tools": l("a"), "changed_by": s("dave"), "changed_at": s(at2)}),
			kind: ChangeToolsetChanged, by: "dave", diff: []string{},
			summary: "toolset ops changed by dave (no content change)",
		},
		{
			name: "type change shows",
			op:   "MODIFY",
			old:  policyItem("PROFILE#p", attrs{"calls_per_minute": n("30")}),
			new:  policyItem("PROFILE#p", attrs{"calls_per_minute": s("30")}),
			kind: ChangeProfileChanged, by: UnknownActor, diff: []string{"calls_per_minute: 30 → 30"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sk := str(tc.new, "sk")
			if sk == "" {
				sk = str(tc.old, "sk")
			}
			c := DescribePolicyChange(tc.op, sk, tc.old, tc.new)
			if c.Kind != tc.kind || c.ChangedBy != tc.by {
				t.Errorf("kind %q by %q, want %q by %q", c.Kind, c.ChangedBy, tc.kind, tc.by)
			}
			if diff := cmp.Diff(tc.diff, c.Diff); diff != "" {
				t.Errorf("diff (-want +got):\n%s", diff)
			}
			if tc.summary != "" && c.Summary != tc.summary {
				t.Errorf("summary %q, want %q", c.Summary, tc.summary)
			}
		})
	}
}

// toolCallRecord is a stream record of a tool-call item, as Lambda delivers it.
func toolCallRecord(t testing.TB, e audit.Event, eventID, seq string) events.DynamoDBEventRecord {
	t.Helper()
	it, err := audit.Item(e, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return events.DynamoDBEventRecord{
		EventID: eventID, EventName: "INSERT", EventSource: "aws:dynamodb", EventVersion: "1.1", AWSRegion: "us-east-1",
		EventSourceArn: testAuditARN,
		Change: events.DynamoDBStreamRecord{
			Keys:           map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute(e.ID)},
			NewImage:       lambdaImage(it),
			SequenceNumber: seq, StreamViewType: "NEW_IMAGE", SizeBytes: 100,
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: e.Time.Truncate(time.Second)},
		},
	}
}

// lambdaImage converts an item the simple way (tests only hold S, N, BOOL, L, M, SS).
func lambdaImage(it attrs) map[string]events.DynamoDBAttributeValue {
	out := map[string]events.DynamoDBAttributeValue{}
	for k, v := range it {
		out[k] = lambdaAttr(v)
	}
	return out
}

func lambdaAttr(v types.AttributeValue) events.DynamoDBAttributeValue {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *types.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value)
	case *types.AttributeValueMemberL:
		var out []events.DynamoDBAttributeValue
		for _, e := range v.Value {
			out = append(out, lambdaAttr(e))
		}
		return events.NewListAttribute(out)
	case *types.AttributeValueMemberM:
		return events.NewMapAttribute(lambdaImage(v.Value))
	}
	return events.NewNullAttribute()
}

func callEvent(id, sub, tool string) audit.Event {
	remaining := 42
	return audit.Event{
		ID: id, Time: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC), RequestID: "req-" + id,
		User:   audit.User{Subject: sub, Email: sub + "@example.com", Groups: []string{"eng"}},
		Client: audit.Client{Name: "claude-code", Version: "2.1.0", ID: "client-1", ProtocolVersion: "2025-06-18"},
		Tool:   tool, Arguments: json.RawMessage(`{"org":"acme"}`),
		Decision: audit.Allowed, Reason: "allowed", Profiles: []string{"readers"}, PolicyVersion: 7,
		Outcome: audit.OutcomeOK, BuildkiteCalls: 1, BuildkiteStatus: 200, RateLimitRemaining: &remaining,
		TokenUUID: "3f1c0000-0000-4000-8000-000000000001", LatencyMS: 12.5,
	}
}

func TestDecodeRecord(t *testing.T) {
	e := callEvent("00aa", "alice", "list_builds")
	good := toolCallRecord(t, e, "ev-1", "100")

	r, err := DecodeRecord(good, testTables)
	if err != nil || r.Kind != RecordToolCall {
		t.Fatalf("good record: %+v, %v", r, err)
	}
	if diff := cmp.Diff(e, *r.ToolCall); diff != "" {
		t.Errorf("decoded event (-want +got):\n%s", diff)
	}

	policyRec := events.DynamoDBEventRecord{
		EventID: "ev-p", EventName: "MODIFY", EventSourceArn: testPolicyARN,
		Change: events.DynamoDBStreamRecord{
			Keys:     lambdaImage(attrs{"pk": s("POLICY"), "sk": s("TOOL#get_build")}),
			OldImage: lambdaImage(policyItem("TOOL#get_build", attrs{"state": s("approved")})),
			NewImage: lambdaImage(policyItem("TOOL#get_build", attrs{"state": s("disabled")})),
		},
	}
	if r, err := DecodeRecord(policyRec, testTables); err != nil || r.Kind != RecordPolicyChange || r.Policy.Kind != ChangeToolDisabled {
		t.Errorf("policy record: %+v, %v", r, err)
	}

	for _, tc := range []struct {
		name   string
		edit   func(*events.DynamoDBEventRecord)
		kind   string // when it decodes
		poison string // a part of the error when it does not
	}{
		{name: "no event id", edit: func(r *events.DynamoDBEventRecord) { r.EventID = "" }, poison: "without an eventID"},
		{name: "unknown operation", edit: func(r *events.DynamoDBEventRecord) { r.EventName = "UPSERT" }, poison: "unknown eventName"},
		{name: "not a stream ARN", edit: func(r *events.DynamoDBEventRecord) { r.EventSourceArn = "arn:aws:sqs:x" }, poison: "names no table"},
		{name: "another table", edit: func(r *events.DynamoDBEventRecord) {
			r.EventSourceArn = strings.Replace(testAuditARN, "kitegate-dev-audit", "other", 1)
		}, poison: `table "other"`},
		{name: "zero attribute value", edit: func(r *events.DynamoDBEventRecord) {
			r.Change.NewImage["bad"] = events.DynamoDBAttributeValue{}
		}, poison: "unreadable attribute value"},
		{name: "time not a time", edit: func(r *events.DynamoDBEventRecord) {
			r.Change.NewImage["time"] = events.NewStringAttribute("yesterday")
		}, poison: "time"},
		{name: "time a number", edit: func(r *events.DynamoDBEventRecord) {
			r.Change.NewImage["time"] = events.NewNumberAttribute("1")
		}, poison: "audit item"},
		{name: "insert without image", edit: func(r *events.DynamoDBEventRecord) { r.Change.NewImage = nil }, poison: "without a new image"},
		{name: "key and id differ", edit: func(r *events.DynamoDBEventRecord) {
			r.Change.Keys["id"] = events.NewStringAttribute("other")
		}, poison: "differ"},
		{name: "no id at all", edit: func(r *events.DynamoDBEventRecord) {
			r.Change.Keys, r.Change.NewImage = nil, nil
		}, poison: "without a string id"},
		{name: "marker", edit: func(r *events.DynamoDBEventRecord) {
			r.Change.Keys["id"] = events.NewStringAttribute("seen#ev-0")
		}, kind: RecordIgnored},
		{name: "rollup", edit: func(r *events.DynamoDBEventRecord) {
			r.EventName = "MODIFY"
			r.Change.Keys["id"] = events.NewStringAttribute("usage#user#2026-03-01#alice")
		}, kind: RecordIgnored},
		{name: "expired by TTL", edit: func(r *events.DynamoDBEventRecord) {
			r.EventName, r.Change.NewImage = "REMOVE", nil
			r.UserIdentity = &events.DynamoDBUserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}
		}, kind: RecordIgnored},
		{name: "deleted by hand", edit: func(r *events.DynamoDBEventRecord) { r.EventName, r.Change.NewImage = "REMOVE", nil }, kind: RecordAuditDeleted},
		{name: "modified by hand", edit: func(r *events.DynamoDBEventRecord) {
			r.EventName = "MODIFY"
			r.Change.NewImage["outcome"] = events.NewStringAttribute("ok")
		}, kind: RecordAuditModified},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := toolCallRecord(t, e, "ev-1", "100")
			tc.edit(&rec)
			r, err := DecodeRecord(rec, testTables)
			if tc.poison != "" {
				if err == nil || !strings.Contains(err.Error(), tc.poison) {
					t.Fatalf("got %+v, %v; want an error with %q", r, err, tc.poison)
				}
				return
			}
			if err != nil || r.Kind != tc.kind {
				t.Fatalf("got kind %q, %v; want %q", r.Kind, err, tc.kind)
			}
		})
	}
}

func TestCompareSequence(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"9", "10", -1},
		{"100000000000000000000000000001", "99999999999999999999999999999", 1},
		{"000123", "123", 0},
		{"124", "123", 1},
	} {
		got := compareSequence(tc.a, tc.b)
		if (got < 0) != (tc.want < 0) || (got > 0) != (tc.want > 0) {
			t.Errorf("compareSequence(%s, %s) = %d, want sign %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestStreamTable(t *testing.T) {
	for arn, want := range map[string]string{
		testAuditARN: "kitegate-dev-audit",
		"arn:aws:dynamodb:ddblocal:000000000000:table/kitegate-test-ab/stream/2026-01-01T00:00:00.000": "kitegate-test-ab",
		"arn:aws:sqs:us-east-1:1:q": "",
		"":                          "",
	} {
		if got := StreamTable(arn); got != want {
			t.Errorf("StreamTable(%q) = %q, want %q", arn, got, want)
		}
	}
}

// FuzzDecodeRecord feeds arbitrary JSON as one stream record: decoding
// never panics, and a record that decodes is complete for its kind.
func FuzzDecodeRecord(f *testing.F) {
	seed := []events.DynamoDBEventRecord{toolCallRecord(f, callEvent("00aa", "alice", "list_builds"), "ev-1", "100")}
	for _, name := range []string{"audit-insert.json", "policy-modify.json"} {
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(readTestdata(f, name), &ev); err != nil {
			f.Fatal(err)
		}
		seed = append(seed, ev.Records...)
	}
	for _, r := range seed {
		b, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"eventID":"x","eventName":"INSERT","eventSourceARN":"` + testAuditARN + `","dynamodb":{"Keys":{"id":{"S":"a"}},"NewImage":{"id":{"S":"a"},"time":{"L":[{"M":{"x":{"NULL":true}}}]}}}}`))
	f.Add([]byte(`{"eventID":"x","eventName":"REMOVE","eventSourceARN":"` + testPolicyARN + `","dynamodb":{"OldImage":{"pk":{"S":"POLICY"},"sk":{"S":"PROFILE#p"},"users":{"SS":["a"]}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec events.DynamoDBEventRecord
		if json.Unmarshal(data, &rec) != nil {
			return
		}
		r, err := DecodeRecord(rec, testTables)
		if err != nil {
			return
		}
		switch r.Kind {
		case RecordToolCall:
			if r.ToolCall == nil || r.ToolCall.ID == "" {
				t.Fatalf("tool call without an event: %+v", r)
			}
		case RecordPolicyChange:
			if r.Policy == nil || r.Policy.Kind == "" || r.Policy.ChangedBy == "" || r.Policy.Diff == nil {
				t.Fatalf("policy change incomplete: %+v", r.Policy)
			}
			if _, err := json.Marshal(r.Policy); err != nil {
				t.Fatalf("policy change does not encode: %v", err)
			}
		case RecordAuditModified, RecordAuditDeleted, RecordIgnored:
			if r.ItemID == "" {
				t.Fatalf("%s without an item id", r.Kind)
			}
		default:
			t.Fatalf("unknown kind %q", r.Kind)
		}
		if r.EventID == "" {
			t.Fatal("decoded a record without an event id")
		}
	})
}
