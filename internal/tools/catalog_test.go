package tools_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/tools"
)

func TestDefaultCatalog(t *testing.T) {
	cat, err := tools.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Kind   tools.Kind
		Area   string
		Scopes string
	}
	got := map[string]entry{}
	for _, tool := range cat.Tools() {
		s := tool.Spec()
		got[s.Name] = entry{s.Kind, s.Area, strings.Join(s.Scopes, ",")}
	}
	want := map[string]entry{
		"current_user":            {tools.Read, "user", "read_user"},
		"user_token_organization": {tools.Read, "user", "read_organizations"},
		"access_token":            {tools.Read, "user", ""},
		"list_pipelines":          {tools.Read, "pipelines", "read_pipelines"},
		"get_pipeline":            {tools.Read, "pipelines", "read_pipelines"},
		"list_builds":             {tools.Read, "builds", "read_builds"},
		"get_build":               {tools.Read, "builds", "read_builds"},
		"create_build":            {tools.Write, "builds", "write_builds"},
		"list_jobs":               {tools.Read, "builds", "read_builds"},
		"get_job":                 {tools.Read, "builds", "read_builds"},
		"tail_logs":               {tools.Read, "logs", "read_build_logs"},
		// builds, logs, tests and investigations beyond the first tools
		"get_build_test_engine_runs": {tools.Read, "builds", "read_builds"},
		"wait_for_build":             {tools.Read, "builds", "read_builds"},
		"list_step_uploads":          {tools.Read, "builds", "read_builds"},
		"get_step_upload":            {tools.Read, "builds", "read_builds"},
		"cancel_build":               {tools.Destructive, "builds", "write_builds"},
		"rebuild_build":              {tools.Destructive, "builds", "write_builds"},
		"unblock_job":                {tools.Destructive, "builds", "write_builds"},
		"retry_job":                  {tools.Destructive, "builds", "write_builds"},
		"get_job_env":                {tools.Sensitive, "builds", "read_job_env"},
		"search_logs":                {tools.Read, "logs", "read_build_logs"},
		"read_logs":                  {tools.Read, "logs", "read_build_logs"},
		"list_tests":                 {tools.Read, "tests", "read_suites"},
		"get_test":                   {tools.Read, "tests", "read_suites"},
		"list_tests_for_build":       {tools.Read, "tests", "read_suites"},
		"list_test_runs":             {tools.Read, "tests", "read_suites"},
		"get_test_run":               {tools.Read, "tests", "read_suites"},
		"get_failed_executions":      {tools.Read, "tests", "read_suites"},
		"get_build_failure_summary":  {tools.Read, "investigations", "read_builds,read_build_logs,read_suites"},
		// clusters, agents, pipeline edits and schedules, artifacts, annotations, skills
		"list_clusters":                 {tools.Read, "clusters", "read_clusters"},
		"get_cluster":                   {tools.Read, "clusters", "read_clusters"},
		"create_cluster":                {tools.Write, "clusters", "write_clusters"},
		"update_cluster":                {tools.Destructive, "clusters", "write_clusters"},
		"list_cluster_queues":           {tools.Read, "clusters", "read_clusters"},
		"get_cluster_queue":             {tools.Read, "clusters", "read_clusters"},
		"create_cluster_queue":          {tools.Write, "clusters", "write_clusters"},
		"update_cluster_queue":          {tools.Destructive, "clusters", "write_clusters"},
		"pause_cluster_queue_dispatch":  {tools.Destructive, "clusters", "write_clusters"},
		"resume_cluster_queue_dispatch": {tools.Destructive, "clusters", "write_clusters"},
		"list_agents":                   {tools.Read, "agents", "read_agents"},
		"get_agent":                     {tools.Read, "agents", "read_agents"},
		"create_pipeline":               {tools.Write, "pipelines", "write_pipelines"},
		"update_pipeline":               {tools.Destructive, "pipelines", "write_pipelines"},
		"list_pipeline_schedules":       {tools.Read, "pipelines", "read_pipelines"},
		"get_pipeline_schedule":         {tools.Read, "pipelines", "read_pipelines"},
		"create_pipeline_schedule":      {tools.Write, "pipelines", "write_pipelines"},
		"update_pipeline_schedule":      {tools.Destructive, "pipelines", "write_pipelines"},
		"list_artifacts_for_build":      {tools.Read, "artifacts", "read_artifacts"},
		"list_artifacts_for_job":        {tools.Read, "artifacts", "read_artifacts"},
		"get_artifact":                  {tools.Read, "artifacts", "read_artifacts"},
		"list_annotations":              {tools.Read, "annotations", "read_builds"},
		"create_annotation":             {tools.Destructive, "annotations", "write_builds"},
		"list_skills":                   {tools.Read, "skills", ""},
		"load_skill":                    {tools.Read, "skills", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("catalog (-want +got):\n%s", diff)
	}
}

