package tools

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
)

var _ Buildkite = (*buildkite.Client)(nil)

// staticTokens always hands out the simulator's token.
type staticTokens struct{}

var _ buildkite.TokenSource = staticTokens{}

func (staticTokens) Token(context.Context) (string, error) { return buildkitetest.DefaultToken, nil }
func (staticTokens) Refresh(context.Context, string) (string, error) {
	return buildkitetest.DefaultToken, nil
}

// harness is the default catalog over a real client of a fresh simulator.
type harness struct {
	t   *testing.T
	sim *buildkitetest.Server
	cat *Catalog
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	sim := buildkitetest.New()
	t.Cleanup(sim.Close)
	bk, err := buildkite.New(buildkite.Config{BaseURL: sim.URL, Tokens: staticTokens{}, Downloads: sim.Downloads()})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := Default(bk)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, sim: sim, cat: cat}
}

// call runs a tool through Tool.Call and checks that, whatever happened, the
// token is nowhere in the result or the error.
func (h *harness) call(name, args string) (*mcp.CallToolResult, error) {
	h.t.Helper()
	tool, ok := h.cat.Lookup(name)
	if !ok {
		h.t.Fatalf("no tool %s", name)
	}
	res, err := tool.Call(context.Background(), ReadArguments(json.RawMessage(args)))
	b, merr := json.Marshal(res)
	if merr != nil {
		h.t.Fatal(merr)
	}
	if strings.Contains(string(b), buildkitetest.DefaultToken) || (err != nil && strings.Contains(err.Error(), buildkitetest.DefaultToken)) {
		h.t.Errorf("%s: the token is in the result or error", name)
	}
	if cerr := checkResult(tool, res); cerr != nil {
		h.t.Error(cerr)
	}
	return res, err
}

// ok calls a tool that must succeed and decodes its JSON into out.
func (h *harness) ok(name, args string, out any) {
	h.t.Helper()
	res, err := h.call(name, args)
	if err != nil || res.IsError {
		h.t.Fatalf("%s %s: %v %s", name, args, err, text(res))
	}
	if err := json.Unmarshal([]byte(text(res)), out); err != nil {
		h.t.Fatalf("%s: decode %s: %v", name, text(res), err)
	}
}

func text(res *mcp.CallToolResult) string {
	if res == nil || len(res.Content) == 0 {
		return ""
	}
	return res.Content[0].(*mcp.TextContent).Text
}

func TestDefaultCatalog(t *testing.T) {
	cat, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Kind   Kind
		Area   string
		Scopes string
	}
	got := map[string]entry{}
	for _, tool := range cat.Tools() {
		s := tool.Spec()
		got[s.Name] = entry{s.Kind, s.Area, strings.Join(s.Scopes, ",")}
	}
	want := map[string]entry{
		"current_user":            {Read, "user", "read_user"},
		"user_token_organization": {Read, "user", "read_organizations"},
		"access_token":            {Read, "user", ""},
		"list_pipelines":          {Read, "pipelines", "read_pipelines"},
		"get_pipeline":            {Read, "pipelines", "read_pipelines"},
		"list_builds":             {Read, "builds", "read_builds"},
		"get_build":               {Read, "builds", "read_builds"},
		"create_build":            {Write, "builds", "write_builds"},
		"list_jobs":               {Read, "builds", "read_builds"},
		"get_job":                 {Read, "builds", "read_builds"},
		"tail_logs":               {Read, "logs", "read_build_logs"},
		// builds, logs, tests and investigations beyond the first tools
		"get_build_test_engine_runs": {Read, "builds", "read_builds"},
		"wait_for_build":             {Read, "builds", "read_builds"},
		"list_step_uploads":          {Read, "builds", "read_builds"},
		"get_step_upload":            {Read, "builds", "read_builds"},
		"cancel_build":               {Destructive, "builds", "write_builds"},
		"rebuild_build":              {Destructive, "builds", "write_builds"},
		"unblock_job":                {Destructive, "builds", "write_builds"},
		"retry_job":                  {Destructive, "builds", "write_builds"},
		"get_job_env":                {Sensitive, "builds", "read_job_env"},
		"search_logs":                {Read, "logs", "read_build_logs"},
		"read_logs":                  {Read, "logs", "read_build_logs"},
		"list_tests":                 {Read, "tests", "read_suites"},
		"get_test":                   {Read, "tests", "read_suites"},
		"list_tests_for_build":       {Read, "tests", "read_suites"},
		"list_test_runs":             {Read, "tests", "read_suites"},
		"get_test_run":               {Read, "tests", "read_suites"},
		"get_failed_executions":      {Read, "tests", "read_suites"},
		"get_build_failure_summary":  {Read, "investigations", "read_builds,read_build_logs,read_suites"},
		// clusters, agents, pipeline edits and schedules, artifacts, annotations, skills
		"list_clusters":                 {Read, "clusters", "read_clusters"},
		"get_cluster":                   {Read, "clusters", "read_clusters"},
		"create_cluster":                {Write, "clusters", "write_clusters"},
		"update_cluster":                {Destructive, "clusters", "write_clusters"},
		"list_cluster_queues":           {Read, "clusters", "read_clusters"},
		"get_cluster_queue":             {Read, "clusters", "read_clusters"},
		"create_cluster_queue":          {Write, "clusters", "write_clusters"},
		"update_cluster_queue":          {Destructive, "clusters", "write_clusters"},
		"pause_cluster_queue_dispatch":  {Destructive, "clusters", "write_clusters"},
		"resume_cluster_queue_dispatch": {Destructive, "clusters", "write_clusters"},
		"list_agents":                   {Read, "agents", "read_agents"},
		"get_agent":                     {Read, "agents", "read_agents"},
		"create_pipeline":               {Write, "pipelines", "write_pipelines"},
		"update_pipeline":               {Destructive, "pipelines", "write_pipelines"},
		"list_pipeline_schedules":       {Read, "pipelines", "read_pipelines"},
		"get_pipeline_schedule":         {Read, "pipelines", "read_pipelines"},
		"create_pipeline_schedule":      {Write, "pipelines", "write_pipelines"},
		"update_pipeline_schedule":      {Destructive, "pipelines", "write_pipelines"},
		"list_artifacts_for_build":      {Read, "artifacts", "read_artifacts"},
		"list_artifacts_for_job":        {Read, "artifacts", "read_artifacts"},
		"get_artifact":                  {Read, "artifacts", "read_artifacts"},
		"list_annotations":              {Read, "annotations", "read_builds"},
		"create_annotation":             {Destructive, "annotations", "write_builds"},
		"list_skills":                   {Read, "skills", ""},
		"load_skill":                    {Read, "skills", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("catalog (-want +got):\n%s", diff)
	}
}

