package admin

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitegate/kitegate/internal/local"
	"github.com/kitegate/kitegate/internal/policy"
)

// TestLocalStore: with no policy table the commands act on the embedded
// store that `make run` uses, so a newcomer can approve a tool locally.
func TestLocalStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	c := cli{t: t, env: map[string]string{"KITEGATE_STATE_DIR": dir, "KITEGATE_ACTOR": "newcomer"}, ep: "http://127.0.0.1:1"}
	out := c.must("approve", "create_build")
	if !strings.Contains(out, "embedded store") {
		t.Errorf("output %q does not say which store it changed", out)
	}
	store, err := local.Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Tools["create_build"]; got.State != policy.StateApproved || got.ChangedBy != "newcomer" {
		t.Errorf("create_build %+v, want approved by newcomer", got)
	}
	if out := c.must("tools"); !strings.Contains(out, "create_build") {
		t.Errorf("tools: %q", out)
	}
}
