package mcpserver_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestGuidanceFollowsTheCallersTools checks the instructions, prompts and
// resource a caller gets: instructions only about tools the caller has,
// both prompts and the logs guide for every caller, and none of it calling
// Buildkite.
func TestGuidanceFollowsTheCallersTools(t *testing.T) {
	s := newStack(t, nil)
	before := len(s.sim.Requests())
	ctx := context.Background()

	alice := s.connect(t, "alice-token", "")
	init := alice.InitializeResult()
	if init.Capabilities.Prompts == nil || init.Capabilities.Resources == nil || init.Capabilities.Tools == nil {
		t.Errorf("capabilities = %+v", init.Capabilities)
	}
	in := init.Instructions
	for _, want := range []string{"audited", "build_number", "broken", "tail_logs first", "401", "403", "not available to you"} {
		if !strings.Contains(in, want) {
			t.Errorf("alice's instructions lack %q:\n%s", want, in)
		}
	}
	// Paragraphs about tools alice does not have are left out.
	for _, absent := range []string{"create_annotation", "user_token_organization", "get_build_failure_summary", "load_skill"} {
		if strings.Contains(in, absent) {
			t.Errorf("alice's instructions mention %s, which she cannot call:\n%s", absent, in)
		}
	}

	prompts, err := alice.ListPrompts(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range prompts.Prompts {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"report_issue", "user_token_organization_prompt"}) {
		t.Errorf("prompts = %v", names)
	}
	org, err := alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "user_token_organization_prompt"})
	if err != nil {
		t.Fatal(err)
	}
	// alice may not call user_token_organization: the prompt does not send her there.
	if text := promptText(org); !strings.Contains(text, "ask me for") || strings.Contains(text, "call the user_token_organization tool") {
		t.Errorf("user_token_organization_prompt for alice = %q", text)
	}
	report, err := alice.GetPrompt(ctx, &mcp.GetPromptParams{Name: "report_issue"})
	if err != nil {
		t.Fatal(err)
	}
	if text := promptText(report); !strings.Contains(text, "kitegate version:") || !strings.Contains(text, "[REDACTED]") {
		t.Errorf("report_issue = %q", text)
	}

	resources, err := alice.ListResources(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resources.Resources) != 1 || resources.Resources[0].URI != "buildkite://debug-logs-guide" || resources.Resources[0].MIMEType != "text/markdown" {
		t.Fatalf("resources = %+v", resources.Resources)
	}
	guide, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "buildkite://debug-logs-guide"})
	if err != nil {
		t.Fatal(err)
	}
	if len(guide.Contents) != 1 || !strings.Contains(guide.Contents[0].Text, "tail_logs") || !strings.Contains(guide.Contents[0].Text, "broken") {
		t.Errorf("guide = %+v", guide.Contents)
	}
	if _, err := alice.ReadResource(ctx, &mcp.ReadResourceParams{URI: "buildkite://nothing-here"}); err == nil {
		t.Error("an unknown resource was read")
	}

	// bob may create builds: his instructions are his own.
	bob := s.connect(t, "bob-token", "")
	if bi := bob.InitializeResult().Instructions; bi == "" || !strings.Contains(bi, "build_number") {
		t.Errorf("bob's instructions = %q", bi)
	}

	if n := len(s.sim.Requests()) - before; n != 0 {
		t.Errorf("instructions, prompts and resources made %d Buildkite requests", n)
	}

	// They are for authenticated callers only.
	resp, _ := post(t, s, http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"prompts/list"}`, map[string]string{"Authorization": ""})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("prompts/list without a token: %s", resp.Status)
	}
	resp, _ = post(t, s, http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"buildkite://debug-logs-guide"}}`,
		map[string]string{"Authorization": "Bearer not-a-token"})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("resources/read with a bad token: %s", resp.Status)
	}
}

func promptText(res *mcp.GetPromptResult) string {
	var b strings.Builder
	for _, m := range res.Messages {
		if tc, ok := m.Content.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}