func TestUserTools(t *testing.T) {
	e := newMCP(t)
	var user struct{ ID, Name, Email string }
	e.ok("current_user", `{}`, &user)
	if user.Name != "Sam Rivera" || user.Email != "sam.rivera@acme.example" || user.ID == "" {
		t.Errorf("current_user = %+v", user)
	}
	var org struct{ Slug, Name string }
	e.ok("user_token_organization", ``, &org)
	if org.Slug != buildkitetest.SeedOrg || org.Name != "Acme Inc" {
		t.Errorf("user_token_organization = %+v", org)
	}
	var tok struct {
		UUID      string   `json:"uuid"`
		Scopes    []string `json:"scopes"`
		ExpiresAt *string  `json:"expires_at"`
		User      struct{ Name string }
	}
	e.ok("access_token", `{}`, &tok)
	if tok.UUID == "" || !cmp.Equal(tok.Scopes, buildkitetest.DefaultScopes) || tok.ExpiresAt != nil || tok.User.Name != "Sam Rivera" {
		t.Errorf("access_token = %+v", tok)
	}
}

// pipelineView is a pipeline as list_pipelines and get_pipeline give it.
type pipelineView struct {
	Slug, Name, Repository, Description, Configuration string
	DefaultBranch                                      string `json:"default_branch"`
	WebURL                                             string `json:"web_url"`
	Provider                                           *struct {
		WebhookURL string `json:"webhook_url"`
	}
}

func TestPipelineTools(t *testing.T) {
	e := newMCP(t)
	var list struct {
		Items    []pipelineView
		NextPage int `json:"next_page"`
	}
	e.ok("list_pipelines", `{"org_slug":"acme","per_page":2}`, &list)
	if len(list.Items) != 2 || list.NextPage != 2 {
		t.Fatalf("list_pipelines per_page 2 = %d items, next_page %d", len(list.Items), list.NextPage)
	}
	want := pipelineView{Slug: "web-app", Name: "Web App", Repository: "git@github.com:acme-inc/web-app.git",
		DefaultBranch: "main", WebURL: "https://buildkite.com/acme/web-app"}
	if diff := cmp.Diff(want, list.Items[0]); diff != "" {
		t.Errorf("summary item (-want +got):\n%s", diff)
	}

	list.NextPage = 0
	e.ok("list_pipelines", `{"org_slug":"acme","name":"infra"}`, &list)
	if len(list.Items) != 1 || list.Items[0].Slug != "infra-terraform" || list.NextPage != 0 {
		t.Errorf("name filter = %+v", list)
	}

	var p pipelineView
	e.ok("get_pipeline", `{"org_slug":"acme","pipeline_slug":"web-app","detail_level":"detailed"}`, &p)
	if p.Description != "Rails storefront and checkout" || p.Configuration != "" {
		t.Errorf("detailed = %+v", p)
	}
	e.ok("get_pipeline", `{"org_slug":"acme","pipeline_slug":"web-app","detail_level":"full"}`, &p)
	if p.Configuration == "" || p.Provider == nil || p.Provider.WebhookURL != "" {
		t.Errorf("full = %+v", p)
	}
}

type buildItem struct {
	ID, Pipeline, State, Branch, Commit, Message, Creator string
	Number                                                int
	CreatedAt                                             string `json:"created_at"`
	WebURL                                                string `json:"web_url"`
	Jobs                                                  []jobItem
	TestEngine                                            *struct {
		Runs []struct {
			ID    string
			Suite struct{ ID, Slug string }
		}
	} `json:"test_engine"`
	Annotations []struct{ ID, Context string }
}

type jobItem struct {
	ID, Type, Name, State, Command string
	ExitStatus                     *int `json:"exit_status"`
	Agent                          *struct{ ID, Name string }
}

