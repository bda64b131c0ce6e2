package policystore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policyfile"
)

// samplePolicy (as internal/policy tests it) has one tool in every state, a read and a write tool
// approved, and profiles bound in every way a subject can match.
func samplePolicy() policy.Policy {
	return policy.Policy{
		Version: 7,
		Tools: map[string]policy.Tool{
			"get_build":     {Name: "get_build", Class: policy.ClassRead, State: policy.StateApproved},
			"list_builds":   {Name: "list_builds", Class: policy.ClassRead, State: policy.StateApproved},
			"create_build":  {Name: "create_build", Class: policy.ClassWrite, State: policy.StateApproved},
			"cancel_build":  {Name: "cancel_build", Class: policy.ClassDestructive, State: policy.StateApproved},
			"no_class":      {Name: "no_class", State: policy.StateApproved},
			"get_job_env":   {Name: "get_job_env", Class: policy.ClassRead, State: policy.StatePendingReview},
			"list_agents":   {Name: "list_agents", Class: policy.ClassRead, State: policy.StateDisabled},
			"old_tool":      {Name: "old_tool", Class: policy.ClassRead, State: policy.StateRemoved},
			"list_clusters": {Name: "list_clusters", Class: policy.ClassRead, State: policy.StateUnavailable},
		},
		Toolsets: map[string]policy.Toolset{
			"builds": {Name: "builds", Tools: []string{"create_build", "cancel_build", "get_job_env", "list_agents", "old_tool", "list_clusters", "not_a_tool"}},
			"empty":  {Name: "empty"},
		},
		Profiles: map[string]policy.Profile{
			"everyone":  {Name: "everyone", Toolsets: []string{policy.ToolsetReadOnly}, Groups: []string{policy.GroupEveryone}},
			"readers":   {Name: "readers", Toolsets: []string{policy.ToolsetReadOnly}, Groups: []string{"engineering"}},
			"operators": {Name: "operators", Toolsets: []string{policy.ToolsetReadOnly, "builds"}, Groups: []string{"oncall"}, CallsPerMinute: 30},
			"admins":    {Name: "admins", Toolsets: []string{policy.ToolsetAllApproved}, Users: []string{"sub-admin", "Root@Example.com"}},
			"frozen":    {Name: "frozen", Toolsets: []string{policy.ToolsetAllApproved}, Groups: []string{"frozen"}, Users: []string{"sub-frozen"}, Disabled: true},
			"nothing":   {Name: "nothing", Toolsets: []string{"empty"}, Groups: []string{"nothing"}},
		},
	}
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestEmbeddedRoundTrip(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "nested", "store") // created if missing
	e, err := NewEmbedded(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.now = fixedClock(now)

	empty, err := e.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(policy.Policy{}, empty); diff != "" {
		t.Errorf("empty store Load mismatch (-want +got):\n%s", diff)
	}
	if snap, err := policy.NewSnapshot(empty); err != nil {
		t.Fatal(err)
	} else if d := snap.Decide(policy.Subject{ID: "x"}, "get_build"); d.Allowed {
		t.Errorf("empty policy allows: %+v", d)
	}

	p := samplePolicy()
	p.Version = 0
	stored, err := e.Apply(ctx, p, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Version != 1 {
		t.Errorf("first Apply version = %d, want 1", stored.Version)
	}
	want := samplePolicy()
	want.Version = 1
	for name, tool := range want.Tools {
		tool.ChangedBy, tool.ChangedAt = "alice", now
		want.Tools[name] = tool
	}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("Apply result mismatch (-want +got):\n%s", diff)
	}
	loaded, err := e.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, loaded); diff != "" {
		t.Errorf("Load after Apply mismatch (-want +got):\n%s", diff)
	}

	// A second Apply stamps only what changed.
	later := now.Add(time.Hour)
	e.now = fixedClock(later)
	tool := loaded.Tools["get_job_env"]
	tool.State = policy.StateApproved
	loaded.Tools["get_job_env"] = tool
	loaded.Profiles["readers"] = policy.Profile{Name: "readers", Toolsets: []string{policy.ToolsetAllApproved}, Groups: []string{"engineering"}}
	stored, err = e.Apply(ctx, loaded, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Version != 2 {
		t.Errorf("second Apply version = %d, want 2", stored.Version)
	}
	if got := stored.Tools["get_job_env"]; got.ChangedBy != "bob" || !got.ChangedAt.Equal(later) {
		t.Errorf("changed tool stamp = %q %v, want bob %v", got.ChangedBy, got.ChangedAt, later)
	}
	if got := stored.Tools["get_build"]; got.ChangedBy != "alice" || !got.ChangedAt.Equal(now) {
		t.Errorf("unchanged tool stamp = %q %v, want alice %v", got.ChangedBy, got.ChangedAt, now)
	}

	// No temporary files are left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "policy.json" {
		t.Errorf("store folder holds %v, want only policy.json", entries)
	}
}