func TestUserTools(t *testing.T) {
	h := newHarness(t)
	var user struct{ ID, Name, Email string }
	h.ok("current_user", `{}`, &user)
	if user.Name != "Sam Rivera" || user.Email != "sam.rivera@acme.example" || user.ID == "" {
		t.Errorf("current_user = %+v", user)
	}
	var org struct{ Slug, Name string }
	h.ok("user_token_organization", ``, &org)
	if org.Slug != buildkitetest.SeedOrg || org.Name != "Acme Inc" {
		t.Errorf("user_token_organization = %+v", org)
	}
	var tok struct {
		UUID      string   `json:"uuid"`
		Scopes    []string `json:"scopes"`
		ExpiresAt *string  `json:"expires_at"`
		User      struct{ Name string }
	}
	h.ok("access_token", `{}`, &tok)
	if tok.UUID == "" || !cmp.Equal(tok.Scopes, buildkitetest.DefaultScopes) || tok.ExpiresAt != nil || tok.User.Name != "Sam Rivera" {
		t.Errorf("access_token = %+v", tok)
	}
}

type pipelineItem struct {
	Slug, Name, Repository, Description, Configuration string
	DefaultBranch                                      string `json:"default_branch"`
	WebURL                                             string `json:"web_url"`
	Provider                                           *struct {
		WebhookURL string `json:"webhook_url"`
	}
}