func TestBuildTools(t *testing.T) {
	e := newMCP(t)
	var list struct {
		Items    []buildItem
		NextPage int `json:"next_page"`
	}
	e.ok("list_builds", `{"org_slug":"acme","pipeline_slug":"web-app"}`, &list)
	if len(list.Items) != 30 || list.NextPage != 2 || list.Items[0].Number != buildkitetest.SeedBuildCount {
		t.Fatalf("first page: %d items, next_page %d", len(list.Items), list.NextPage)
	}
	first := list.Items[0]
	if first.State != "running" || len(first.Commit) != 40 || first.ID == "" || first.WebURL == "" || first.CreatedAt == "" || len(first.Jobs) != 0 || first.Pipeline != "" {
		t.Errorf("summary = %+v", first)
	}
	list.NextPage = 0
	e.ok("list_builds", `{"org_slug":"acme","pipeline_slug":"web-app","page":2}`, &list)
	if len(list.Items) != buildkitetest.SeedBuildCount-30 || list.NextPage != 0 {
		t.Errorf("second page: %d items, next_page %d", len(list.Items), list.NextPage)
	}
	e.ok("list_builds", `{"org_slug":"acme","state":"failed","per_page":100}`, &list)
	for _, b := range list.Items {
		if b.State != "failed" || b.Pipeline == "" {
			t.Errorf("org-wide failed builds include %+v", b)
		}
	}
	e.ok("list_builds", `{"org_slug":"acme","pipeline_slug":"web-app","per_page":1,"include_jobs":true}`, &list)
	if len(list.Items) != 1 || len(list.Items[0].Jobs) == 0 {
		t.Errorf("include_jobs = %+v", list.Items)
	}

	failed := strconv.Itoa(buildkitetest.FailedBuild)
	var b buildItem
	e.ok("get_build", `{"org_slug":"acme","pipeline_slug":"web-app","build_number":"`+failed+`"}`, &b)
	if b.Number != buildkitetest.FailedBuild || b.State != "failed" || b.Branch != "feature/checkout-v2" || len(b.Commit) != 40 || len(b.Jobs) != 0 {
		t.Errorf("get_build = %+v", b)
	}
	// The build's UUID and Test Engine runs lead to list_tests_for_build and get_test_run.
	if sim := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild); b.ID != sim.ID ||
		b.TestEngine == nil || len(b.TestEngine.Runs) == 0 || b.TestEngine.Runs[0].Suite.Slug == "" || len(b.Annotations) == 0 || b.Annotations[0].ID == "" {
		t.Errorf("get_build id %q (want %q), test_engine %+v, annotations %+v", b.ID, sim.ID, b.TestEngine, b.Annotations)
	}
	e.ok("get_build", `{"org_slug":"acme","pipeline_slug":"web-app","build_number":"`+failed+`","include_jobs":true}`, &b)
	if len(b.Jobs) == 0 {
		t.Error("get_build include_jobs returned no jobs")
	}
}

func TestJobTools(t *testing.T) {
	e := newMCP(t)
	failed := strconv.Itoa(buildkitetest.FailedBuild)
	build := `"org_slug":"acme","pipeline_slug":"web-app","build_number":"` + failed + `"`
	var all struct{ Items []jobItem }
	e.ok("list_jobs", `{`+build+`,"per_page":100}`, &all)
	if len(all.Items) == 0 {
		t.Fatal("no jobs")
	}

	raw, _ := walk(e, "list_jobs", buildArgs(buildkitetest.FailedBuild), 3)
	seen := decodeAll[jobItem](t, raw)
	if diff := cmp.Diff(all.Items, seen); diff != "" {
		t.Errorf("paged jobs differ from one page (-want +got):\n%s", diff)
	}

	var failedJobs struct{ Items []jobItem }
	e.ok("list_jobs", `{`+build+`,"state":"failed","detail_level":"detailed","include_agent":true}`, &failedJobs)
	var long jobItem
	for _, j := range failedJobs.Items {
		if j.State != "failed" {
			t.Errorf("state filter let %s through", j.State)
		}
		if j.Name == buildkitetest.LongLogJobName {
			long = j
		}
	}
	if long.ID == "" || long.Command == "" || long.Agent == nil || long.Agent.Name == "" || long.ExitStatus == nil || *long.ExitStatus != 1 {
		t.Fatalf("failed RSpec job = %+v", long)
	}

	var j jobItem
	e.ok("get_job", `{"org_slug":"acme","job_id":"`+long.ID+`"}`, &j)
	if j.ID != long.ID || j.Name != buildkitetest.LongLogJobName || j.Agent == nil || j.Agent.ID != long.Agent.ID || j.Agent.Name != "" {
		t.Errorf("get_job by organization = %+v (want the agent's id only)", j)
	}
	j = jobItem{}
	e.ok("get_job", `{"org_slug":"acme","include_agent":true,"job_id":"`+long.ID+`"}`, &j)
	if j.Agent == nil || j.Agent.ID == "" || j.Agent.Name != long.Agent.Name {
		t.Errorf("get_job include_agent = %+v", j.Agent)
	}
	e.ok("get_job", `{`+build+`,"job_id":"`+long.ID+`"}`, &j)
	if j.ID != long.ID {
		t.Errorf("get_job by build = %+v", j)
	}
}

