package policystore

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/tables"
)

// newStoreFunc opens an empty store whose clock is now.
type newStoreFunc func(t *testing.T, now func() time.Time) policy.Store

// The one contract every Store keeps, run against each of them.
func TestStoreContract(t *testing.T) {
	stores := map[string]newStoreFunc{
		"embedded": func(t *testing.T, now func() time.Time) policy.Store {
			e, err := NewEmbedded(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			e.now = now
			return e
		},
		"dynamodb": func(t *testing.T, now func() time.Time) policy.Store {
			c := dynamotest.Client(t)
			d := NewDynamoDB(c, dynamotest.NewTable(t, c, tables.Policy))
			d.now = now
			return d
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { testStoreContract(t, open) })
	}
}

func testStoreContract(t *testing.T, open newStoreFunc) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	t.Run("client kill switch round trip", func(t *testing.T) {
		ctx := t.Context()
		s := open(t, func() time.Time { return t0 })
		p := samplePolicy()
		p.Version = 0
		p.Clients = map[string]policy.Client{"client-1": {Name: "Rogue", Disabled: true, Note: "leaked", ChangedBy: "ops", ChangedAt: t0}}
		p.Users = map[string]policy.User{"mallory@example.com": {Disabled: true, Note: "left", ChangedBy: "ops", ChangedAt: t0}}
		if _, err := s.Apply(ctx, p, "ops"); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p.Clients, got.Clients); diff != "" {
			t.Errorf("clients (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(p.Users, got.Users); diff != "" {
			t.Errorf("users (-want +got):\n%s", diff)
		}
		got.Clients, got.Users = nil, nil // client-enable, user-enable
		if _, err := s.Apply(ctx, got, "ops"); err != nil {
			t.Fatal(err)
		}
		if again, err := s.Load(ctx); err != nil || len(again.Clients) != 0 || len(again.Users) != 0 {
			t.Errorf("after enabling: %v %v %v", again.Clients, again.Users, err)
		}
	})

	t.Run("round trip and stamps", func(t *testing.T) {
		ctx := t.Context()
		clock := t0
		s := open(t, func() time.Time { return clock })
		empty, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(policy.Policy{}, empty); diff != "" {
			t.Errorf("empty store (-want +got):\n%s", diff)
		}
		p := samplePolicy()
		p.Version = 0
		p.Settings = policy.Settings{ServerDisabled: true, DisabledReason: "incident", DefaultState: policy.StateApproved}
		tool := p.Tools["get_build"]
		tool.Hash, tool.Scopes, tool.Note = "h1", []string{"read_builds"}, "a note"
		p.Tools["get_build"] = tool
		stored, err := s.Apply(ctx, p, "alice")
		if err != nil {
			t.Fatal(err)
		}
		want := p.Clone()
		want.Version = 1
		for name, tool := range want.Tools {
			tool.ChangedBy, tool.ChangedAt = "alice", t0
			if tool.State == policy.StateApproved {
				tool.ApprovedHash, tool.ApprovedDigest = tool.Hash, tool.Digest // approval pins the definition
			}
			want.Tools[name] = tool
		}
		if diff := cmp.Diff(want, stored); diff != "" {
			t.Errorf("Apply (-want +got):\n%s", diff)
		}
		loaded, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, loaded); diff != "" {
			t.Errorf("Load (-want +got):\n%s", diff)
		}

		// Change one tool, drop a toolset and a profile, add a profile.
		clock = t0.Add(time.Hour)
		tool = loaded.Tools["get_job_env"]
		tool.State = policy.StateApproved
		loaded.Tools["get_job_env"] = tool
		delete(loaded.Profiles, "nothing")
		delete(loaded.Toolsets, "empty")
		loaded.Profiles["new"] = policy.Profile{Name: "new", Toolsets: []string{policy.ToolsetReadOnly}, Users: []string{"u1"}, CallsPerMinute: 5}
		loaded.Settings = policy.Settings{}
		stored, err = s.Apply(ctx, loaded, "bob")
		if err != nil {
			t.Fatal(err)
		}
		if stored.Version != 2 {
			t.Errorf("version = %d, want 2", stored.Version)
		}
		if got := stored.Tools["get_job_env"]; got.ChangedBy != "bob" || !got.ChangedAt.Equal(clock) {
			t.Errorf("changed tool stamp %q %v, want bob %v", got.ChangedBy, got.ChangedAt, clock)
		}
		if got := stored.Tools["get_build"]; got.ChangedBy != "alice" || !got.ChangedAt.Equal(t0) {
			t.Errorf("unchanged tool stamp %q %v, want alice %v", got.ChangedBy, got.ChangedAt, t0)
		}
		again, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(stored, again); diff != "" {
			t.Errorf("Load after second Apply (-want +got):\n%s", diff)
		}
	})

	t.Run("pins, changes and resume states round trip; approval pins", func(t *testing.T) {
		ctx := t.Context()
		s := open(t, func() time.Time { return t0 })
		d1 := policy.Digest{Description: "d1", InputSchema: "i1", OutputSchema: "o1", Annotations: "a1", Scopes: "s1"}
		d2 := d1
		d2.InputSchema = "i2"
		p := policy.Policy{Tools: map[string]policy.Tool{
			// Demoted by discovery: the old pin is kept in the change record.
			"get_build": {Name: "get_build", Hash: "h2", Digest: d2, Class: policy.ClassRead, Scopes: []string{"read_builds"}, State: policy.StatePendingReview,
				Change: policy.Change{FromHash: "h1", ToHash: "h2", Parts: []string{"input_schema"}, At: t0}},
			// Unavailable until the token has read_build_logs again.
			"tail_logs": {Name: "tail_logs", Hash: "h3", Digest: d1, Class: policy.ClassRead, Scopes: []string{"read_build_logs"}, State: policy.StateUnavailable,
				ResumeState: policy.StateApproved, ApprovedHash: "h3", ApprovedDigest: d1},
			// Approved now, with no pin given: Apply pins it.
			"list_builds": {Name: "list_builds", Hash: "h4", Digest: d2, Class: policy.ClassRead, State: policy.StateApproved},
		}}
		stored, err := s.Apply(ctx, p, "discovery")
		if err != nil {
			t.Fatal(err)
		}
		want := p.Clone()
		want.Version = 1
		for name, tool := range want.Tools {
			tool.ChangedBy, tool.ChangedAt = "discovery", t0
			want.Tools[name] = tool
		}
		lb := want.Tools["list_builds"]
		lb.ApprovedHash, lb.ApprovedDigest = "h4", d2
		want.Tools["list_builds"] = lb
		if diff := cmp.Diff(want, stored); diff != "" {
			t.Errorf("Apply (-want +got):\n%s", diff)
		}
		loaded, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, loaded); diff != "" {
			t.Errorf("Load (-want +got):\n%s", diff)
		}

		// An admin re-approves the demoted tool: it is pinned to its new definition.
		gb := loaded.Tools["get_build"]
		gb.State = policy.StateApproved
		loaded.Tools["get_build"] = gb
		stored, err = s.Apply(ctx, loaded, "carol")
		if err != nil {
			t.Fatal(err)
		}
		if got := stored.Tools["get_build"]; got.ApprovedHash != "h2" || got.ApprovedDigest != d2 || got.ChangedBy != "carol" {
			t.Errorf("re-approved: pin %q %+v by %q, want h2 %+v by carol", got.ApprovedHash, got.ApprovedDigest, got.ChangedBy, d2)
		}
	})

	t.Run("stale version conflicts and changes nothing", func(t *testing.T) {
		ctx := t.Context()
		s := open(t, func() time.Time { return t0 })
		p := samplePolicy()
		p.Version = 0
		first, err := s.Apply(ctx, p, "alice")
		if err != nil {
			t.Fatal(err)
		}
		p.Tools["get_build"] = policy.Tool{Name: "get_build", Class: policy.ClassRead, State: policy.StateDisabled}
		if _, err := s.Apply(ctx, p, "mallory"); !errors.Is(err, policy.ErrConflict) {
			t.Fatalf("Apply of version 0 over 1: %v, want ErrConflict", err)
		}
		got, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("store changed by a conflicting Apply (-want +got):\n%s", diff)
		}
	})

	t.Run("invalid policy is refused, not a conflict", func(t *testing.T) {
		s := open(t, func() time.Time { return t0 })
		p := samplePolicy()
		p.Version = 0
		p.Profiles["x"] = policy.Profile{Name: "x", Toolsets: []string{"nope"}}
		if _, err := s.Apply(t.Context(), p, "alice"); err == nil || errors.Is(err, policy.ErrConflict) {
			t.Fatalf("Apply: %v, want a validation error", err)
		}
		if got, _ := s.Load(t.Context()); got.Version != 0 {
			t.Errorf("invalid policy stored as version %d", got.Version)
		}
	})

	t.Run("concurrent conflicting edits: one wins, none lost", func(t *testing.T) {
		ctx := t.Context()
		s := open(t, func() time.Time { return t0 })
		p := samplePolicy()
		p.Version = 0
		if _, err := s.Apply(ctx, p, "seed"); err != nil {
			t.Fatal(err)
		}
		base, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Two admins edit the same version at once: alice disables
		// get_build, bob approves get_job_env.
		edits := map[string]func(policy.Policy) policy.Policy{
			"alice": func(p policy.Policy) policy.Policy {
				tl := p.Tools["get_build"]
				tl.State = policy.StateDisabled
				p.Tools["get_build"] = tl
				return p
			},
			"bob": func(p policy.Policy) policy.Policy {
				tl := p.Tools["get_job_env"]
				tl.State = policy.StateApproved
				p.Tools["get_job_env"] = tl
				return p
			},
		}
		var wg sync.WaitGroup
		errs := map[string]error{}
		var mu sync.Mutex
		start := make(chan struct{})
		for actor, edit := range edits {
			wg.Go(func() {
				<-start
				_, err := s.Apply(ctx, edit(base.Clone()), actor)
				mu.Lock()
				errs[actor] = err
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		var won, lost []string
		for actor, err := range errs {
			switch {
			case err == nil:
				won = append(won, actor)
			case errors.Is(err, policy.ErrConflict):
				lost = append(lost, actor)
			default:
				t.Fatalf("%s: %v", actor, err)
			}
		}
		if len(won) != 1 || len(lost) != 1 {
			t.Fatalf("winners %v, conflicts %v: want exactly one of each", won, lost)
		}
		// The loser reloads and applies again: both edits are kept.
		cur, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(ctx, edits[lost[0]](cur), lost[0]); err != nil {
			t.Fatal(err)
		}
		final, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if final.Version != base.Version+2 || final.Tools["get_build"].State != policy.StateDisabled || final.Tools["get_job_env"].State != policy.StateApproved {
			t.Errorf("final policy v%d get_build=%s get_job_env=%s: want v%d, disabled, approved",
				final.Version, final.Tools["get_build"].State, final.Tools["get_job_env"].State, base.Version+2)
		}
		if by := final.Tools["get_build"].ChangedBy; by != "alice" {
			t.Errorf("get_build changed_by %q, want alice", by)
		}
	})
}

// A console edit (an item changed by hand, version untouched) is what the
// next Load returns, and the cache serves it within its TTL.
func TestDynamoDBHandEdit(t *testing.T) {
	ctx := t.Context()
	c := dynamotest.Client(t)
	table := dynamotest.NewTable(t, c, tables.Policy)
	s := NewDynamoDB(c, table)
	p := samplePolicy()
	p.Version = 0
	if _, err := s.Apply(ctx, p, "seed"); err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(0, 0)
	cache := policy.NewCache(s, time.Second, func() time.Time { return clock })
	before, err := cache.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !before.Decide(policy.Subject{ID: "x"}, "get_build").Allowed {
		t.Fatal("get_build not allowed before the edit")
	}
	_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       policyKey(skToolPrefix + "get_build"),
		UpdateExpression:          aws.String("SET #s = :s"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: "disabled"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2 * time.Second)
	after, err := cache.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := after.Decide(policy.Subject{ID: "x"}, "get_build"); d.Allowed || d.Reason != policy.ReasonToolDisabled {
		t.Errorf("after the console edit: %+v, want tool_disabled", d)
	}

	// An item an admin broke by hand denies everything (fail closed).
	_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		tables.PolicyPK: &types.AttributeValueMemberS{Value: tables.PolicyPartition},
		tables.PolicySK: &types.AttributeValueMemberS{Value: "TOOL#get_build"},
		"state":         &types.AttributeValueMemberN{Value: "1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2 * time.Second)
	if snap, err := cache.Snapshot(ctx); err == nil || snap != nil {
		t.Errorf("broken item: snapshot %v, err %v; want an error", snap, err)
	}
}

// The table shape is what docs/tables.md documents, item by item.
func TestDynamoDBItemShapes(t *testing.T) {
	p := policy.Policy{
		Version: 3,
		Tools: map[string]policy.Tool{
			"get_build": {Name: "get_build", State: policy.StateApproved, Class: policy.ClassRead, Scopes: []string{"read_builds"}, ChangedBy: "alice", ChangedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
			"tail_logs": {Name: "tail_logs", State: policy.StateUnavailable, ResumeState: policy.StatePendingReview, Class: policy.ClassRead, Hash: "sha256:2",
				Digest:         policy.Digest{Description: "d", InputSchema: "i2", OutputSchema: "o", Annotations: "a", Scopes: "s"},
				ApprovedDigest: policy.Digest{Description: "d", InputSchema: "i1"},
				Change:         policy.Change{FromHash: "sha256:1", ToHash: "sha256:2", Parts: []string{"input_schema"}, At: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}},
		},
		Toolsets: map[string]policy.Toolset{"ops": {Name: "ops", Tools: []string{"get_build"}}},
		Profiles: map[string]policy.Profile{"oncall": {Name: "oncall", Toolsets: []string{"ops"}, Groups: []string{"oncall"}, CallsPerMinute: 30}},
	}
	items, err := encodePolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for sk, it := range items {
		got[sk] = plain(it)
	}
	want := map[string]map[string]any{
		"VERSION":        {"pk": "POLICY", "sk": "VERSION", "version": 3.0},
		"SETTINGS":       {"pk": "POLICY", "sk": "SETTINGS", "server_disabled": false},
		"TOOL#get_build": {"pk": "POLICY", "sk": "TOOL#get_build", "state": "approved", "class": "read", "scopes": []any{"read_builds"}, "changed_by": "alice", "changed_at": "2026-03-01T12:00:00Z"},
		"TOOL#tail_logs": {"pk": "POLICY", "sk": "TOOL#tail_logs", "state": "unavailable", "resume_state": "pending_review", "class": "read", "hash": "sha256:2",
			"digest":          map[string]any{"description": "d", "input_schema": "i2", "output_schema": "o", "annotations": "a", "scopes": "s"},
			"approved_digest": map[string]any{"description": "d", "input_schema": "i1"},
			"change":          map[string]any{"from_hash": "sha256:1", "to_hash": "sha256:2", "parts": []any{"input_schema"}, "at": "2026-03-02T00:00:00Z"}},
		"TOOLSET#ops":    {"pk": "POLICY", "sk": "TOOLSET#ops", "tools": []any{"get_build"}},
		"PROFILE#oncall": {"pk": "POLICY", "sk": "PROFILE#oncall", "toolsets": []any{"ops"}, "groups": []any{"oncall"}, "disabled": false, "calls_per_minute": 30.0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	back, err := decodePolicy(items)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Errorf("decode(encode) (-want +got):\n%s", diff)
	}
}
