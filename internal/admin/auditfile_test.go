package admin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/audit/auditstream"
)

// TestAuditCommandsReadTheLocalFile: without an audit table, audit and
// usage read the local audit file: make run's event lines and the audit
// function's tool_call lines (each event once), never its policy_change
// lines.
func TestAuditCommandsReadTheLocalFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	today := time.Now().UTC()
	ev := func(id, sub, tool, decision, outcome string, at time.Time, ms float64) audit.Event {
		return audit.Event{ID: id, Time: at, User: audit.User{Subject: sub, Email: sub + "@example.com"}, Tool: tool,
			Decision: decision, Reason: "r", Outcome: outcome, LatencyMS: ms, BuildkiteCalls: 1}
	}
	var lines []string
	add := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	add(ev("e1", "alice", "list_builds", audit.Allowed, audit.OutcomeOK, today.Add(-2*time.Minute), 10))
	add(auditstream.ToolCallLine{Level: "INFO", Msg: "tool call", Audit: auditstream.RecordToolCall, StreamEventID: "s2",
		Event: ev("e2", "alice", "create_build", audit.Denied, audit.OutcomeDenied, today.Add(-time.Minute), 2)})
	// The same event as make run wrote it and as the audit function logged it.
	add(auditstream.ToolCallLine{Level: "INFO", Msg: "tool call", Audit: auditstream.RecordToolCall, StreamEventID: "s1",
		Event: ev("e1", "alice", "list_builds", audit.Allowed, audit.OutcomeOK, today.Add(-2*time.Minute), 10)})
	add(map[string]any{"level": "INFO", "msg": "policy change", "audit": "policy_change", "id": "not-an-event", "user": map[string]string{"sub": "alice"}})
	add(ev("e3", "bob", "list_builds", audit.Allowed, audit.OutcomeOK, today.AddDate(0, 0, -1), 30))
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\nnot json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := cli{t: t, env: map[string]string{"KITEGATE_AUDIT_FILE": path, "KITEGATE_STATE_DIR": filepath.Join(dir, "state")}, ep: "http://127.0.0.1:1"}

	out := c.must("audit", "-user", "alice")
	if !strings.Contains(out, "local audit file") || strings.Count(out, "alice ") != 2 || strings.Index(out, "create_build") > strings.Index(out, "list_builds") {
		t.Errorf("audit -user alice: want e2 then e1, newest first, once each:\n%s", out)
	}
	out = c.must("usage", "-user", "alice", "-days", "2")
	if !strings.Contains(out, today.Format(auditstream.DayLayout)) || !strings.Contains(out, "2 calls") {
		t.Errorf("usage -user alice: want today's rollup of 2 calls:\n%s", out)
	}
	if !strings.Contains(out, "denied=1") || !strings.Contains(out, "ok=1") || !strings.Contains(out, "6.0") {
		t.Errorf("usage -user alice: want outcomes denied=1 ok=1 and a mean of 6.0 ms:\n%s", out)
	}
	if out := c.must("usage", "-tool", "list_builds", "-days", "2"); !strings.Contains(out, "2 calls") {
		t.Errorf("usage -tool list_builds over two days: want 2 calls (alice today, bob yesterday):\n%s", out)
	}
	missing := cli{t: t, env: map[string]string{"KITEGATE_AUDIT_FILE": filepath.Join(dir, "none.jsonl")}, ep: "http://127.0.0.1:1"}
	if _, err := missing.run("audit", "-user", "alice"); err == nil || !strings.Contains(err.Error(), "make run") {
		t.Errorf("no file: %v, want an error saying what writes it", err)
	}
}
