package tools_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/tools"
)

// noHiddenText fails when s still holds a bidi control, a tag character or
// a literal role marker.
func noHiddenText(t *testing.T, what, s string) {
	t.Helper()
	for _, r := range s {
		if (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || (r >= 0xe0000 && r <= 0xe007f) {
			t.Errorf("%s: hidden rune %U survived", what, r)
		}
	}
	for _, m := range []string{"</tool_result>", "<system>", "</system>"} {
		if strings.Contains(s, m) {
			t.Errorf("%s: marker %s survived", what, m)
		}
	}
}

const unknownID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

type cluster struct {
	ID, Name, Description, Emoji, Color string
	DefaultQueueID                      string `json:"default_queue_id"`
}

type queue struct {
	ID, Key, Description string
	ClusterID            string `json:"cluster_id"`
	Affinity             string `json:"retry_agent_affinity"`
	Paused               bool   `json:"dispatch_paused"`
	PausedBy             string `json:"dispatch_paused_by"`
	PausedNote           string `json:"dispatch_paused_note"`
}

func TestClusterToolsMCP(t *testing.T) {
	e := newMCP(t)
	clusterID := buildkitetest.SeedClusterID(buildkitetest.SeedOrg)

	raw, pages := walk(e, "list_clusters", args(), 1)
	clusters := decodeAll[cluster](t, raw)
	if len(clusters) != 2 || pages != 2 || clusters[0].ID != clusterID || clusters[0].Name != "Default cluster" {
		t.Fatalf("list_clusters walked %d pages: %+v", pages, clusters)
	}
	forks := clusters[1]
	noHiddenText(t, "hostile cluster description", forks.Description)
	if !strings.Contains(forks.Description, "Builds of forks") || forks.Description == buildkitetest.HostileClusterDescription {
		t.Errorf("hostile description = %q", forks.Description)
	}

	var c cluster
	e.ok("get_cluster", args("cluster_id", clusterID), &c)
	if c.DefaultQueueID == "" || c.Emoji != ":toolbox:" {
		t.Errorf("get_cluster = %+v", c)
	}
	e.fail("get_cluster", args("cluster_id", unknownID), "not found")
	e.failNoRequest("get_cluster", args("cluster_id", "../user"), `invalid argument "cluster_id"`)

	e.ok("create_cluster", args("name", "Mobile", "description", "iOS and Android", "color", "#AABBCC"), &c)
	if c.ID == "" || c.Name != "Mobile" || c.Color != "#AABBCC" {
		t.Errorf("create_cluster = %+v", c)
	}
	e.fail("create_cluster", args("name", "Default cluster"), "refused", "name: already_exists")
	e.failNoRequest("create_cluster", args("name", " "), "name")

	raw, pages = walk(e, "list_cluster_queues", args("cluster_id", clusterID), 2)
	queues := decodeAll[queue](t, raw)
	if len(queues) != 3 || pages != 2 {
		t.Fatalf("list_cluster_queues walked %d pages: %+v", pages, queues)
	}
	var paused, deploy queue
	for _, q := range queues {
		switch q.Key {
		case buildkitetest.SeedPausedQueue:
			paused = q
		case "deploy":
			deploy = q
		}
	}
	if !paused.Paused || paused.PausedBy != "Jonas Weber" || paused.PausedNote == "" || paused.ClusterID != clusterID {
		t.Errorf("paused queue = %+v", paused)
	}

	e.ok("update_cluster", args("cluster_id", clusterID, "default_queue_id", deploy.ID), &c)
	if c.DefaultQueueID != deploy.ID {
		t.Errorf("update_cluster default queue = %s, want %s", c.DefaultQueueID, deploy.ID)
	}
	e.fail("update_cluster", args("cluster_id", clusterID, "default_queue_id", unknownID), "refused", "default_queue_id")
	e.failNoRequest("update_cluster", args("cluster_id", clusterID), "at least one")

	var q queue
	e.ok("get_cluster_queue", args("cluster_id", clusterID, "queue_id", deploy.ID), &q)
	if q.Key != "deploy" || q.Affinity != "prefer-warmest" {
		t.Errorf("get_cluster_queue = %+v", q)
	}
	e.fail("get_cluster_queue", args("cluster_id", clusterID, "queue_id", unknownID), "not found")

	e.ok("create_cluster_queue", args("cluster_id", clusterID, "key", "arm64", "description", "Graviton agents"), &q)
	if q.Key != "arm64" || q.Description != "Graviton agents" || q.ID == "" {
		t.Errorf("create_cluster_queue = %+v", q)
	}
	e.fail("create_cluster_queue", args("cluster_id", clusterID, "key", "has spaces"), "refused", "key: invalid")

	e.ok("update_cluster_queue", args("cluster_id", clusterID, "queue_id", q.ID, "retry_agent_affinity", "prefer-different"), &q)
	if q.Affinity != "prefer-different" {
		t.Errorf("update_cluster_queue = %+v", q)
	}
	e.failNoRequest("update_cluster_queue", args("cluster_id", clusterID, "queue_id", q.ID, "retry_agent_affinity", "anywhere"), "retry_agent_affinity")

	e.ok("pause_cluster_queue_dispatch", args("cluster_id", clusterID, "queue_id", deploy.ID, "note", "Change freeze"), &q)
	if !q.Paused || q.PausedNote != "Change freeze" || q.PausedBy != "Sam Rivera" {
		t.Errorf("pause = %+v", q)
	}
	e.fail("pause_cluster_queue_dispatch", args("cluster_id", clusterID, "queue_id", deploy.ID), "already paused")

	e.ok("resume_cluster_queue_dispatch", args("cluster_id", clusterID, "queue_id", paused.ID), &q)
	if q.Paused || q.PausedNote != "" || q.Key != buildkitetest.SeedPausedQueue {
		t.Errorf("resume = %+v", q)
	}
	e.fail("resume_cluster_queue_dispatch", args("cluster_id", clusterID, "queue_id", paused.ID), "not paused")

	e.withoutScope("write_clusters")
	e.fail("update_cluster_queue", args("cluster_id", clusterID, "queue_id", deploy.ID, "description", "x"), "lacks the scope", "write_clusters")
	e.withoutScope("read_clusters")
	e.fail("list_clusters", args(), "lacks the scope", "read_clusters")
}

func TestClusterToolsRateLimitMCP(t *testing.T) {
	e := newMCP(t, buildkitetest.WithUserRateLimit(2))
	var out struct{ Items []cluster }
	e.ok("list_clusters", args(), &out)
	e.ok("list_clusters", args(), &out)
	e.fail("list_clusters", args(), "rate limit", "user", "retry in")
}

type agentItem struct {
	ID, Name, Queue, Version, Hostname string
	State                              string `json:"connection_state"`
	Busy, Paused                       bool
	Job                                *struct{ ID, Name, State string }
	IPAddress                          string   `json:"ip_address"`
	MetaData                           []string `json:"meta_data"`
	PausedNote                         string   `json:"paused_note"`
	PausedBy                           string   `json:"paused_by"`
	LastJobFinishedAt                  string   `json:"last_job_finished_at"`
}

func TestAgentToolsMCP(t *testing.T) {
	e := newMCP(t)
	raw, pages := walk(e, "list_agents", args(), 2)
	agents := decodeAll[agentItem](t, raw)
	if len(agents) != buildkitetest.SeedListedAgents || pages != 3 {
		t.Fatalf("list_agents walked %d pages: %d agents", pages, len(agents))
	}
	busy := 0
	for _, a := range agents {
		if a.State == "disconnected" {
			t.Errorf("disconnected agent %s listed", a.Name)
		}
		if a.IPAddress != "" || a.MetaData != nil {
			t.Errorf("summary of %s has detailed fields", a.Name)
		}
		if a.Busy {
			busy++
			if a.Job == nil || a.Job.State != "running" || !strings.HasPrefix(a.Job.Name, ":rspec:") {
				t.Errorf("busy agent %s job = %+v", a.Name, a.Job)
			}
		}
		if a.Queue == "" {
			t.Errorf("agent %s has no queue", a.Name)
		}
	}
	if busy != 2 {
		t.Errorf("%d busy agents, want 2", busy)
	}

	var list struct{ Items []agentItem }
	e.ok("list_agents", args("version", "3.86", "detail_level", "detailed"), &list)
	if len(list.Items) != 1 || list.Items[0].Name != buildkitetest.SeedPausedAgent {
		t.Fatalf("version filter = %+v", list.Items)
	}
	mac := list.Items[0]
	if !mac.Paused || mac.PausedBy != "Jonas Weber" || mac.PausedNote == "" || mac.Queue != "macos" || len(mac.MetaData) == 0 {
		t.Errorf("paused agent detailed = %+v", mac)
	}

	var a agentItem
	e.ok("get_agent", args("agent_id", buildkitetest.SeedAgentID(buildkitetest.SeedDisconnectedAgent), "detail_level", "detailed"), &a)
	if a.State != "disconnected" || a.LastJobFinishedAt == "" || a.Busy {
		t.Errorf("get_agent disconnected = %+v", a)
	}
	e.fail("get_agent", args("agent_id", unknownID), "not found")
	e.failNoRequest("get_agent", args("agent_id", unknownID, "detail_level", "everything"), "detail_level")
	e.withoutScope("read_agents")
	e.fail("list_agents", args(), "lacks the scope", "read_agents")
}

type pipelineItem struct {
	Slug, Name, Repository, Description string
	ClusterID                           string `json:"cluster_id"`
	DefaultBranch                       string `json:"default_branch"`
	Tags                                []string
	Webhook                             *struct {
		Created bool
		Error   string
	}
}

func TestPipelineWriteToolsMCP(t *testing.T) {
	e := newMCP(t)
	var p pipelineItem
	e.ok("create_pipeline", args("name", "Payments Service", "repository_url", "git@github.com:acme-inc/payments.git",
		"cluster_id", buildkitetest.SeedClusterID(buildkitetest.SeedOrg), "configuration", "steps:\n  - command: make test\n",
		"default_branch", "trunk", "tags", []string{"go"}, "create_webhook", true), &p)
	if p.Slug != "payments-service" || p.DefaultBranch != "trunk" || p.ClusterID == "" || p.Webhook == nil || !p.Webhook.Created {
		t.Errorf("create_pipeline = %+v", p)
	}
	e.ok("create_pipeline", args("name", "Legacy", "repository_url", "https://git.acme.example/legacy.git", "create_webhook", true), &p)
	if p.Webhook == nil || p.Webhook.Created || !strings.Contains(p.Webhook.Error, "GitHub") {
		t.Errorf("create_pipeline off GitHub: webhook = %+v", p.Webhook)
	}
	e.fail("create_pipeline", args("name", "Web App", "repository_url", "git@github.com:acme-inc/x.git"), "refused", "name: already_exists")

	e.ok("update_pipeline", args("pipeline_slug", "payments-service", "description", "Card payments", "tags", []string{"go", "payments"}), &p)
	if p.Description != "Card payments" || len(p.Tags) != 2 || p.Repository != "git@github.com:acme-inc/payments.git" {
		t.Errorf("update_pipeline = %+v", p)
	}
	e.fail("update_pipeline", args("pipeline_slug", "no-such-pipeline", "description", "x"), "not found")
	e.failNoRequest("update_pipeline", args("pipeline_slug", "web-app"), "at least one")
	e.withoutScope("write_pipelines")
	e.fail("create_pipeline", args("name", "X", "repository_url", "git@github.com:acme-inc/x.git"), "lacks the scope", "write_pipelines")
}

type scheduleItem struct {
	ID, Label, Cronline, Branch string
	Enabled                     bool
	NextBuildAt                 string `json:"next_build_at"`
	FailedMessage               string `json:"failed_message"`
	Env                         map[string]string
}

func TestScheduleToolsMCP(t *testing.T) {
	e := newMCP(t)
	pl := buildkitetest.SeedPipeline
	raw, pages := walk(e, "list_pipeline_schedules", args("pipeline_slug", pl), 1)
	ss := decodeAll[scheduleItem](t, raw)
	if len(ss) != buildkitetest.SeedSchedules || pages != buildkitetest.SeedSchedules {
		t.Fatalf("list_pipeline_schedules walked %d pages: %+v", pages, ss)
	}
	if ss[0].Enabled || ss[0].FailedMessage == "" || ss[2].Label != "Nightly full suite" {
		t.Errorf("schedules (newest first) = %+v", ss)
	}

	var s scheduleItem
	e.ok("get_pipeline_schedule", args("pipeline_slug", pl, "schedule_id", ss[2].ID), &s)
	if s.Cronline != "0 2 * * *" || s.Env["RSPEC_SEED"] != "random" || s.NextBuildAt == "" {
		t.Errorf("get_pipeline_schedule = %+v", s)
	}
	e.fail("get_pipeline_schedule", args("pipeline_slug", pl, "schedule_id", unknownID), "not found")

	e.ok("create_pipeline_schedule", args("pipeline_slug", pl, "cronline", "0 3 * * 1-5 Europe/Berlin", "label", "Weekday smoke",
		"env", map[string]any{"SMOKE": "1"}), &s)
	if s.ID == "" || !s.Enabled || s.Branch != "main" || s.Env["SMOKE"] != "1" {
		t.Errorf("create_pipeline_schedule = %+v", s)
	}
	e.fail("create_pipeline_schedule", args("pipeline_slug", pl, "cronline", "every day at noon"), "refused", "cronline: invalid")

	e.ok("update_pipeline_schedule", args("pipeline_slug", pl, "schedule_id", s.ID, "enabled", false), &s)
	if s.Enabled || s.NextBuildAt != "" || s.Label != "Weekday smoke" {
		t.Errorf("update_pipeline_schedule = %+v", s)
	}
	e.withoutScope("read_pipelines")
	e.fail("list_pipeline_schedules", args("pipeline_slug", pl), "lacks the scope", "read_pipelines")
}

type artifactItem struct {
	ID, Path, Content string
	JobID             string `json:"job_id"`
	MimeType          string `json:"mime_type"`
	FileSize          int64  `json:"file_size"`
	Inline            bool
	DownloadURL       string `json:"download_url"`
	Reason            string `json:"not_inline_reason"`
}

func TestArtifactToolsMCP(t *testing.T) {
	e := newMCP(t)
	build := strconv.Itoa(buildkitetest.FailedBuild)
	raw, pages := walk(e, "list_artifacts_for_build", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", build), 2)
	all := decodeAll[artifactItem](t, raw)
	if len(all) != 3 || pages != 2 {
		t.Fatalf("list_artifacts_for_build walked %d pages: %+v", pages, all)
	}
	byPath := map[string]artifactItem{}
	for _, a := range all {
		byPath[a.Path] = a
	}
	junit, testLog, png := byPath["tmp/rspec/junit-2.xml"], byPath["log/test.log"], byPath["tmp/capybara/checkout_spec_failure.png"]
	var list struct{ Items []artifactItem }
	e.ok("list_artifacts_for_job", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", build, "job_id", junit.JobID), &list)
	if len(list.Items) != 3 {
		t.Errorf("list_artifacts_for_job = %+v", list.Items)
	}

	get := func(a artifactItem) artifactItem {
		t.Helper()
		var out artifactItem
		e.sim.ResetRequests()
		e.ok("get_artifact", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", build, "job_id", a.JobID, "artifact_id", a.ID), &out)
		// The token goes to the API and nowhere else; the store gets none.
		for _, r := range e.sim.Requests() {
			if auth := r.Header.Get("Authorization"); r.ArtifactStore == (auth != "") {
				t.Errorf("%s %s (store %v): Authorization %q", r.Method, r.Path, r.ArtifactStore, auth)
			}
		}
		return out
	}
	got := get(junit)
	if !got.Inline || !strings.Contains(got.Content, `<testsuite name="rspec"`) || got.DownloadURL != "" {
		t.Errorf("junit = %+v", got)
	}
	for _, c := range []struct {
		a      artifactItem
		reason string
	}{{testLog, "too_large"}, {png, "binary"}} {
		got := get(c.a)
		if got.Inline || got.Content != "" || got.Reason != c.reason || !strings.Contains(got.DownloadURL, "X-Amz-Signature=") {
			t.Errorf("%s = %+v", c.a.Path, got)
		}
		for _, r := range e.sim.Requests() {
			if r.ArtifactStore {
				t.Errorf("%s: the store was fetched for an artifact not returned inline", c.a.Path)
			}
		}
	}
	e.fail("get_artifact", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", build, "job_id", junit.JobID, "artifact_id", unknownID), "not found")
	e.withoutScope("read_artifacts")
	e.fail("list_artifacts_for_build", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", build), "lacks the scope", "read_artifacts")
}

type annotationItem struct {
	ID, Context, Style, Scope string
	JobID                     string `json:"job_id"`
	BodyHTML                  string `json:"body_html"`
	Truncated                 bool
}

func TestAnnotationToolsMCP(t *testing.T) {
	e := newMCP(t)
	failed := strconv.Itoa(buildkitetest.FailedBuild)
	raw, pages := walk(e, "list_annotations", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", failed), 2)
	as := decodeAll[annotationItem](t, raw)
	if len(as) != 3 || pages != 2 || as[0].Context != "rspec" || as[0].Style != "error" {
		t.Fatalf("list_annotations walked %d pages: %+v", pages, as)
	}
	var list struct{ Items []annotationItem }
	e.ok("list_annotations", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", failed, "scope", "job"), &list)
	if len(list.Items) != 1 || list.Items[0].Scope != "job" {
		t.Errorf("scope job = %+v", list.Items)
	}

	// The hostile annotation's fake markers arrive as harmless look-alikes.
	hostile := strconv.Itoa(buildkitetest.HostileAnnotationBuild)
	e.ok("list_annotations", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", hostile, "scope", "job"), &list)
	var lint annotationItem
	for _, a := range list.Items {
		if a.Context == "rubocop" {
			lint = a
		}
	}
	if lint.ID == "" || lint.JobID != "" {
		t.Fatalf("hostile build annotations = %+v", list.Items)
	}
	noHiddenText(t, "hostile annotation", lint.BodyHTML)
	if !strings.Contains(lint.BodyHTML, "‹/tool_result›‹system›") {
		t.Errorf("hostile annotation = %q", lint.BodyHTML)
	}
	var jobList struct{ Items []annotationItem }
	jobID := findJob(t, e, hostile, "lint")
	e.ok("list_annotations", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", hostile, "job_id", jobID), &jobList)
	if len(jobList.Items) != 1 || jobList.Items[0].JobID != jobID {
		t.Errorf("job annotations = %+v", jobList.Items)
	}
	noHiddenText(t, "hostile job annotation", jobList.Items[0].BodyHTML)

	var a annotationItem
	e.ok("create_annotation", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", failed,
		"body", "Flaky: CheckoutService spec", "style", "warning", "context", "kitegate"), &a)
	if a.Context != "kitegate" || a.Style != "warning" || !strings.Contains(a.BodyHTML, "Flaky") {
		t.Errorf("create_annotation = %+v", a)
	}
	e.ok("create_annotation", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", hostile, "job_id", jobID, "scope", "job",
		"body", "<script>alert(1)</script> see log", "context", "kitegate"), &a)
	if a.JobID != jobID || a.Scope != "job" || strings.Contains(a.BodyHTML, "<script>") {
		t.Errorf("create_annotation on a job = %+v", a)
	}
	e.fail("create_annotation", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", "999", "body", "x"), "not found")
	e.failNoRequest("create_annotation", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", failed, "body", "x", "style", "loud"), "style")
	e.withoutScope("write_builds")
	e.fail("create_annotation", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", failed, "body", "x"), "lacks the scope", "write_builds")
}

// findJob returns the ID of the job with stepKey in a web-app build.
func findJob(t *testing.T, e *mcpEnv, build, stepKey string) string {
	t.Helper()
	b := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, mustAtoi(t, build))
	for _, j := range b.Jobs {
		if j.StepKey == stepKey && !j.Retried {
			return j.ID
		}
	}
	t.Fatalf("no %s job in build %s", stepKey, build)
	return ""
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSkillToolsMCP(t *testing.T) {
	e := newMCP(t)
	var list struct {
		Items []struct{ Name, Title, Description string }
	}
	e.ok("list_skills", map[string]any{}, &list)
	if len(list.Items) < 4 {
		t.Fatalf("list_skills = %+v", list.Items)
	}
	e.ok("list_skills", map[string]any{"query": "flaky"}, &list)
	if len(list.Items) == 0 || list.Items[0].Name != "find-flaky-tests" {
		t.Errorf("list_skills flaky = %+v", list.Items)
	}
	var s struct{ Name, Title, Content string }
	e.ok("load_skill", map[string]any{"name": "investigate-failed-build"}, &s)
	if s.Title != "Investigate a failed build" || !strings.Contains(s.Content, "get_build_failure_summary") {
		t.Errorf("load_skill = %+v", s)
	}
	e.ok("load_skill", map[string]any{"skill_name": "debug-logs-guide"}, &s)
	if s.Name != "debug-logs-guide" || !strings.Contains(s.Content, "tail_logs") {
		t.Errorf("load_skill skill_name = %+v", s)
	}
	e.failNoRequest("load_skill", map[string]any{"name": "hack-the-planet"}, "no such guide", "read-logs-efficiently")
	if len(e.sim.Requests()) != 0 {
		t.Errorf("skills called Buildkite %d times", len(e.sim.Requests()))
	}
}

// TestTypedOutputsMCP checks that the tools this area owns have a typed
// result, so clients get structuredContent they can rely on (its schema is
// reviewed and enforced, not announced: see tools.Tool.Definition).
func TestTypedOutputsMCP(t *testing.T) {
	e := newMCP(t)
	cat, err := tools.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	typed := map[string]bool{}
	for _, tool := range cat.Tools() {
		typed[tool.Name()] = tool.OutputSchema() != nil
	}
	for _, name := range []string{
		"current_user", "user_token_organization", "access_token", "list_pipelines", "get_pipeline",
		"create_pipeline", "update_pipeline", "list_pipeline_schedules", "get_pipeline_schedule", "create_pipeline_schedule", "update_pipeline_schedule",
		"list_clusters", "get_cluster", "create_cluster", "update_cluster", "list_cluster_queues", "get_cluster_queue",
		"create_cluster_queue", "update_cluster_queue", "pause_cluster_queue_dispatch", "resume_cluster_queue_dispatch",
		"list_agents", "get_agent", "list_artifacts_for_build", "list_artifacts_for_job", "get_artifact",
		"list_annotations", "create_annotation", "list_skills", "load_skill",
	} {
		if !typed[name] {
			t.Errorf("%s: no output schema", name)
		}
	}
	var user struct{ Name, Email string }
	e.ok("current_user", map[string]any{}, &user)
	var p struct {
		Slug     string
		Provider *struct {
			ID         string
			WebhookURL string `json:"webhook_url"`
		}
	}
	e.ok("get_pipeline", args("pipeline_slug", buildkitetest.SeedPipeline, "detail_level", "full"), &p)
	if p.Provider == nil || p.Provider.ID != "github" || p.Provider.WebhookURL != "" {
		t.Errorf("get_pipeline full provider = %+v", p.Provider)
	}
}
