package mcpserver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/tools"
)

// Guidance for the model: the server's instructions, assembled from the
// tools the caller may use, two prompts and one resource. None of it reaches
// Buildkite: prompts and the resource are text kitegate holds, and a prompt
// that needs Buildkite data tells the model which governed tool to call, so
// policy and audit see that call like any other.

// instruction is one paragraph of the instructions, given when the caller
// has any of the tools it names (always when it names none).
type instruction struct {
	tools []string
	text  string
}

var instructionParagraphs = []instruction{
	{nil, "kitegate gives governed access to Buildkite. The tools listed are those your organization approved for you; " +
		"every call is audited under your name."},
	{[]string{"user_token_organization"}, "Start with user_token_organization: it names the organization kitegate's Buildkite " +
		"token belongs to, and its slug is the org_slug the other tools take."},
	{[]string{"list_skills", "load_skill"}, "list_skills lists guides to Buildkite tasks; load one with load_skill before the task " +
		"(debug-logs-guide before digging into logs). The same guide is the resource buildkite://debug-logs-guide."},
	{[]string{"get_build", "list_builds", "list_jobs", "get_build_failure_summary", "wait_for_build", "create_annotation"},
		"A build is named by its number within a pipeline (build_number, digits such as 42, as in the build's URL), " +
			"with org_slug and pipeline_slug. Its UUID (the id of get_build and list_builds) is another thing: only " +
			"list_tests_for_build takes it, as build_uuid."},
	{[]string{"list_jobs", "get_build_failure_summary", "get_job"}, "Job states: failed means the job ran and exited non-zero " +
		"(or timed out); broken means it never ran because a step it depended on failed or a condition excluded it, so " +
		"it has no log: look at what it waited on; skipped means it was not run on purpose. soft_failed jobs failed " +
		"without failing the build. list_jobs takes several states at once: state \"failed,broken\"."},
	{[]string{"get_build_failure_summary"}, "To find why a build failed, call get_build_failure_summary first: one call gives " +
		"the failed jobs with the end of their logs, error annotations and failed tests."},
	{[]string{"tail_logs", "search_logs", "read_logs"}, "Read logs from the outside in: tail_logs first, then search_logs " +
		"with a pattern and context, then read_logs around a match. Rows are numbered from 0 (rn) in all three tools."},
	{[]string{"create_annotation"}, "create_annotation annotates the build unless scope is job: job_id alone does not put " +
		"the annotation on the job."},
	{nil, "Errors: a call \"not available to you\" is kitegate's policy: ask an administrator, retrying will not help. " +
		"Buildkite 401 means kitegate's Buildkite token was rejected (expired or revoked); 403 means the token lacks " +
		"the scope a tool needs or cannot see that organization. Neither is fixed by retrying: tell the user, who can " +
		"tell an administrator. 404 means the organization, pipeline, build or job does not exist or is out of reach."},
}

// instructionsFor assembles the instructions for a caller offered these tools.
func instructionsFor(offered []string) string {
	var b strings.Builder
	for _, p := range instructionParagraphs {
		if p.tools != nil && !slices.ContainsFunc(p.tools, func(t string) bool { return slices.Contains(offered, t) }) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(p.text)
	}
	return b.String()
}

// debugLogsGuideURI is where the logs guide is served as a resource, as
// Buildkite's own server serves its guide.
const debugLogsGuideURI = "buildkite://debug-logs-guide"

// addGuidance adds the prompts and the resource every caller gets,
// whatever tools policy grants them.
func addGuidance(srv *mcp.Server, offered []string, version string) {
	has := func(name string) bool { return slices.Contains(offered, name) }
	srv.AddPrompt(&mcp.Prompt{
		Name:        "user_token_organization_prompt",
		Title:       "Start from the token's organization",
		Description: "When asked about the user's pipelines or builds, start by finding the Buildkite organization kitegate works in",
	}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		text := "Before answering questions about my Buildkite pipelines or builds, call the user_token_organization tool " +
			"to find the organization kitegate's token belongs to, and use its slug as org_slug in the calls that follow. " +
			"Then list_pipelines finds the pipelines."
		if !has("user_token_organization") {
			text = "kitegate has not granted you user_token_organization, so you cannot look the organization up: ask me for " +
				"the Buildkite organization slug and use it as org_slug in the calls that follow."
		}
		return userPrompt("Find the Buildkite organization first", text), nil
	})
	srv.AddPrompt(&mcp.Prompt{
		Name:        "report_issue",
		Title:       "Report a problem with kitegate",
		Description: "Write a copyable report of a problem with this server (failed tool calls, unexpected results, missing tools) for its administrators",
	}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		client := "unknown"
		if req != nil && req.Session != nil {
			if ip := req.Session.InitializeParams(); ip != nil && ip.ClientInfo != nil && ip.ClientInfo.Name != "" {
				client = strings.TrimSpace(ip.ClientInfo.Name + " " + ip.ClientInfo.Version)
			}
		}
		return userPrompt("Report a problem with kitegate", fmt.Sprintf(reportIssueText, version, client)), nil
	})
	title, guide, ok := tools.Guide("debug-logs-guide")
	if !ok {
		return // the catalog's own tests hold that the guide exists
	}
	srv.AddResource(&mcp.Resource{
		URI:         debugLogsGuideURI,
		Name:        "debug-logs-guide",
		Title:       title,
		Description: "How to find why a Buildkite job failed from its log with kitegate's tools",
		MIMEType:    "text/markdown",
		Size:        int64(len(guide)),
	}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: debugLogsGuideURI, MIMEType: "text/markdown", Text: guide}}}, nil
	})
}

func userPrompt(description, text string) *mcp.GetPromptResult {
	return &mcp.GetPromptResult{
		Description: description,
		Messages:    []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}},
	}
}

const reportIssueText = `Help me report a problem with kitegate, the governed Buildkite MCP server I am using.

Look back over this conversation for kitegate tool calls that failed, were refused, or answered differently than I expected, and write a report I can copy and send to kitegate's administrators.

While writing it:
- Leave out every secret: tokens, credentials, environment variable values, signed or private URLs. Write [REDACTED] in their place.
- Quote only a few relevant lines of any log, never whole logs.
- Use only what this conversation shows; write "unknown" where something is missing.

Put the report in one fenced Markdown code block, laid out like this:

## Summary
One sentence: what went wrong.

## Environment
- kitegate version: %s
- MCP client: %s
- When: the date and time of the failing calls, if known (administrators find calls in kitegate's audit log by time and tool)

## Tool calls
For each call that went wrong: the tool, its arguments as JSON (redacted), what happened (the error or the unexpected result), and what should have happened.

## What I was trying to do
One or two sentences.

## Anything else
Or "none".`