func TestTailLogs(t *testing.T) {
	e := newMCP(t)
	data := e.sim.Data()
	fb := data.Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild)
	long := fb.JobByName(buildkitetest.LongLogJobName)
	pb := data.Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.PassedBuild)
	var short *buildkitetest.Job
	for _, j := range pb.Jobs {
		if j.Log != "" && (short == nil || len(j.Log) < len(short.Log)) {
			short = j
		}
	}
	args := func(b *buildkitetest.Build, j *buildkitetest.Job, extra string) string {
		return `{"org_slug":"acme","pipeline_slug":"web-app","build_number":"` + strconv.Itoa(b.Number) + `","job_id":"` + j.ID + `"` + extra + `}`
	}

	var tail tailResult
	e.ok("tail_logs", args(fb, long, ""), &tail)
	// The log is longer than one range read: its lines are counted, so
	// line numbers are known all the same.
	if total := strings.Count(long.Log, "\n"); len(tail.Entries) != 10 || !tail.Truncated || tail.Entries[0].RN != total-10 || tail.TotalRows != total || tail.LogBytes != int64(len(long.Log)) {
		t.Fatalf("default tail = %+v", tail)
	}
	if got := tail.Entries[9].C; got != "user command error: exit status 1" {
		t.Errorf("last line = %q", got)
	}
	for _, l := range tail.Entries {
		if strings.ContainsAny(l.C, "\x1b\x07\r") {
			t.Errorf("escape left in %q", l.C)
		}
	}
	// A suffix range for the tail, then a prefix range to count the lines before it.
	reqs := e.sim.Requests()
	if tailReq := reqs[len(reqs)-2]; !strings.HasPrefix(tailReq.Header.Get("Range"), "bytes=-") || tailReq.Header.Get("Accept") != "text/plain" {
		t.Errorf("tail request headers %v", tailReq.Header)
	}
	if countReq := reqs[len(reqs)-1]; !strings.HasPrefix(countReq.Header.Get("Range"), "bytes=0-") {
		t.Errorf("count request headers %v", countReq.Header)
	}

	e.ok("tail_logs", args(fb, long, `,"tail":250`), &tail)
	if len(tail.Entries) != 250 || !tail.Truncated {
		t.Errorf("tail 250 = %d rows, truncated %v", len(tail.Entries), tail.Truncated)
	}

	total := strings.Count(short.Log, "\n")
	e.ok("tail_logs", args(pb, short, `,"tail":1000`), &tail)
	if len(tail.Entries) != total || tail.Entries[0].RN != 0 || tail.TotalRows != total || tail.Truncated {
		t.Errorf("whole short log: %d rows (want %d), total %d, truncated %v", len(tail.Entries), total, tail.TotalRows, tail.Truncated)
	}
	e.ok("tail_logs", args(pb, short, `,"tail":3`), &tail)
	if len(tail.Entries) != 3 || tail.Entries[0].RN != total-3 || !tail.Truncated {
		t.Errorf("tail 3 of short log = %+v", tail)
	}
}

func TestCreateBuild(t *testing.T) {
	e := newMCP(t)
	var b buildItem
	e.ok("create_build", `{"org_slug":"acme","pipeline_slug":"web-app","branch":"main","message":"Deploy from kitegate","environment":{"DEPLOY":"1"},"metadata":{"ticket":"OPS-1"}}`, &b)
	if b.Number != buildkitetest.SeedBuildCount+1 || b.Message != "Deploy from kitegate" || b.Branch != "main" || b.WebURL == "" {
		t.Errorf("create_build = %+v", b)
	}
	// A token in the data Buildkite returns (here a build message) is redacted.
	var leaky buildItem
	e.ok("create_build", `{"org_slug":"acme","pipeline_slug":"web-app","branch":"main","message":"oops `+buildkitetest.DefaultToken+`"}`, &leaky)
	if leaky.Message != "oops [redacted]" {
		t.Errorf("message = %q", leaky.Message)
	}
	got := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, b.Number)
	if got == nil || got.Commit != "HEAD" || got.Env["DEPLOY"] != "1" || got.MetaData["ticket"] != "OPS-1" {
		t.Errorf("simulator holds %+v", got)
	}
}

