package mcpserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/mcpserver"
	"github.com/kitegate/kitegate/internal/metrics"
	"github.com/kitegate/kitegate/internal/metrics/metricstest"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/tools"
)

// TestMetricsLines: one EMF line per tools/call, counting the call, a
// denial (by reason) and a Buildkite 401, each line joined to its audit
// event by id and user.
func TestMetricsLines(t *testing.T) {
	var out syncBuffer
	s := newStack(t, func(s *stack, c *mcpserver.Config) {
		c.Metrics = metrics.New(&out, "kitegate-test-McpFunction")
		// A token Buildkite no longer accepts: every Buildkite call is a 401.
		bk, err := buildkite.New(buildkite.Config{BaseURL: s.sim.URL, Tokens: secrets.Static("bkua_revoked0000000000000000000000000000"), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if c.Catalog, err = tools.Default(bk); err != nil {
			t.Fatal(err)
		}
	})
	cs := s.connect(t, "alice-token", "")
	ctx := context.Background()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_pipelines", Arguments: map[string]any{"org_slug": "acme"}}); err != nil {
		t.Fatal(err)
	}
	_, _ = cs.CallTool(ctx, &mcp.CallToolParams{Name: "create_build", Arguments: map[string]any{}}) // denied
	lines, err := metricstest.Parse(out.String())
	if err != nil {
		t.Fatal(err)
	}
	events := s.auditEvents(t)
	if len(lines) != 2 || len(events) != 2 {
		t.Fatalf("%d metrics lines and %d audit events, want 2 each:\n%s", len(lines), len(events), out.String())
	}
	for i, l := range lines {
		e := events[i]
		if l.Fields["audit_event_id"] != e.ID || l.Fields["user"] != e.User.Subject || l.Fields["tool"] != e.Tool {
			t.Errorf("line %d (%v %v %v) does not join audit event %s of %s (%s)", i, l.Fields["audit_event_id"], l.Fields["user"], l.Fields["tool"], e.ID, e.User.Subject, e.Tool)
		}
		if l.Values["Calls"] != 1 {
			t.Errorf("line %d: Calls %v, want 1", i, l.Values["Calls"])
		}
	}
	allowed, denied := lines[0], lines[1]
	if allowed.Values["Buildkite401"] != 1 || allowed.Values["Denied"] != 0 || allowed.Values["ToolErrors"] != 1 {
		t.Errorf("the call Buildkite refused: %v, want Buildkite401 1, Denied 0, ToolErrors 1", allowed.Values)
	}
	if denied.Values["Denied"] != 1 || denied.Values["Buildkite401"] != 0 || denied.Fields["Reason"] != events[1].Reason {
		t.Errorf("the denied call: %v reason %v, want Denied 1 by reason %q", denied.Values, denied.Fields["Reason"], events[1].Reason)
	}
	if got := denied.Dimensions["Denied"]; len(got) != 2 || len(got[1]) != 2 || got[1][1] != "Reason" {
		t.Errorf("Denied published under %v, want the function and the function by reason", got)
	}
}
