package admin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitegate/kitegate/infra"
)

// TestStatusAndWhoCan on the local store: status says the token was never
// checked and where the table and the file disagree (a make disable shows
// as a conflict); who-can lists a person's tools with the profiles and
// toolsets that grant them, and a disabled tool is gone from the list.
func TestStatusAndWhoCan(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, infra.DefaultPolicy, 0o600); err != nil {
		t.Fatal(err)
	}
	c := cli{t: t, env: map[string]string{"KITEGATE_STATE_DIR": dir, "KITEGATE_ACTOR": "oncall"}, ep: "http://127.0.0.1:1"}
	c.must("policy-apply", "-file", file)

	out := c.must("status", "-file", file)
	for _, want := range []string{"token:      never checked", "policy:     version", "the table agrees with the policy file"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	out = c.must("who-can", "-user", "alice@example.com", "-groups", "platform-oncall")
	for _, want := range []string{"profiles builds-operator, everyone-read-only", "list_builds", "read-only"} {
		if !strings.Contains(out, want) {
			t.Errorf("who-can lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\ncreate_build") {
		t.Errorf("who-can lists create_build, which is pending review:\n%s", out)
	}
	if !strings.Contains(out, "tool_pending_review") {
		t.Errorf("who-can does not count the tools pending review:\n%s", out)
	}

	c.must("disable", "list_builds")
	if out := c.must("who-can", "-user", "alice@example.com"); strings.Contains(out, "\nlist_builds ") {
		t.Errorf("who-can still lists the disabled list_builds:\n%s", out)
	}
	out = c.must("status", "-file", file)
	if !strings.Contains(out, "1 difference(s)") || !strings.Contains(out, "! tool list_builds: disabled by oncall") {
		t.Errorf("status does not show the disabled tool as a difference and a conflict:\n%s", out)
	}
	if _, err := c.run("who-can"); err == nil {
		t.Error("who-can without a user succeeded")
	}
}