func TestPipelineTools(t *testing.T) {
	h := newHarness(t)
	var list struct {
		Items    []pipelineItem
		NextPage int `json:"next_page"`
	}
	h.ok("list_pipelines", `{"org_slug":"acme","per_page":2}`, &list)
	if len(list.Items) != 2 || list.NextPage != 2 {
		t.Fatalf("list_pipelines per_page 2 = %d items, next_page %d", len(list.Items), list.NextPage)
	}
	want := pipelineItem{Slug: "web-app", Name: "Web App", Repository: "git@github.com:acme-inc/web-app.git",
		DefaultBranch: "main", WebURL: "https://buildkite.com/acme/web-app"}
	if diff := cmp.Diff(want, list.Items[0]); diff != "" {
		t.Errorf("summary item (-want +got):\n%s", diff)
	}

	list.NextPage = 0
	h.ok("list_pipelines", `{"org_slug":"acme","name":"infra"}`, &list)
	if len(list.Items) != 1 || list.Items[0].Slug != "infra-terraform" || list.NextPage != 0 {
		t.Errorf("name filter = %+v", list)
	}

	var p pipelineItem
	h.ok("get_pipeline", `{"org_slug":"acme","pipeline_slug":"web-app","detail_level":"detailed"}`, &p)
	if p.Description != "Rails storefront and checkout" || p.Configuration != "" {
		t.Errorf("detailed = %+v", p)
	}
	h.ok("get_pipeline", `{"org_slug":"acme","pipeline_slug":"web-app","detail_level":"full"}`, &p)
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
	h := newHarness(t)
	var list struct {
		Items    []buildItem
		NextPage int `json:"next_page"`
	}
	h.ok("list_builds", `{"org_slug":"acme","pipeline_slug":"web-app"}`, &list)
	if len(list.Items) != 30 || list.NextPage != 2 || list.Items[0].Number != buildkitetest.SeedBuildCount {
		t.Fatalf("first page: %d items, next_page %d", len(list.Items), list.NextPage)
	}
	first := list.Items[0]
	if first.State != "running" || len(first.Commit) != 40 || first.ID == "" || first.WebURL == "" || first.CreatedAt == "" || len(first.Jobs) != 0 || first.Pipeline != "" {
		t.Errorf("summary = %+v", first)
	}
	list.NextPage = 0
	h.ok("list_builds", `{"org_slug":"acme","pipeline_slug":"web-app","page":2}`, &list)
	if len(list.Items) != buildkitetest.SeedBuildCount-30 || list.NextPage != 0 {
		t.Errorf("second page: %d items, next_page %d", len(list.Items), list.NextPage)
	}
	h.ok("list_builds", `{"org_slug":"acme","state":"failed","per_page":100}`, &list)
	for _, b := range list.Items {
		if b.State != "failed" || b.Pipeline == "" {
			t.Errorf("org-wide failed builds include %+v", b)
		}
	}
	h.ok("list_builds", `{"org_slug":"acme","pipeline_slug":"web-app","per_page":1,"include_jobs":true}`, &list)
	if len(list.Items) != 1 || len(list.Items[0].Jobs) == 0 {
		t.Errorf("include_jobs = %+v", list.Items)
	}

	failed := strconv.Itoa(buildkitetest.FailedBuild)
	var b buildItem
	h.ok("get_build", `{"org_slug":"acme","pipeline_slug":"web-app","build_number":"`+failed+`"}`, &b)
	if b.Number != buildkitetest.FailedBuild || b.State != "failed" || b.Branch != "feature/checkout-v2" || len(b.Commit) != 40 || len(b.Jobs) != 0 {
		t.Errorf("get_build = %+v", b)
	}
	// The build's UUID and Test Engine runs lead to list_tests_for_build and get_test_run.
	if sim := h.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild); b.ID != sim.ID ||
		b.TestEngine == nil || len(b.TestEngine.Runs) == 0 || b.TestEngine.Runs[0].Suite.Slug == "" || len(b.Annotations) == 0 || b.Annotations[0].ID == "" {
		t.Errorf("get_build id %q (want %q), test_engine %+v, annotations %+v", b.ID, sim.ID, b.TestEngine, b.Annotations)
	}
	h.ok("get_build", `{"org_slug":"acme","pipeline_slug":"web-app","build_number":"`+failed+`","include_jobs":true}`, &b)
	if len(b.Jobs) == 0 {
		t.Error("get_build include_jobs returned no jobs")
	}
}

func TestJobTools(t *testing.T) {
	h := newHarness(t)
	failed := strconv.Itoa(buildkitetest.FailedBuild)
	build := `"org_slug":"acme","pipeline_slug":"web-app","build_number":"` + failed + `"`
	var all struct{ Items []jobItem }
	h.ok("list_jobs", `{`+build+`,"per_page":100}`, &all)
	if len(all.Items) == 0 {
		t.Fatal("no jobs")
	}

	var seen []jobItem
	args := `{` + build + `,"per_page":3}`
	for range 20 {
		var page struct {
			Items      []jobItem
			NextCursor string `json:"next_cursor"`
		}
		h.ok("list_jobs", args, &page)
		seen = append(seen, page.Items...)
		if page.NextCursor == "" {
			break
		}
		args = `{` + build + `,"per_page":3,"after":"` + page.NextCursor + `"}`
	}
	if diff := cmp.Diff(all.Items, seen); diff != "" {
		t.Errorf("paged jobs differ from one page (-want +got):\n%s", diff)
	}

	var failedJobs struct{ Items []jobItem }
	h.ok("list_jobs", `{`+build+`,"state":"failed","detail_level":"detailed","include_agent":true}`, &failedJobs)
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
	h.ok("get_job", `{"org_slug":"acme","job_id":"`+long.ID+`"}`, &j)
	if j.ID != long.ID || j.Name != buildkitetest.LongLogJobName || j.Agent == nil || j.Agent.ID != long.Agent.ID || j.Agent.Name != "" {
		t.Errorf("get_job by organization = %+v (want the agent's id only)", j)
	}
	j = jobItem{}
	h.ok("get_job", `{"org_slug":"acme","include_agent":true,"job_id":"`+long.ID+`"}`, &j)
	if j.Agent == nil || j.Agent.ID == "" || j.Agent.Name != long.Agent.Name {
		t.Errorf("get_job include_agent = %+v", j.Agent)
	}
	h.ok("get_job", `{`+build+`,"job_id":"`+long.ID+`"}`, &j)
	if j.ID != long.ID {
		t.Errorf("get_job by build = %+v", j)
	}
}

