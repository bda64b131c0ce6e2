package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/tools"
)

// upstreamArgs is every argument Buildkite's own MCP server takes, tool by
// tool, with its type there: str, int, bool, map, [str] (a list of strings)
// or [kv] (a list of {key, value}); "?" marks an argument that may be null,
// "*" one that is required. From /work/shared/upstream-parity.md §2.
var upstreamArgs = map[string]map[string]string{
	"access_token":                  {},
	"current_user":                  {},
	"user_token_organization":       {},
	"create_cluster":                {"name": "str*", "org_slug": "str*", "color": "str", "description": "str", "emoji": "str"},
	"create_cluster_queue":          {"cluster_id": "str*", "key": "str*", "org_slug": "str*", "description": "str"},
	"get_cluster":                   {"cluster_id": "str*", "org_slug": "str*"},
	"get_cluster_queue":             {"cluster_id": "str*", "org_slug": "str*", "queue_id": "str*"},
	"list_cluster_queues":           {"cluster_id": "str*", "org_slug": "str*", "page": "int", "per_page": "int"},
	"list_clusters":                 {"org_slug": "str*", "page": "int", "per_page": "int"},
	"pause_cluster_queue_dispatch":  {"cluster_id": "str*", "org_slug": "str*", "queue_id": "str*", "note": "str"},
	"resume_cluster_queue_dispatch": {"cluster_id": "str*", "org_slug": "str*", "queue_id": "str*"},
	"update_cluster": {"cluster_id": "str*", "org_slug": "str*", "color": "str?", "default_queue_id": "str?",
		"description": "str?", "emoji": "str?", "name": "str?"},
	"update_cluster_queue": {"cluster_id": "str*", "org_slug": "str*", "queue_id": "str*", "description": "str?", "retry_agent_affinity": "str?"},
	"get_agent":            {"agent_id": "str*", "org_slug": "str*", "detail_level": "str"},
	"list_agents": {"org_slug": "str*", "detail_level": "str", "hostname": "str", "name": "str", "page": "int",
		"per_page": "int", "version": "str"},
	"create_pipeline": {"cluster_id": "str*", "configuration": "str*", "name": "str*", "org_slug": "str*", "repository_url": "str*",
		"cancel_running_branch_builds": "bool", "create_webhook": "bool", "default_branch": "str", "description": "str",
		"skip_queued_branch_builds": "bool", "tags": "[str]?"},
	"create_pipeline_schedule": {"cronline": "str*", "org_slug": "str*", "pipeline_slug": "str*", "branch": "str", "commit": "str",
		"enabled": "bool?", "env": "map", "label": "str", "message": "str"},
	"get_pipeline":            {"org_slug": "str*", "pipeline_slug": "str*", "detail_level": "str"},
	"get_pipeline_schedule":   {"org_slug": "str*", "pipeline_slug": "str*", "schedule_id": "str*"},
	"list_pipeline_schedules": {"org_slug": "str*", "pipeline_slug": "str*", "page": "int", "per_page": "int"},
	"list_pipelines": {"org_slug": "str*", "detail_level": "str", "name": "str", "page": "int", "per_page": "int",
		"repository": "str"},
	"update_pipeline": {"org_slug": "str*", "pipeline_slug": "str*", "cancel_running_branch_builds": "bool?", "cluster_id": "str?",
		"configuration": "str?", "default_branch": "str?", "description": "str?", "name": "str?", "repository_url": "str?",
		"skip_queued_branch_builds": "bool?", "tags": "[str]?"},
	"update_pipeline_schedule": {"org_slug": "str*", "pipeline_slug": "str*", "schedule_id": "str*", "branch": "str?", "commit": "str?",
		"cronline": "str?", "enabled": "bool?", "env": "map", "label": "str?", "message": "str?"},
	"cancel_build": {"build_number": "str*", "org_slug": "str*", "pipeline_slug": "str*"},
	"create_build": {"branch": "str*", "commit": "str*", "message": "str*", "org_slug": "str*", "pipeline_slug": "str*",
		"environment": "[kv]?", "ignore_branch_filters": "bool", "metadata": "[kv]?"},
	"get_build":                  {"build_number": "str*", "org_slug": "str*", "pipeline_slug": "str*"},
	"get_build_test_engine_runs": {"build_number": "str*", "org_slug": "str*", "pipeline_slug": "str*"},
	"get_job":                    {"job_id": "str*", "org_slug": "str*", "build_number": "str", "include_agent": "bool", "pipeline_slug": "str"},
	"get_job_env":                {"build_number": "str*", "job_id": "str*", "org_slug": "str*", "pipeline_slug": "str*"},
	"get_step_upload":            {"build_number": "str*", "org_slug": "str*", "pipeline_slug": "str*", "upload_uuid": "str*"},
	"list_builds": {"org_slug": "str*", "branch": "str", "commit": "str", "creator": "str", "page": "int", "per_page": "int",
		"pipeline_slug": "str", "state": "str"},
	"list_jobs": {"build_number": "str*", "org_slug": "str*", "pipeline_slug": "str*", "after": "str", "before": "str",
		"detail_level": "str", "group_key": "str", "include_agent": "bool", "include_retried_jobs": "bool?", "per_page": "int",
		"state": "str", "step_key": "str"},
	"list_step_uploads": {"build_number": "str*", "org_slug": "str*", "pipeline_slug": "str*", "after": "str", "before": "str",
		"per_page": "int", "source_job_id": "str"},
	"rebuild_build":            {"build_number": "str*", "org_slug": "str*", "pipeline_slug": "str*"},
	"retry_job":                {"build_number": "str*", "job_id": "str*", "org_slug": "str*", "pipeline_slug": "str*"},
	"unblock_job":              {"build_number": "str*", "job_id": "str*", "org_slug": "str*", "pipeline_slug": "str*", "fields": "map"},
	"wait_for_build":           {"build_number": "str*", "org_slug": "str*", "pipeline_slug": "str*"},
	"get_artifact":             {"artifact_id": "str*", "build_number": "str*", "job_id": "str*", "org_slug": "str*", "pipeline_slug": "str*"},
	"list_artifacts_for_build": {"build_number": "str*", "org_slug": "str*", "pipeline_slug": "str*", "page": "int", "per_page": "int"},
	"list_artifacts_for_job": {"build_number": "str*", "job_id": "str*", "org_slug": "str*", "pipeline_slug": "str*", "page": "int",
		"per_page": "int"},
	"read_logs": {"build_number": "str*", "job_id": "str*", "org_slug": "str*", "pipeline_slug": "str*", "cache_ttl": "str",
		"force_refresh": "bool", "limit": "int", "seek": "int"},
	"search_logs": {"build_number": "str*", "job_id": "str*", "org_slug": "str*", "pattern": "str*", "pipeline_slug": "str*",
		"after_context": "int", "before_context": "int", "cache_ttl": "str", "case_sensitive": "bool", "context": "int",
		"force_refresh": "bool", "invert_match": "bool", "limit": "int", "reverse": "bool", "seek_start": "int"},
	"tail_logs": {"build_number": "str*", "job_id": "str*", "org_slug": "str*", "pipeline_slug": "str*", "cache_ttl": "str",
		"force_refresh": "bool", "tail": "int"},
	"get_failed_executions": {"org_slug": "str*", "run_id": "str*", "test_suite_slug": "str*", "include_failure_expanded": "bool",
		"page": "int", "per_page": "int"},
	"get_test":       {"org_slug": "str*", "test_id": "str*", "test_suite_slug": "str*"},
	"get_test_run":   {"org_slug": "str*", "run_id": "str*", "test_suite_slug": "str*"},
	"list_test_runs": {"org_slug": "str*", "test_suite_slug": "str*", "page": "int", "per_page": "int"},
	"list_tests": {"org_slug": "str*", "test_suite_slug": "str*", "branch": "str", "labels": "str", "max_timestamp": "str",
		"min_timestamp": "str", "order": "str", "owners": "str", "page": "int", "per_page": "int", "period": "str",
		"sort_by": "str", "state": "str", "tags": "str"},
	"list_tests_for_build": {"build_uuid": "str*", "org_slug": "str*", "branch": "str", "labels": "str", "order": "str",
		"owners": "str", "page": "int", "per_page": "int", "sort_by": "str", "state": "str", "tags": "str"},
	"create_annotation": {"body": "str*", "build_number": "str*", "org_slug": "str*", "pipeline_slug": "str*", "append": "bool",
		"context": "str", "job_id": "str", "priority": "int", "scope": "str", "style": "str"},
	"list_annotations": {"build_number": "str*", "org_slug": "str*", "pipeline_slug": "str*", "job_id": "str", "page": "int",
		"per_page": "int", "scope": "str"},
	"get_build_failure_summary": {"build_number": "str*", "org_slug": "str*", "pipeline_slug": "str*",
		"include_annotations": "bool?", "include_failed_tests": "bool?", "include_failure_expanded": "bool", "include_logs": "bool?",
		"log_tail": "int", "max_annotations": "int", "max_failed_tests": "int", "max_failed_tests_per_run": "int",
		"max_jobs": "int", "max_test_runs": "int"},
	"list_skills": {"query": "str"},
	"load_skill":  {"skill_name": "str*"},
}

