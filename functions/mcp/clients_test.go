package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/tools"
)

// The MCP client matrix: the clients people use, against the real server
// over HTTP on 127.0.0.1, each on a server of its own (a fresh simulator,
// a throwaway state directory, a policy approving every tool). The Node
// clients come from infra/local/mcpclients.sh (pinned npm versions, see
// docs/clients.md); `make test` runs this beside it.

// protocolVersions are the MCP revisions the TypeScript client is run
// under, each offered at initialize as a client of that revision would.
var protocolVersions = []string{"2025-03-26", "2025-06-18", "2025-11-25"}

// conformanceScenarios are the MCP conformance suite's server scenarios
// that apply to kitegate. The others call the reference server's own
// fixtures (tools-call-*, prompts-get-*, resources-read-*, ...), which a
// Buildkite server does not have.
var conformanceScenarios = []string{"server-initialize", "ping", "tools-list", "dns-rebinding-protection", "logging-set-level", "resources-list", "prompts-list"}

func TestClientMatrix(t *testing.T) {
	node, modules := matrixNode(t)
	cat, err := tools.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	schemas := map[string]json.RawMessage{}
	for _, tl := range cat.Tools() {
		names = append(names, tl.Name())
		if s := tl.OutputSchema(); s != nil {
			schemas[tl.Name()] = s
		}
	}
	policy := approveAll(t, names)
	// Reads and writes each on a server of their own: the simulator keeps
	// Buildkite's per-minute rate limit, which all 54 in a row would hit.
	reads, writes := callPlan(t, startServer(t, policy))
	plans := [][]toolCall{reads, writes}
	var planned []string
	for _, c := range slices.Concat(reads, writes) {
		planned = append(planned, c.Name)
	}
	slices.Sort(planned)
	if !slices.Equal(planned, names) {
		t.Fatalf("the plan calls %v, the catalog has %v: every tool must be called once", planned, names)
	}

	t.Run("go-sdk", func(t *testing.T) {
		for _, plan := range plans {
			cs := connect(t, startServer(t, policy))
			listed, err := cs.ListTools(t.Context(), nil)
			if err != nil {
				t.Fatalf("go-sdk: tools/list: %v", err)
			}
			if len(listed.Tools) != len(names) {
				t.Errorf("go-sdk: tools/list has %d tools, want %d", len(listed.Tools), len(names))
			}
			for _, c := range plan {
				if msg := goCall(t.Context(), cs, c, schemas[c.Name]); msg != "" {
					t.Errorf("go-sdk: %s: %s", c.Name, msg)
				}
			}
		}
	})

	for _, version := range protocolVersions {
		t.Run("typescript-sdk/"+version, func(t *testing.T) {
			for _, plan := range plans {
				in, err := json.Marshal(map[string]any{
					"modules": modules, "url": startServer(t, policy), "protocolVersion": version,
					"calls": plan, "outputSchemas": schemas,
				})
				if err != nil {
					t.Fatal(err)
				}
				stdout := runNode(t, node, bytes.NewReader(in), filepath.Join("testdata", "tsclient.mjs"))
				var got struct {
					ProtocolVersion string
					Tools           []string
					ListError       string
					Calls           []struct{ Name, Error string }
				}
				if err := json.Unmarshal(stdout, &got); err != nil {
					t.Fatalf("typescript-sdk %s: output %q: %v", version, stdout, err)
				}
				if got.ProtocolVersion != version {
					t.Errorf("typescript-sdk: negotiated protocol %q, want %q", got.ProtocolVersion, version)
				}
				if got.ListError != "" {
					t.Fatalf("typescript-sdk %s: tools/list: %s", version, got.ListError)
				}
				if len(got.Tools) != len(names) {
					t.Errorf("typescript-sdk %s: tools/list has %d tools, want %d", version, len(got.Tools), len(names))
				}
				if len(got.Calls) != len(plan) {
					t.Fatalf("typescript-sdk %s: %d calls reported, want %d", version, len(got.Calls), len(plan))
				}
				for _, c := range got.Calls {
					if c.Error != "" {
						t.Errorf("typescript-sdk %s: %s: %s", version, c.Name, c.Error)
					}
				}
			}
		})
	}

	t.Run("inspector-cli", func(t *testing.T) {
		cmd := exec.CommandContext(t.Context(), node, filepath.Join(modules, "@modelcontextprotocol/inspector/clients/launcher/build/index.js"),
			"--cli", startServer(t, policy), "--transport", "http", "--method", "tools/list", "--strict")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil || strings.Contains(stderr.String(), "Warning") || strings.Contains(stderr.String(), "Error") || strings.Contains(stderr.String(), "portability") {
			t.Fatalf("inspector-cli: tools/list --strict: %v\n%s", err, stderr.String())
		}
		var list struct{ Tools []struct{ Name string } }
		if err := json.Unmarshal(stdout.Bytes(), &list); err != nil || len(list.Tools) != len(names) {
			t.Errorf("inspector-cli: tools/list printed %d tools (%v), want %d", len(list.Tools), err, len(names))
		}
	})

	t.Run("conformance", func(t *testing.T) {
		url := startServer(t, policy)
		passed := regexp.MustCompile(`Passed: (\d+)/(\d+), 0 failed, 0 warnings`)
		for _, scenario := range conformanceScenarios {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			out, err := exec.CommandContext(ctx, node, filepath.Join(modules, "@modelcontextprotocol/conformance/dist/index.js"),
				"server", "--url", url, "--scenario", scenario).CombinedOutput()
			cancel()
			m := passed.FindSubmatch(out)
			if err != nil || m == nil || string(m[1]) != string(m[2]) {
				t.Errorf("conformance: %s: %v\n%s", scenario, err, out)
			}
		}
	})
}