func TestEmbeddedApplyRejectsInvalid(t *testing.T) {
	e, err := NewEmbedded(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := samplePolicy()
	p.Version = 0
	p.Profiles["x"] = policy.Profile{Name: "x", Toolsets: []string{"nope"}}
	if _, err := e.Apply(t.Context(), p, "alice"); err == nil || errors.Is(err, policy.ErrConflict) {
		t.Fatalf("Apply of an invalid policy: %v, want a validation error", err)
	}
	if got, _ := e.Load(t.Context()); got.Version != 0 {
		t.Errorf("invalid policy was stored: version %d", got.Version)
	}
}

func TestEmbeddedSeed(t *testing.T) {
	dir := t.TempDir()
	calls := 0
	seed := func() (policy.Policy, error) {
		calls++
		p, err := policyfile.Load("../../../infra/policy.yaml")
		p.Version = 41 // ignored: a seeded store starts at version 1
		return p, err
	}
	e, err := NewEmbedded(dir, seed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.Tools["get_build"].State != policy.StateApproved || got.Tools["get_build"].ChangedBy != "seed" {
		t.Errorf("seeded policy: version %d, get_build %+v", got.Version, got.Tools["get_build"])
	}

	// A folder that already holds a policy is not seeded again.
	if _, err := NewEmbedded(dir, seed); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("seed called %d times, want 1", calls)
	}

	// A failing seed fails the store and leaves the folder empty.
	empty := t.TempDir()
	boom := errors.New("boom")
	if _, err := NewEmbedded(empty, func() (policy.Policy, error) { return policy.Policy{}, boom }); !errors.Is(err, boom) {
		t.Errorf("NewEmbedded with a failing seed: %v, want %v", err, boom)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("failed seed left %v", entries)
	}
}

func TestEmbeddedSurvivesReopen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	e, err := NewEmbedded(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := samplePolicy()
	p.Version = 0
	p.Settings = policy.Settings{ServerDisabled: true, DisabledReason: "maintenance", DefaultState: policy.StateApproved}
	stored, err := e.Apply(ctx, p, "alice")
	if err != nil {
		t.Fatal(err)
	}

	reopened, err := NewEmbedded(dir, func() (policy.Policy, error) {
		t.Error("seed called for a folder that holds a policy")
		return policy.Policy{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := reopened.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stored, got); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
	if _, err := reopened.Apply(ctx, got, "bob"); err != nil {
		t.Errorf("Apply after reopen: %v", err)
	}
}

func TestEmbeddedConflict(t *testing.T) {
	ctx := t.Context()
	e, err := NewEmbedded(t.TempDir(), func() (policy.Policy, error) { return samplePolicy(), nil })
	if err != nil {
		t.Fatal(err)
	}
	base, err := e.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Many writers start from the same version; exactly one may win.
	const writers = 16
	var wg sync.WaitGroup
	errs := make([]error, writers)
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			p := base.Clone()
			p.Settings.DisabledReason = "writer"
			p.Profiles["everyone"] = policy.Profile{Name: "everyone", Toolsets: []string{policy.ToolsetReadOnly}, Groups: []string{policy.GroupEveryone}, CallsPerMinute: i + 1}
			<-start
			_, errs[i] = e.Apply(ctx, p, "writer")
		})
	}
	close(start)
	wg.Wait()

	wins, winner := 0, -1
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			winner = i
		case !errors.Is(err, policy.ErrConflict):
			t.Errorf("writer %d: %v, want ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers won, want exactly 1", wins)
	}
	got, err := e.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != base.Version+1 || got.Profiles["everyone"].CallsPerMinute != winner+1 {
		t.Errorf("stored version %d limit %d, want version %d from writer %d", got.Version, got.Profiles["everyone"].CallsPerMinute, base.Version+1, winner)
	}

	// A stale writer conflicts; one that reloads succeeds.
	if _, err := e.Apply(ctx, base, "late"); !errors.Is(err, policy.ErrConflict) {
		t.Errorf("stale Apply: %v, want ErrConflict", err)
	}
	if _, err := e.Apply(ctx, got, "late"); err != nil {
		t.Errorf("Apply after reload: %v", err)
	}
}

func TestEmbeddedCorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policy.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := NewEmbedded(dir, func() (policy.Policy, error) { return samplePolicy(), nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Load(t.Context()); err == nil {
		t.Error("Load of a corrupt file succeeded")
	}
	if _, err := e.Apply(t.Context(), policy.Policy{}, "x"); err == nil {
		t.Error("Apply over a corrupt file succeeded")
	}
}

func TestEmbeddedCanceled(t *testing.T) {
	e, err := NewEmbedded(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Load: %v, want context.Canceled", err)
	}
	if _, err := e.Apply(ctx, policy.Policy{}, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply: %v, want context.Canceled", err)
	}
}