// jsonType is the JSON Schema type an upstream type needs accepted. Null,
// where upstream takes it, is not announced (kitegate's schemas have no type
// arrays, which strict clients refuse): the calls below send it.
func jsonType(upstream string) string {
	base, _ := strings.CutSuffix(strings.TrimSuffix(upstream, "*"), "?")
	return map[string]string{"str": "string", "int": "integer", "bool": "boolean", "map": "object", "[str]": "array", "[kv]": "array"}[base]
}

// TestParityArguments checks every tool's announced input schema against
// upstream's arguments: each one is there, accepts upstream's type, and
// kitegate requires nothing upstream does not.
func TestParityArguments(t *testing.T) {
	e := newMCP(t)
	res, err := e.cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) != len(upstreamArgs) {
		t.Errorf("%d tools, upstream has %d", len(res.Tools), len(upstreamArgs))
	}
	same := 0
	for _, tool := range res.Tools {
		want, ok := upstreamArgs[tool.Name]
		if !ok {
			t.Errorf("%s: not an upstream tool", tool.Name)
			continue
		}
		type items struct {
			Type string `json:"type"`
		}
		type branch struct {
			Type  string `json:"type"`
			Items *items `json:"items"`
		}
		var schema struct {
			Properties map[string]struct {
				branch
				AnyOf []branch `json:"anyOf"`
			} `json:"properties"`
			Required []string `json:"required"`
		}
		b, _ := json.Marshal(tool.InputSchema)
		if err := json.Unmarshal(b, &schema); err != nil {
			t.Fatal(err)
		}
		var problems []string
		for _, name := range slices.Sorted(maps.Keys(want)) {
			p, ok := schema.Properties[name]
			if !ok {
				problems = append(problems, name+" missing")
				continue
			}
			branches := append([]branch{p.branch}, p.AnyOf...)
			jt := jsonType(want[name])
			i := slices.IndexFunc(branches, func(b branch) bool { return b.Type == jt || jt == "integer" && b.Type == "number" })
			switch {
			case i < 0:
				problems = append(problems, fmt.Sprintf("%s: %+v does not accept %s", name, branches, jt))
			case strings.HasPrefix(want[name], "[kv]") && (branches[i].Items == nil || branches[i].Items.Type != "object"):
				problems = append(problems, name+": items are not {key, value} objects")
			}
		}
		for _, r := range schema.Required {
			if !strings.HasSuffix(want[r], "*") {
				problems = append(problems, r+" required, upstream does not require it")
			}
		}
		if len(problems) == 0 {
			same++
			continue
		}
		t.Errorf("%s: %s", tool.Name, strings.Join(problems, "; "))
	}
	t.Logf("%d of %d tools accept upstream's argument set", same, len(upstreamArgs))
}