// matrixNode is the Node 22 binary and the node_modules infra/local/mcpclients.sh
// installed. Without them the matrix skips, except in CI, where it fails.
func matrixNode(t *testing.T) (node, modules string) {
	node, modules = os.Getenv("KITEGATE_TEST_NODE"), os.Getenv("KITEGATE_MCP_CLIENTS")
	if node != "" && modules != "" {
		return node, modules
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the MCP client matrix needs Node 22 and the npm clients: run the tests under infra/local/mcpclients.sh (make test does)")
	}
	t.Skip("the MCP client matrix needs Node 22 and the npm clients: run under infra/local/mcpclients.sh (make test does)")
	return "", ""
}

func runNode(t *testing.T, node string, stdin *bytes.Reader, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", filepath.Base(args[0]), err, out, stderr.String())
	}
	return out
}

// approveAll writes a policy approving every tool for every caller and
// returns the environment that makes a server use it.
func approveAll(t testing.TB, names []string) map[string]string {
	var b strings.Builder
	b.WriteString("default_state: pending_review\nserver: enabled\ntools:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  - {name: %s, state: approved}\n", n)
	}
	fmt.Fprintf(&b, "toolsets:\n  - {name: everything, tools: [%s]}\n", strings.Join(names, ", "))
	b.WriteString("profiles:\n  - {name: everyone, toolsets: [everything], groups: [\"*\"]}\n")
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"KITEGATE_POLICY_FILE": path}
}

// startServer runs the function as `make run` does (local mode, the bundled
// simulator, a throwaway state directory and audit file) on a free loopback
// port, with env over those defaults, and returns its MCP URL.
func startServer(t testing.TB, env map[string]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	all := map[string]string{
		"KITEGATE_ADDR":       addr,
		"KITEGATE_STATE_DIR":  filepath.Join(dir, "state"),
		"KITEGATE_AUDIT_FILE": filepath.Join(dir, "audit.jsonl"),
		"KITEGATE_LOG_LEVEL":  "error",
	}
	maps.Copy(all, env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) (string, bool) { v, ok := all[k]; return v, ok }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	waitReady(t, "http://"+addr+"/healthz")
	return "http://" + addr + "/mcp"
}

func connect(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "kitegate-client-matrix", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Timeout: time.Minute}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// toolCall is one call of the plan.
type toolCall struct {
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
}

// goCall makes a call with the Go SDK client and says what is wrong with
// its result, if anything: a tool error, or structured content that is
// missing, breaks the tool's output schema or differs from the text block.
func goCall(ctx context.Context, cs *mcp.ClientSession, c toolCall, schema json.RawMessage) string {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: c.Name, Arguments: c.Arguments})
	switch {
	case err != nil:
		return err.Error()
	case res.IsError:
		return "tool error: " + text(res)
	case schema == nil:
		return ""
	case res.StructuredContent == nil:
		return "no structured content"
	}
	s := new(jsonschema.Schema)
	if err := json.Unmarshal(schema, s); err != nil {
		return err.Error()
	}
	resolved, err := s.Resolve(nil)
	if err != nil {
		return err.Error()
	}
	var sc, tx any
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &sc); err != nil {
		return err.Error()
	}
	if err := resolved.Validate(sc); err != nil {
		return "structured content does not match the output schema: " + err.Error()
	}
	if err := json.Unmarshal([]byte(text(res)), &tx); err != nil || !jsonEqual(sc, tx) {
		return "the text block and the structured content differ"
	}
	return ""
}