func TestInvalidArgumentsMakeNoRequest(t *testing.T) {
	const job = `"job_id":"01890a5d-ac96-4b5e-9a3e-6f2f6c1e0d11"`
	tests := []struct{ tool, args, argument string }{
		{"list_pipelines", `{"org_slug":"../admin"}`, "org_slug"},
		{"list_pipelines", `{"org_slug":"acme","per_page":101}`, "per_page"},
		{"list_pipelines", `{"org_slug":"acme","detail_level":"everything"}`, "detail_level"},
		{"get_pipeline", `{"org_slug":"acme","pipeline_slug":"a/b"}`, "pipeline_slug"},
		{"get_pipeline", `{"org_slug":"acme"}`, "pipeline_slug"},
		{"list_builds", `{"org_slug":"acme","state":"exploded"}`, "state"},
		{"list_builds", `{"org_slug":"acme","page":-1}`, "page"},
		{"list_builds", `{"org_slug":"acme%2Fx"}`, "org_slug"},
		{"get_build", `{"org_slug":"acme","pipeline_slug":"web-app","build_number":"1/../2"}`, "build_number"},
		{"get_build", `{"org_slug":"acme","pipeline_slug":"web-app","build_number":37.5}`, "build_number"},
		{"get_build", `{"org_slug":"acme","pipeline_slug":"web-app","build_number":0}`, "build_number"},
		{"get_build", `{"org_slug":"acme","pipeline_slug":"web-app","build_number":true}`, "build_number"},
		{"list_jobs", `{"org_slug":"acme","pipeline_slug":"web-app","build_number":"37","after":"a","before":"b"}`, "before"},
		{"get_job", `{"org_slug":"acme","job_id":"../../user"}`, "job_id"},
		{"get_job", `{"org_slug":"acme","pipeline_slug":"web-app",` + job + `}`, "build_number"},
		{"tail_logs", `{"org_slug":"acme","pipeline_slug":"web-app","build_number":"37",` + job + `,"tail":-1}`, "tail"},
		{"tail_logs", `{"org_slug":"acme","pipeline_slug":"web-app","build_number":"37","job_id":"ünï"}`, "job_id"},
		{"create_build", `{"org_slug":"acme","pipeline_slug":"web-app"}`, "branch"},
		{"create_build", `{"org_slug":"acme","pipeline_slug":"web-app","branch":" "}`, "branch"},
		{"create_build", `{"org_slug":"acme","pipeline_slug":"web-app","branch":"main","environment":{"A":1}}`, "environment"},
		{"current_user", `{"x":1}`, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.tool+" "+tt.argument, func(t *testing.T) {
			newMCP(t).failNoRequest(tt.tool, tt.args, `"`+tt.argument+`"`)
		})
	}
}

func TestBuildkiteErrorsAreClear(t *testing.T) {
	tests := []struct{ tool, args, want string }{
		{"get_pipeline", `{"org_slug":"acme","pipeline_slug":"nope"}`, "Buildkite says pipeline acme/nope was not found (or the token cannot see it)"},
		{"list_pipelines", `{"org_slug":"nobody"}`, "Buildkite says organization nobody was not found (or the token cannot see it)"},
		{"get_build", `{"org_slug":"acme","pipeline_slug":"web-app","build_number":"9999"}`, "Buildkite says build acme/web-app#9999 was not found (or the token cannot see it)"},
		{"get_job", `{"org_slug":"acme","job_id":"01890a5d-ac96-4b5e-9a3e-6f2f6c1e0d11"}`, "Buildkite says job 01890a5d-ac96-4b5e-9a3e-6f2f6c1e0d11 in organization acme was not found (or the token cannot see it)"},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, newMCP(t).fail(tt.tool, tt.args)); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("upstream failure", func(t *testing.T) {
		e := newMCP(t)
		e.sim.FailNext(503, 1)
		e.fail("current_user", `{}`, "HTTP 503")
	})
}