// parityCall is one upstream-shaped call; ids holds what earlier calls found.
type parityCall struct {
	tool string
	args func(ids map[string]string) map[string]any
	// keep reads ids out of the answer for later calls.
	keep func(t *testing.T, ids map[string]string, out map[string]any)
}

func TestParityUpstreamShapedCalls(t *testing.T) {
	// More calls than one token user may make in a minute.
	// The simulator's clock is pinned beside its seed (the newest seeded
	// build is from 2026-11-24): a period such as 7days counts back from
	// that clock, and on the wall clock the seeded test runs fall out of
	// the window a week after the seed.
	seedDay := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	e := newMCP(t, buildkitetest.WithUserRateLimit(1000), buildkitetest.WithOrgRateLimit(1000),
		buildkitetest.WithClock(func() time.Time { return seedDay }))
	org, pipe := buildkitetest.SeedOrg, buildkitetest.SeedPipeline
	failed := jsonInt(buildkitetest.FailedBuild)
	b := func(n string, extra ...any) map[string]any {
		m := map[string]any{"org_slug": org, "pipeline_slug": pipe, "build_number": n}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	calls := parityCalls(org, pipe, failed, b)
	used := map[string]map[string]bool{}
	ids := map[string]string{}
	for _, c := range calls {
		args := c.args(ids)
		if used[c.tool] == nil {
			used[c.tool] = map[string]bool{}
		}
		for k := range args {
			used[c.tool][k] = true
		}
		res := e.call(c.tool, args)
		if res.IsError {
			t.Errorf("%s %v: %s", c.tool, args, tools.Text(res))
			continue
		}
		if c.keep != nil {
			var out map[string]any
			if err := json.Unmarshal([]byte(tools.Text(res)), &out); err != nil {
				t.Fatalf("%s: %v", c.tool, err)
			}
			c.keep(t, ids, out)
		}
	}
	var missing []string
	for tool, want := range upstreamArgs {
		for arg := range want {
			if !used[tool][arg] {
				missing = append(missing, tool+"."+arg)
			}
		}
		if used[tool] == nil {
			missing = append(missing, tool+" (never called)")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("upstream arguments never used: %s", strings.Join(missing, ", "))
	}
}

// first returns field of the first item of out["items"].
func first(t *testing.T, out map[string]any, field string) string {
	t.Helper()
	items, _ := out["items"].([]any)
	if len(items) == 0 {
		t.Fatalf("no items in %v", out)
	}
	v, _ := items[0].(map[string]any)[field].(string)
	return v
}

// item returns field of the item of out["items"] (or of out[list]) for
// which match holds.
func item(t *testing.T, out map[string]any, list, field string, match func(map[string]any) bool) string {
	t.Helper()
	items, _ := out[list].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		if match == nil || match(m) {
			v, _ := m[field].(string)
			return v
		}
	}
	t.Fatalf("no matching item in %s of %v", list, out)
	return ""
}

func has(field, want string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m[field] == want }
}