type tailResult struct {
	Entries   []logRow
	TotalRows int   `json:"total_rows"`
	LogBytes  int64 `json:"log_bytes"`
	Truncated bool
}

func TestTailLogs(t *testing.T) {
	h := newHarness(t)
	data := h.sim.Data()
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
	h.ok("tail_logs", args(fb, long, ""), &tail)
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
	reqs := h.sim.Requests()
	if tailReq := reqs[len(reqs)-2]; !strings.HasPrefix(tailReq.Header.Get("Range"), "bytes=-") || tailReq.Header.Get("Accept") != "text/plain" {
		t.Errorf("tail request headers %v", tailReq.Header)
	}
	if countReq := reqs[len(reqs)-1]; !strings.HasPrefix(countReq.Header.Get("Range"), "bytes=0-") {
		t.Errorf("count request headers %v", countReq.Header)
	}

	h.ok("tail_logs", args(fb, long, `,"tail":250`), &tail)
	if len(tail.Entries) != 250 || !tail.Truncated {
		t.Errorf("tail 250 = %d rows, truncated %v", len(tail.Entries), tail.Truncated)
	}

	total := strings.Count(short.Log, "\n")
	h.ok("tail_logs", args(pb, short, `,"tail":1000`), &tail)
	if len(tail.Entries) != total || tail.Entries[0].RN != 0 || tail.TotalRows != total || tail.Truncated {
		t.Errorf("whole short log: %d rows (want %d), total %d, truncated %v", len(tail.Entries), total, tail.TotalRows, tail.Truncated)
	}
	h.ok("tail_logs", args(pb, short, `,"tail":3`), &tail)
	if len(tail.Entries) != 3 || tail.Entries[0].RN != total-3 || !tail.Truncated {
		t.Errorf("tail 3 of short log = %+v", tail)
	}
}

func TestCreateBuild(t *testing.T) {
	h := newHarness(t)
	var b buildItem
	h.ok("create_build", `{"org_slug":"acme","pipeline_slug":"web-app","branch":"main","message":"Deploy from kitegate","environment":{"DEPLOY":"1"},"metadata":{"ticket":"OPS-1"}}`, &b)
	if b.Number != buildkitetest.SeedBuildCount+1 || b.Message != "Deploy from kitegate" || b.Branch != "main" || b.WebURL == "" {
		t.Errorf("create_build = %+v", b)
	}
	// A token in the data Buildkite returns (here a build message) is redacted.
	var leaky buildItem
	h.ok("create_build", `{"org_slug":"acme","pipeline_slug":"web-app","branch":"main","message":"oops `+buildkitetest.DefaultToken+`"}`, &leaky)
	if leaky.Message != "oops [redacted]" {
		t.Errorf("message = %q", leaky.Message)
	}
	got := h.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, b.Number)
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
			h := newHarness(t)
			res, err := h.call(tt.tool, tt.args)
			if err == nil || !res.IsError {
				t.Fatalf("accepted: %s", text(res))
			}
			if !strings.Contains(text(res), `"`+tt.argument+`"`) {
				t.Errorf("message %q does not name %s", text(res), tt.argument)
			}
			if n := len(h.sim.Requests()); n != 0 {
				t.Errorf("%d requests reached the simulator", n)
			}
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
			h := newHarness(t)
			res, err := h.call(tt.tool, tt.args)
			if err == nil || !res.IsError {
				t.Fatalf("no error: %s", text(res))
			}
			if diff := cmp.Diff(tt.want, text(res)); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("upstream failure", func(t *testing.T) {
		h := newHarness(t)
		h.sim.FailNext(503, 1)
		res, _ := h.call("current_user", `{}`)
		if !res.IsError || !strings.Contains(text(res), "HTTP 503") {
			t.Errorf("result %s", text(res))
		}
	})
}