func text(res *mcp.CallToolResult) string {
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			return tc.Text
		}
	}
	return ""
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// callPlan is one valid call of every tool, reads and writes, with ids read
// from the seeded simulator through the server at url (every server's
// simulator is seeded alike). Each write has a target of its own, so the
// writes run in order on a fresh server.
func callPlan(t *testing.T, url string) (reads, writes []toolCall) {
	t.Helper()
	cs := connect(t, url)
	get := func(name string, args map[string]any) map[string]any {
		t.Helper()
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError {
			t.Fatalf("plan: %s %v: %v %s", name, args, err, text(res))
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(text(res)), &m); err != nil {
			t.Fatalf("plan: %s: %v", name, err)
		}
		return m
	}
	items := func(m map[string]any, key string) []map[string]any {
		var out []map[string]any
		list, _ := m[key].([]any)
		for _, it := range list {
			if o, ok := it.(map[string]any); ok {
				out = append(out, o)
			}
		}
		return out
	}
	find := func(what string, list []map[string]any, match func(map[string]any) bool) map[string]any {
		t.Helper()
		for _, it := range list {
			if match(it) {
				return it
			}
		}
		t.Fatalf("plan: no %s in %v", what, list)
		return nil
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	org, pipeline, suite := buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.SeedSuite
	a := func(kv ...any) map[string]any {
		m := map[string]any{"org_slug": org}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	// Build numbers as integers, the way outputs give them: what a model
	// copies must work.
	failed, blocked, running := buildkitetest.FailedBuild, buildkitetest.BlockedBuild, buildkitetest.RunningBuild
	build := func(n int, kv ...any) map[string]any {
		return a(append([]any{"pipeline_slug", pipeline, "build_number", n}, kv...)...)
	}

	jobs := items(get("list_jobs", build(failed, "per_page", 100)), "items")
	rspec := str(find("failed RSpec job", jobs, func(j map[string]any) bool { return j["name"] == buildkitetest.LongLogJobName }), "id")
	gate := str(find("block step", items(get("list_jobs", build(blocked, "per_page", 100)), "items"), func(j map[string]any) bool { return j["type"] == "manual" }), "id")
	artifact := find("artifact", items(get("list_artifacts_for_build", build(failed)), "items"), func(map[string]any) bool { return true })
	upload := str(find("step upload", items(get("list_step_uploads", build(failed)), "items"), func(map[string]any) bool { return true }), "uuid")
	runs := get("get_build_test_engine_runs", build(failed))
	run := find("Test Engine run", items(runs, "runs"), func(r map[string]any) bool { return r["suite_slug"] == suite })
	test := str(find("test", items(get("list_tests", a("test_suite_slug", suite)), "items"), func(map[string]any) bool { return true }), "id")
	clusters := items(get("list_clusters", a()), "items")
	cluster := str(find("cluster", clusters, func(map[string]any) bool { return true }), "id")
	queues := items(get("list_cluster_queues", a("cluster_id", cluster)), "items")
	paused := find("paused queue", queues, func(q map[string]any) bool { return q["dispatch_paused"] == true })
	active := find("active queue", queues, func(q map[string]any) bool { return q["dispatch_paused"] != true })
	agent := str(find("agent", items(get("list_agents", a()), "items"), func(map[string]any) bool { return true }), "id")
	schedule := str(find("schedule", items(get("list_pipeline_schedules", a("pipeline_slug", pipeline)), "items"), func(map[string]any) bool { return true }), "id")
	skill := str(find("skill", items(get("list_skills", map[string]any{}), "items"), func(map[string]any) bool { return true }), "name")
	if str(paused, "cluster_id") != "" && str(paused, "cluster_id") != cluster {
		t.Fatalf("plan: queue of another cluster: %v", paused)
	}
	job := func(n int, id string, kv ...any) map[string]any {
		return build(n, append([]any{"job_id", id}, kv...)...)
	}

	reads = []toolCall{
		{"current_user", map[string]any{}},
		{"user_token_organization", map[string]any{}},
		{"access_token", map[string]any{}},
		{"list_pipelines", a()},
		{"get_pipeline", a("pipeline_slug", pipeline, "detail_level", "full")},
		{"list_builds", a("pipeline_slug", pipeline, "include_jobs", true)},
		{"get_build", build(failed, "include_jobs", true)},
		{"list_jobs", build(failed, "detail_level", "full", "include_agent", true)},
		{"get_job", a("job_id", rspec, "pipeline_slug", pipeline, "build_number", failed)},
		{"get_job_env", job(failed, rspec)},
		{"tail_logs", job(failed, rspec)},
		{"read_logs", job(failed, rspec, "limit", 20)},
		{"search_logs", job(failed, rspec, "pattern", "fail", "context", 1)},
		{"get_build_test_engine_runs", build(failed)},
		{"wait_for_build", build(failed, "wait_timeout", 1)},
		{"list_step_uploads", build(failed)},
		{"get_step_upload", build(failed, "upload_uuid", upload)},
		{"get_build_failure_summary", build(failed)},
		{"list_annotations", build(failed)},
		{"list_artifacts_for_build", build(failed)},
		{"list_artifacts_for_job", job(failed, str(artifact, "job_id"))},
		{"get_artifact", job(failed, str(artifact, "job_id"), "artifact_id", str(artifact, "id"))},
		{"list_tests", a("test_suite_slug", suite, "sort_by", "reliability", "order", "asc")},
		{"get_test", a("test_suite_slug", suite, "test_id", test)},
		{"list_tests_for_build", a("build_uuid", str(runs, "build_id"))},
		{"list_test_runs", a("test_suite_slug", suite)},
		{"get_test_run", a("test_suite_slug", suite, "run_id", str(run, "run_id"))},
		{"get_failed_executions", a("test_suite_slug", suite, "run_id", str(run, "run_id"), "include_failure_expanded", true)},
		{"list_clusters", a()},
		{"get_cluster", a("cluster_id", cluster)},
		{"list_cluster_queues", a("cluster_id", cluster)},
		{"get_cluster_queue", a("cluster_id", cluster, "queue_id", str(active, "id"))},
		{"list_agents", a("detail_level", "detailed")},
		{"get_agent", a("agent_id", agent, "detail_level", "full")},
		{"list_pipeline_schedules", a("pipeline_slug", pipeline)},
		{"get_pipeline_schedule", a("pipeline_slug", pipeline, "schedule_id", schedule)},
		{"list_skills", map[string]any{}},
		{"load_skill", map[string]any{"skill_name": skill}},
	}
	writes = []toolCall{
		{"create_build", a("pipeline_slug", pipeline, "branch", "main", "message", "client matrix", "environment", map[string]any{"CI_MATRIX": "1"})},
		{"cancel_build", build(running)},
		{"rebuild_build", build(failed)},
		{"retry_job", job(failed, rspec)},
		{"unblock_job", job(blocked, gate)},
		{"create_annotation", build(failed, "body", "client matrix", "context", "client-matrix", "style", "info")},
		{"create_pipeline", a("name", "Client matrix", "repository_url", "https://git.acme.example/matrix.git")},
		{"update_pipeline", a("pipeline_slug", pipeline, "description", "client matrix")},
		{"create_pipeline_schedule", a("pipeline_slug", pipeline, "cronline", "@daily", "label", "client matrix")},
		{"update_pipeline_schedule", a("pipeline_slug", pipeline, "schedule_id", schedule, "enabled", false)},
		{"create_cluster", a("name", "Client matrix")},
		{"update_cluster", a("cluster_id", cluster, "description", "client matrix")},
		{"create_cluster_queue", a("cluster_id", cluster, "key", "client-matrix")},
		{"update_cluster_queue", a("cluster_id", cluster, "queue_id", str(active, "id"), "description", "client matrix")},
		{"pause_cluster_queue_dispatch", a("cluster_id", cluster, "queue_id", str(active, "id"), "note", "client matrix")},
		{"resume_cluster_queue_dispatch", a("cluster_id", cluster, "queue_id", str(paused, "id"))},
	}
	return reads, writes
}

// BenchmarkToolList reports what the tools/list result (compact JSON) costs
// a conversation's context, with every tool approved and under the built-in
// policy (infra/policy.yaml), beside Buildkite's own server's 44,444 bytes
// for its 54 tools. Tokens are approximated as bytes/4.
func BenchmarkToolList(b *testing.B) {
	cat, err := tools.Default(nil)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for _, tl := range cat.Tools() {
		names = append(names, tl.Name())
	}
	for _, bc := range []struct {
		name string
		env  map[string]string
	}{{"all-approved", approveAll(b, names)}, {"default-policy", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			url := startServer(b, bc.env)
			var size, n int
			for b.Loop() {
				size, n = toolListSize(b, url)
			}
			b.ReportMetric(float64(size), "bytes")
			b.ReportMetric(float64(n), "tools")
			b.ReportMetric(float64(size)/float64(n), "bytes/tool")
			b.ReportMetric(float64(size)/4, "tokens~")
		})
	}
}

// toolListSize is the size of the compact JSON tools/list result at url
// and how many tools it holds.
func toolListSize(tb testing.TB, url string) (size, tools int) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var msg struct {
		Result json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&msg); err != nil {
		tb.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, msg.Result); err != nil {
		tb.Fatal(err)
	}
	var list struct{ Tools []json.RawMessage }
	if err := json.Unmarshal(compact.Bytes(), &list); err != nil || len(list.Tools) == 0 {
		tb.Fatalf("tools/list result %.200s: %v", compact.Bytes(), err)
	}
	return compact.Len(), len(list.Tools)
}