// parityCalls are calls written as for Buildkite's own server: together
// they use every argument it takes, each with its type there.
func parityCalls(org, pipe, failed string, b func(string, ...any) map[string]any) []parityCall {
	o := func(extra ...any) map[string]any {
		m := map[string]any{"org_slug": org}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	fixed := func(m map[string]any) func(map[string]string) map[string]any {
		return func(map[string]string) map[string]any { return m }
	}
	blocked, running := jsonInt(buildkitetest.BlockedBuild), jsonInt(buildkitetest.RunningBuild)
	kv := func(k, v string) []any { return []any{map[string]any{"key": k, "value": v}} }
	return []parityCall{
		{tool: "access_token", args: fixed(map[string]any{})},
		{tool: "current_user", args: fixed(map[string]any{})},
		{tool: "user_token_organization", args: fixed(map[string]any{})},
		{tool: "list_skills", args: fixed(map[string]any{"query": "logs"})},
		{tool: "load_skill", args: fixed(map[string]any{"skill_name": "debug-logs-guide"})},

		// clusters
		{tool: "list_clusters", args: fixed(o("page", 1, "per_page", 10)), keep: func(t *testing.T, ids map[string]string, out map[string]any) {
			ids["cluster"] = first(t, out, "id")
		}},
		{tool: "get_cluster", args: func(ids map[string]string) map[string]any { return o("cluster_id", ids["cluster"]) }},
		{tool: "list_cluster_queues", args: func(ids map[string]string) map[string]any {
			return o("cluster_id", ids["cluster"], "page", 1, "per_page", 10)
		}, keep: func(t *testing.T, ids map[string]string, out map[string]any) { ids["queue"] = first(t, out, "id") }},
		{tool: "get_cluster_queue", args: func(ids map[string]string) map[string]any {
			return o("cluster_id", ids["cluster"], "queue_id", ids["queue"])
		}},
		{tool: "create_cluster", args: fixed(o("name", "Parity", "description", "made by the parity suite", "emoji", ":test_tube:", "color", "#FFE0F1")),
			keep: func(t *testing.T, ids map[string]string, out map[string]any) {
				ids["newcluster"], _ = out["id"].(string)
			}},
		{tool: "create_cluster_queue", args: func(ids map[string]string) map[string]any {
			return o("cluster_id", ids["newcluster"], "key", "parity", "description", "parity queue")
		}, keep: func(t *testing.T, ids map[string]string, out map[string]any) { ids["newqueue"], _ = out["id"].(string) }},
		{tool: "update_cluster", args: func(ids map[string]string) map[string]any {
			return o("cluster_id", ids["newcluster"], "name", "Parity 2", "description", "", "emoji", nil, "color", "#000000",
				"default_queue_id", ids["newqueue"])
		}},
		{tool: "update_cluster_queue", args: func(ids map[string]string) map[string]any {
			return o("cluster_id", ids["newcluster"], "queue_id", ids["newqueue"], "description", nil, "retry_agent_affinity", "prefer-different")
		}},
		{tool: "pause_cluster_queue_dispatch", args: func(ids map[string]string) map[string]any {
			return o("cluster_id", ids["newcluster"], "queue_id", ids["newqueue"], "note", "parity")
		}},
		{tool: "resume_cluster_queue_dispatch", args: func(ids map[string]string) map[string]any {
			return o("cluster_id", ids["newcluster"], "queue_id", ids["newqueue"])
		}},

		// agents
		{tool: "list_agents", args: fixed(o("detail_level", "summary", "name", "", "hostname", "", "version", "", "page", 1, "per_page", 5)),
			keep: func(t *testing.T, ids map[string]string, out map[string]any) { ids["agent"] = first(t, out, "id") }},
		{tool: "get_agent", args: func(ids map[string]string) map[string]any {
			return o("agent_id", ids["agent"], "detail_level", "detailed")
		}},

		// pipelines
		{tool: "list_pipelines", args: fixed(o("detail_level", "summary", "name", "web", "repository", "web-app", "page", 1, "per_page", 30))},
		{tool: "get_pipeline", args: fixed(o("pipeline_slug", pipe, "detail_level", "full"))},
		{tool: "create_pipeline", args: func(ids map[string]string) map[string]any {
			return o("name", "Parity app", "repository_url", "git@github.com:acme/parity.git", "cluster_id", ids["cluster"],
				"configuration", "steps:\n  - command: make test\n", "default_branch", "main", "description", "parity",
				"tags", []any{"parity"}, "create_webhook", false, "skip_queued_branch_builds", true, "cancel_running_branch_builds", true)
		}, keep: func(t *testing.T, ids map[string]string, out map[string]any) {
			ids["newpipe"], _ = out["slug"].(string)
		}},
		{tool: "update_pipeline", args: func(ids map[string]string) map[string]any {
			return o("pipeline_slug", ids["newpipe"], "name", "Parity app 2", "repository_url", nil, "cluster_id", ids["cluster"],
				"configuration", "steps:\n  - command: make\n", "default_branch", "trunk", "description", "", "tags", nil,
				"skip_queued_branch_builds", false, "cancel_running_branch_builds", nil)
		}},
		{tool: "list_pipeline_schedules", args: fixed(o("pipeline_slug", pipe, "page", 1, "per_page", 10)),
			keep: func(t *testing.T, ids map[string]string, out map[string]any) { ids["schedule"] = first(t, out, "id") }},
		{tool: "get_pipeline_schedule", args: func(ids map[string]string) map[string]any {
			return o("pipeline_slug", pipe, "schedule_id", ids["schedule"])
		}},
		{tool: "create_pipeline_schedule", args: fixed(o("pipeline_slug", pipe, "cronline", "@daily", "label", "Parity", "message", "parity",
			"commit", "HEAD", "branch", "main", "env", map[string]any{"PARITY": "1"}, "enabled", true)),
			keep: func(t *testing.T, ids map[string]string, out map[string]any) {
				ids["newschedule"], _ = out["id"].(string)
			}},
		{tool: "update_pipeline_schedule", args: func(ids map[string]string) map[string]any {
			return o("pipeline_slug", pipe, "schedule_id", ids["newschedule"], "cronline", "@weekly", "label", nil, "message", "",
				"commit", nil, "branch", "main", "env", map[string]any{"PARITY": "2"}, "enabled", nil)
		}},

		// builds
		{tool: "list_builds", args: fixed(o("pipeline_slug", pipe, "branch", "feature/checkout-v2", "state", "failed", "commit", "",
			"creator", "", "page", 1, "per_page", 30))},
		{tool: "get_build", args: fixed(b(failed)), keep: func(t *testing.T, ids map[string]string, out map[string]any) {
			ids["build_uuid"], _ = out["id"].(string)
			te, _ := out["test_engine"].(map[string]any)
			if te == nil {
				t.Fatalf("get_build: no test_engine")
			}
			ids["run"] = item(t, te, "runs", "id", nil)
		}},
		{tool: "get_build_test_engine_runs", args: fixed(b(failed))},
		{tool: "list_jobs", args: fixed(b(failed, "state", "failed,broken", "step_key", "rspec", "per_page", 50,
			"detail_level", "detailed", "include_agent", true, "include_retried_jobs", false)),
			keep: func(t *testing.T, ids map[string]string, out map[string]any) {
				ids["job"] = item(t, out, "items", "id", has("state", "failed"))
			}},
		{tool: "list_jobs", args: fixed(b(failed, "group_key", "", "after", "", "before", ""))},
		{tool: "get_job", args: func(ids map[string]string) map[string]any {
			return b(failed, "job_id", ids["job"], "include_agent", true)
		}},
		{tool: "get_job_env", args: func(ids map[string]string) map[string]any { return b(failed, "job_id", ids["job"]) }},
		{tool: "list_step_uploads", args: fixed(b(failed, "per_page", 10)), keep: func(t *testing.T, ids map[string]string, out map[string]any) {
			ids["upload"] = first(t, out, "uuid")
			ids["upload_job"] = first(t, out, "source_job_id")
		}},
		{tool: "list_step_uploads", args: func(ids map[string]string) map[string]any {
			return b(failed, "source_job_id", ids["upload_job"], "after", "", "before", "")
		}},
		{tool: "get_step_upload", args: func(ids map[string]string) map[string]any { return b(failed, "upload_uuid", ids["upload"]) }},
		{tool: "wait_for_build", args: fixed(b(failed))},
		{tool: "create_build", args: fixed(o("pipeline_slug", pipe, "branch", "main", "commit", "HEAD", "message", "parity",
			"environment", kv("PARITY", "1"), "metadata", kv("ticket", "PAR-1"), "ignore_branch_filters", true))},
		{tool: "cancel_build", args: fixed(b(running))},
		{tool: "rebuild_build", args: fixed(b(failed))},
		{tool: "retry_job", args: func(ids map[string]string) map[string]any { return b(failed, "job_id", ids["job"]) }},
		{tool: "list_jobs", args: fixed(b(blocked, "state", "blocked")), keep: func(t *testing.T, ids map[string]string, out map[string]any) {
			ids["gate"] = first(t, out, "id")
		}},
		{tool: "unblock_job", args: func(ids map[string]string) map[string]any {
			return b(blocked, "job_id", ids["gate"], "fields", map[string]any{})
		}},

		// artifacts
		{tool: "list_artifacts_for_build", args: fixed(b(failed, "page", 1, "per_page", 100)), keep: func(t *testing.T, ids map[string]string, out map[string]any) {
			ids["artifact"], ids["artifact_job"] = first(t, out, "id"), first(t, out, "job_id")
		}},
		{tool: "list_artifacts_for_job", args: func(ids map[string]string) map[string]any {
			return b(failed, "job_id", ids["artifact_job"], "page", 1, "per_page", 100)
		}},
		{tool: "get_artifact", args: func(ids map[string]string) map[string]any {
			return b(failed, "job_id", ids["artifact_job"], "artifact_id", ids["artifact"])
		}},

		// logs
		{tool: "tail_logs", args: func(ids map[string]string) map[string]any {
			return b(failed, "job_id", ids["job"], "tail", 20, "cache_ttl", "30s", "force_refresh", true)
		}},
		{tool: "read_logs", args: func(ids map[string]string) map[string]any {
			return b(failed, "job_id", ids["job"], "seek", 0, "limit", 50, "cache_ttl", "1m", "force_refresh", false)
		}},
		{tool: "search_logs", args: func(ids map[string]string) map[string]any {
			return b(failed, "job_id", ids["job"], "pattern", "failure", "context", 2, "before_context", 1, "after_context", 1,
				"case_sensitive", false, "invert_match", false, "reverse", true, "seek_start", 0, "limit", 5, "cache_ttl", "30s", "force_refresh", true)
		}},

		// tests
		{tool: "list_test_runs", args: fixed(o("test_suite_slug", buildkitetest.SeedSuite, "page", 1, "per_page", 10))},
		{tool: "get_test_run", args: func(ids map[string]string) map[string]any {
			return o("test_suite_slug", buildkitetest.SeedSuite, "run_id", ids["run"])
		}},
		{tool: "get_failed_executions", args: func(ids map[string]string) map[string]any {
			return o("test_suite_slug", buildkitetest.SeedSuite, "run_id", ids["run"], "include_failure_expanded", true, "page", 1, "per_page", 10)
		}},
		{tool: "list_tests", args: fixed(o("test_suite_slug", buildkitetest.SeedSuite, "period", "7days", "branch", "main", "state", "enabled",
			"tags", "", "labels", "", "owners", "", "sort_by", "reliability", "order", "asc", "page", 1, "per_page", 10)),
			keep: func(t *testing.T, ids map[string]string, out map[string]any) { ids["test"] = first(t, out, "id") }},
		{tool: "list_tests", args: fixed(o("test_suite_slug", buildkitetest.SeedSuite, "min_timestamp", "2026-11-01T00:00:00Z",
			"max_timestamp", "2026-12-01T00:00:00Z"))},
		{tool: "get_test", args: func(ids map[string]string) map[string]any {
			return o("test_suite_slug", buildkitetest.SeedSuite, "test_id", ids["test"])
		}},
		{tool: "list_tests_for_build", args: func(ids map[string]string) map[string]any {
			return o("build_uuid", ids["build_uuid"], "branch", "", "state", "", "tags", "", "labels", "", "owners", "",
				"sort_by", "duration_avg", "order", "desc", "page", 1, "per_page", 10)
		}},

		// annotations
		{tool: "list_annotations", args: fixed(b(failed, "scope", "build", "page", 1, "per_page", 100))},
		{tool: "list_annotations", args: func(ids map[string]string) map[string]any { return b(failed, "job_id", ids["job"], "scope", "job") }},
		{tool: "create_annotation", args: func(ids map[string]string) map[string]any {
			return b(failed, "body", "parity", "style", "info", "context", "parity", "priority", 4, "append", false, "scope", "job", "job_id", ids["job"])
		}},

		// investigations
		{tool: "get_build_failure_summary", args: fixed(b(failed, "include_logs", true, "include_annotations", nil, "include_failed_tests", true,
			"include_failure_expanded", true, "log_tail", 50, "max_jobs", 10, "max_annotations", 20, "max_test_runs", 5,
			"max_failed_tests", 100, "max_failed_tests_per_run", 20))},
	}
}

func query(r buildkitetest.Request) url.Values {
	q, _ := url.ParseQuery(r.RawQuery)
	return q
}

// TestParitySemantics checks that calls written for Buildkite's own server
// mean there what they mean here.
func TestParitySemantics(t *testing.T) {
	e := newMCP(t)
	org, pipe := buildkitetest.SeedOrg, buildkitetest.SeedPipeline
	build := e.sim.Data().Build(org, pipe, buildkitetest.FailedBuild)
	job := build.JobByName(buildkitetest.LongLogJobName)

	t.Run("seek 0 is the first line", func(t *testing.T) {
		var r readResult
		e.ok("read_logs", jobArgs(buildkitetest.FailedBuild, job.ID, "seek", 0, "limit", 2), &r)
		firstLine, _, _ := strings.Cut(job.Log, "\n")
		if len(r.Entries) != 2 || r.Entries[0].RN != 0 || r.Entries[0].C == "" || !strings.Contains(firstLine, r.Entries[0].C) {
			t.Errorf("seek 0 read %+v; the log starts %q", r.Entries, firstLine)
		}
	})

	t.Run("state failed,broken finds failed and broken jobs", func(t *testing.T) {
		var list struct{ Items []struct{ State string } }
		e.ok("list_jobs", buildArgs(buildkitetest.FailedBuild, "state", "failed,broken"), &list)
		states := map[string]int{}
		for _, j := range list.Items {
			states[j.State]++
		}
		want := map[string]int{}
		for _, j := range build.Jobs {
			if (j.State == "failed" || j.State == "broken") && !j.Retried {
				want[j.State]++
			}
		}
		if states["failed"] == 0 || states["broken"] == 0 || !maps.Equal(states, want) {
			t.Errorf("state failed,broken found %v, want %v", states, want)
		}
		// include_retried_jobs false is sent, true brings the retried job back.
		var all struct{ Items []struct{ ID string } }
		e.ok("list_jobs", buildArgs(buildkitetest.FailedBuild, "state", "failed", "include_retried_jobs", true), &all)
		reqs := e.sim.Requests()
		if q := query(reqs[len(reqs)-1]); q.Get("include_retried_jobs") != "true" || len(q["state[]"]) != 1 || len(all.Items) <= states["failed"] {
			t.Errorf("include_retried_jobs true: query %v, %d jobs", q, len(all.Items))
		}
		e.ok("list_jobs", buildArgs(buildkitetest.FailedBuild, "include_retried_jobs", false), &all)
		reqs = e.sim.Requests()
		if q := query(reqs[len(reqs)-1]); q.Get("include_retried_jobs") != "false" {
			t.Errorf("include_retried_jobs false was sent as %v", q)
		}
	})

	t.Run("list_builds takes several states too", func(t *testing.T) {
		var list struct{ Items []struct{ State string } }
		e.ok("list_builds", map[string]any{"org_slug": org, "pipeline_slug": pipe, "state": "failed,passed", "per_page": 100}, &list)
		seen := map[string]int{}
		for _, b := range list.Items {
			seen[b.State]++
		}
		if len(seen) != 2 || seen["failed"] == 0 || seen["passed"] == 0 {
			t.Errorf("state failed,passed found %v", seen)
		}
		wantIn(t, "a bad state among several", e.failNoRequest("list_builds", map[string]any{"org_slug": org, "state": "failed,lost"}), `"state"`)
	})

	t.Run("annotation with job_id and no scope lands on the build", func(t *testing.T) {
		var a struct{ ID, Scope string }
		e.ok("create_annotation", buildArgs(buildkitetest.FailedBuild, "job_id", job.ID, "body", "on the build", "context", "parity-build"), &a)
		reqs := e.sim.Requests()
		if p := reqs[len(reqs)-1].Path; strings.Contains(p, "/jobs/") {
			t.Errorf("posted to %s", p)
		}
		for _, got := range build.Annotations {
			if got.Context == "parity-build" && got.JobID != "" {
				t.Errorf("annotation landed on job %s", got.JobID)
			}
		}
		e.ok("create_annotation", buildArgs(buildkitetest.FailedBuild, "job_id", job.ID, "scope", "job", "body", "on the job", "context", "parity-job"), &a)
		if a.Scope != "job" {
			t.Errorf("scope job annotation = %+v", a)
		}
		wantIn(t, "scope job without job_id", e.failNoRequest("create_annotation", buildArgs(buildkitetest.FailedBuild, "scope", "job", "body", "x")), "job_id")
	})

	t.Run("environment as key/value pairs reaches Buildkite", func(t *testing.T) {
		var b struct{ Number int }
		e.ok("create_build", map[string]any{"org_slug": org, "pipeline_slug": pipe, "branch": "main", "commit": "HEAD", "message": "kv",
			"environment": []any{map[string]any{"key": "DEPLOY", "value": "1"}, map[string]any{"key": "REGION", "value": "eu"}},
			"metadata":    []any{map[string]any{"key": "ticket", "value": "OPS-2"}}}, &b)
		got := e.sim.Data().Build(org, pipe, b.Number)
		if got == nil || got.Env["DEPLOY"] != "1" || got.Env["REGION"] != "eu" || got.MetaData["ticket"] != "OPS-2" {
			t.Errorf("simulator holds %+v", got)
		}
		wantIn(t, "pair without a key", e.failNoRequest("create_build", map[string]any{"org_slug": org, "pipeline_slug": pipe, "branch": "main",
			"environment": []any{map[string]any{"value": "1"}}}), "environment")
	})

	t.Run("update fields can be cleared and null leaves them", func(t *testing.T) {
		var p struct{ Description string }
		e.ok("update_pipeline", map[string]any{"org_slug": org, "pipeline_slug": pipe, "description": "", "name": nil}, &p)
		for _, o := range e.sim.Data().Organizations {
			for _, pl := range o.Pipelines {
				if o.Slug == org && pl.Slug == pipe && (pl.Description != "" || pl.Name == "") {
					t.Errorf("after clearing: description %q, name %q", pl.Description, pl.Name)
				}
			}
		}
	})
}
