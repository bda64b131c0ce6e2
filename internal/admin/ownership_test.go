package admin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitegate/kitegate/infra"
	"github.com/kitegate/kitegate/internal/local"
	"github.com/kitegate/kitegate/internal/policy"
)

// TestApplyNeverUndoesAnAdmin: policy-apply shows and refuses a change that
// would undo an admin's decision taken outside the file (a kill switch by
// make disable, an approval by make approve, the server's kill switch),
// applies it only when forced, and lets the file change what it set itself.
func TestApplyNeverUndoesAnAdmin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	file := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := string(infra.DefaultPolicy)
	write(base)
	as := func(actor string) cli {
		return cli{t: t, env: map[string]string{"KITEGATE_STATE_DIR": dir, "KITEGATE_ACTOR": actor}, ep: "http://127.0.0.1:1"}
	}
	tool := func(name string) policy.Tool {
		t.Helper()
		store, err := local.Open(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		p, err := store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return p.Tools[name]
	}
	carol, oncall := as("carol"), as("oncall")
	carol.must("policy-apply", "-file", file)

	// The on-call engineer pulls a tool the file approves.
	oncall.must("disable", "list_builds", "-note", "incident 42")
	out, err := carol.run("policy-apply", "-file", file)
	if !errors.Is(err, ErrConflicts) || !strings.Contains(out, "tool list_builds: disabled by oncall") {
		t.Fatalf("apply over a kill switch: %v\n%s\nwant ErrConflicts naming list_builds and who disabled it", err, out)
	}
	if got := tool("list_builds"); got.State != policy.StateDisabled {
		t.Fatalf("a refused apply wrote: list_builds is %s", got.State)
	}
	// A dry run shows the same conflict and succeeds.
	if out := carol.must("policy-apply", "-file", file, "-dry-run"); !strings.Contains(out, "! tool list_builds") {
		t.Errorf("the dry run does not show the conflict:\n%s", out)
	}
	// Forced, it applies, and says who did it and how.
	carol.must("policy-apply", "-file", file, "-force")
	if got := tool("list_builds"); got.State != policy.StateApproved || got.ChangedBy != "carol"+FileMark {
		t.Errorf("after a forced apply list_builds is %s by %q, want approved by carol%s", got.State, got.ChangedBy, FileMark)
	}

	// An approval by make approve of a tool the file keeps pending.
	oncall.must("approve", "create_build", "-note", "reviewed")
	if _, err := carol.run("policy-apply", "-file", file); !errors.Is(err, ErrConflicts) {
		t.Errorf("apply over make approve: %v, want ErrConflicts", err)
	}
	// The file agreeing with the admin is no conflict.
	agreed := strings.Replace(base, "  - name: create_build\n    state: pending_review\n    note: Starts builds with the shared token; review before approving.",
		"  - name: create_build\n    state: approved\n    note: reviewed", 1)
	if agreed == base {
		t.Fatal("the default policy no longer lists create_build as pending_review")
	}
	write(agreed)
	carol.must("policy-apply", "-file", file)

	// What the file disabled itself, the file may enable again.
	own := strings.Replace(agreed, "  - name: get_build\n    state: approved", "  - name: get_build\n    state: disabled", 1)
	write(own)
	carol.must("policy-apply", "-file", file)
	if got := tool("get_build"); got.State != policy.StateDisabled {
		t.Fatalf("get_build %s, want disabled by the file", got.State)
	}
	write(agreed)
	carol.must("policy-apply", "-file", file)
	if got := tool("get_build"); got.State != policy.StateApproved {
		t.Errorf("get_build %s, want approved again by the file that disabled it", got.State)
	}

	// The server's kill switch, pulled by the file, is not pushed back by
	// a file that forgot it.
	write(strings.Replace(agreed, "server: enabled", "server:\n  state: disabled\n  reason: incident 43", 1))
	carol.must("policy-apply", "-file", file)
	write(agreed)
	if out, err := carol.run("policy-apply", "-file", file); !errors.Is(err, ErrConflicts) || !strings.Contains(out, "server: the kill switch is on") {
		t.Errorf("switching the server back on without force: %v\n%s", err, out)
	}
	carol.must("policy-apply", "-file", file, "-force")
}
