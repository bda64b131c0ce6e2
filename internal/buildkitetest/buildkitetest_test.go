package buildkitetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/buildkite/go-buildkite/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/buildkitetest"
)

func newClient(t *testing.T, s *buildkitetest.Server, token string) *buildkite.Client {
	t.Helper()
	c, err := buildkite.NewOpts(
		buildkite.WithBaseURL(s.URL),
		buildkite.WithTokenAuth(token),
		buildkite.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func start(t *testing.T, opts ...buildkitetest.Option) (*buildkitetest.Server, *buildkite.Client) {
	t.Helper()
	s := buildkitetest.New(opts...)
	t.Cleanup(s.Close)
	return s, newClient(t, s, buildkitetest.DefaultToken)
}

// rawGet makes a request without go-buildkite, which retries GET 429s.
func rawGet(t *testing.T, s *buildkitetest.Server, token, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func errorResponse(t *testing.T, err error) *buildkite.ErrorResponse {
	t.Helper()
	var er *buildkite.ErrorResponse
	if !errors.As(err, &er) {
		t.Fatalf("error = %v, want a *buildkite.ErrorResponse", err)
	}
	return er
}

func TestClientDecodesResources(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()

	user, _, err := c.User.CurrentUser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("Sam Rivera <sam.rivera@acme.example>", user.Name+" <"+user.Email+">"); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}

	orgs, _, err := c.Organizations.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	for _, o := range orgs {
		slugs = append(slugs, o.Slug)
	}
	if diff := cmp.Diff([]string{"acme", "acme-labs"}, slugs); diff != "" {
		t.Errorf("organizations (-want +got):\n%s", diff)
	}

	pipelines, _, err := c.Pipelines.List(ctx, buildkitetest.SeedOrg, nil)
	if err != nil {
		t.Fatal(err)
	}
	slugs = nil
	for _, p := range pipelines {
		slugs = append(slugs, p.Slug)
	}
	if diff := cmp.Diff([]string{"web-app", "api-service", "mobile-ios", "infra-terraform", "docs-site"}, slugs); diff != "" {
		t.Errorf("pipelines (-want +got):\n%s", diff)
	}

	b, _, err := c.Builds.Get(ctx, buildkitetest.SeedOrg, buildkitetest.SeedPipeline, strconv.Itoa(buildkitetest.FailedBuild), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.State != "failed" || b.Number != buildkitetest.FailedBuild || b.Pipeline == nil || b.Pipeline.Slug != "web-app" ||
		b.PullRequest == nil || b.CreatedAt == nil || b.FinishedAt == nil || len(b.Commit) != 40 {
		t.Errorf("failed build decoded as %+v", b)
	}
	types := map[string]int{}
	var failedJob buildkite.Job
	for _, j := range b.Jobs {
		types[j.Type]++
		if j.Name == buildkitetest.LongLogJobName {
			failedJob = j
		}
	}
	if diff := cmp.Diff(map[string]int{"script": 6, "waiter": 1}, types); diff != "" {
		t.Errorf("job types of the failed build (-want +got):\n%s", diff)
	}
	if failedJob.State != "failed" || failedJob.ExitStatus == nil || *failedJob.ExitStatus != 1 || failedJob.Agent.Name == "" {
		t.Errorf("failed job = %+v", failedJob)
	}

	passed, _, err := c.Builds.Get(ctx, buildkitetest.SeedOrg, buildkitetest.SeedPipeline, strconv.Itoa(buildkitetest.PassedBuild), nil)
	if err != nil {
		t.Fatal(err)
	}
	var trigger, manual *buildkite.Job
	for i, j := range passed.Jobs {
		switch j.Type {
		case "trigger":
			trigger = &passed.Jobs[i]
		case "manual":
			manual = &passed.Jobs[i]
		}
	}
	if trigger == nil || trigger.TriggeredBuild == nil || !strings.Contains(trigger.TriggeredBuild.URL, "/pipelines/infra-terraform/builds/") {
		t.Errorf("trigger job = %+v", trigger)
	}
	if manual == nil || manual.State != "unblocked" || manual.UnblockedBy == nil {
		t.Errorf("manual job = %+v", manual)
	}

	anns, _, err := c.Annotations.ListByBuild(ctx, buildkitetest.SeedOrg, buildkitetest.SeedPipeline, strconv.Itoa(buildkitetest.FailedBuild), nil)
	if err != nil {
		t.Fatal(err)
	}
	var styles []string
	for _, a := range anns {
		styles = append(styles, a.Style)
	}
	if diff := cmp.Diff([]string{"error", "warning", "info"}, styles); diff != "" {
		t.Errorf("annotation styles (-want +got):\n%s", diff)
	}

	arts, _, err := c.Artifacts.ListByBuild(ctx, buildkitetest.SeedOrg, buildkitetest.SeedPipeline, strconv.Itoa(buildkitetest.FailedBuild), nil)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, a := range arts {
		paths = append(paths, a.Path)
		if a.JobID != failedJob.ID || a.FileSize == 0 || a.SHA1 == "" {
			t.Errorf("artifact %s = %+v", a.Path, a)
		}
	}
	if diff := cmp.Diff([]string{"tmp/rspec/junit-2.xml", "log/test.log", "tmp/capybara/checkout_spec_failure.png"}, paths); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}

	env, _, err := c.Jobs.GetJobEnvironmentVariables(ctx, buildkitetest.SeedOrg, buildkitetest.SeedPipeline, strconv.Itoa(buildkitetest.FailedBuild), failedJob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if env.EnvironmentVariables["BUILDKITE_JOB_ID"] != failedJob.ID || env.EnvironmentVariables["BUILDKITE_BUILD_NUMBER"] != "37" {
		t.Errorf("job env = %v", env.EnvironmentVariables)
	}

	tok, _, err := c.AccessTokens.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(buildkitetest.DefaultScopes, tok.Scopes); diff != "" {
		t.Errorf("token scopes (-want +got):\n%s", diff)
	}
	if tok.UUID == "" || tok.CreatedAt == nil || tok.ExpiresAt != nil || tok.User.Email != "sam.rivera@acme.example" {
		t.Errorf("access token = %+v", tok)
	}
}

func TestBuildPagination(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	opt := &buildkite.BuildsListOptions{ExcludeJobs: true, ListOptions: buildkite.ListOptions{PerPage: 30}}
	var numbers []int
	var pages []buildkite.Response
	for {
		bs, resp, err := c.Builds.ListByPipeline(ctx, buildkitetest.SeedOrg, buildkitetest.SeedPipeline, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			numbers = append(numbers, b.Number)
			if len(b.Jobs) != 0 {
				t.Errorf("build %d has jobs despite exclude_jobs=true", b.Number)
			}
		}
		pages = append(pages, *resp)
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	var want []int
	for n := buildkitetest.SeedBuildCount; n >= 1; n-- {
		want = append(want, n)
	}
	if diff := cmp.Diff(want, numbers); diff != "" {
		t.Errorf("build numbers over all pages (-want +got):\n%s", diff)
	}
	type links struct{ Next, Prev, First, Last int }
	var got []links
	for _, p := range pages {
		got = append(got, links{p.NextPage, p.PrevPage, p.FirstPage, p.LastPage})
	}
	if diff := cmp.Diff([]links{{Next: 2, Last: 2}, {Prev: 1, First: 1}}, got); diff != "" {
		t.Errorf("Link header pages (-want +got):\n%s", diff)
	}
	if link := pages[0].Header.Get("Link"); !strings.HasPrefix(link, "<http://127.0.0.1:") || !strings.Contains(link, "exclude_jobs=true") {
		t.Errorf("Link = %q, want absolute URLs keeping the other query parameters", link)
	}
}

func TestPerPage(t *testing.T) {
	s, _ := start(t)
	tests := []struct {
		query      string
		wantStatus int
		wantCount  int
	}{
		{"", 200, 30},
		{"?per_page=5", 200, 5},
		{"?per_page=500", 200, 42},
		{"?per_page=10&page=5", 200, 2},
		{"?page=9", 200, 0},
		{"?per_page=0", 400, 0},
		{"?per_page=abc", 400, 0},
		{"?page=-1", 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, body := rawGet(t, s, buildkitetest.DefaultToken, "v2/organizations/acme/pipelines/web-app/builds"+tt.query)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus != 200 {
				var e struct{ Message string }
				if json.Unmarshal(body, &e) != nil || e.Message == "" {
					t.Errorf("error body = %s, want a JSON message", body)
				}
				return
			}
			var builds []json.RawMessage
			if err := json.Unmarshal(body, &builds); err != nil {
				t.Fatal(err)
			}
			if len(builds) != tt.wantCount {
				t.Errorf("got %d builds, want %d", len(builds), tt.wantCount)
			}
		})
	}
}

func TestBuildFilters(t *testing.T) {
	_, c := start(t)
	tests := []struct {
		name string
		opt  buildkite.BuildsListOptions
		want []int
	}{
		{"one state", buildkite.BuildsListOptions{State: []string{"failed"}}, []int{37, 29, 21, 12}},
		{"two states", buildkite.BuildsListOptions{State: []string{"running", "failing"}}, []int{42, 40}},
		{"branch", buildkite.BuildsListOptions{Branch: []string{"feature/tax-rates"}}, []int{29, 21}},
		{"branch and state", buildkite.BuildsListOptions{Branch: []string{"feature/checkout-v2"}, State: []string{"canceled"}}, []int{36}},
		{"creator", buildkite.BuildsListOptions{Creator: "sam.rivera@acme.example"}, []int{41, 36}},
		{"no match", buildkite.BuildsListOptions{Branch: []string{"nope"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opt.ExcludeJobs = true
			bs, _, err := c.Builds.ListByPipeline(context.Background(), "acme", "web-app", &tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, b := range bs {
				got = append(got, b.Number)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("builds (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("commit and state=finished, raw", func(t *testing.T) {
		s, _ := start(t)
		b := buildkitetest.Seed().Build("acme", "web-app", 35)
		_, body := rawGet(t, s, buildkitetest.DefaultToken, "v2/organizations/acme/builds?state=finished&commit="+b.Commit)
		var got []struct{ Number int }
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]struct{ Number int }{{35}}, got); diff != "" {
			t.Errorf("builds (-want +got):\n%s", diff)
		}
	})

	t.Run("every state is seeded", func(t *testing.T) {
		seen := map[string]bool{}
		opt := &buildkite.BuildsListOptions{ExcludeJobs: true, ListOptions: buildkite.ListOptions{PerPage: 100}}
		bs, _, err := c.Builds.ListByPipeline(context.Background(), "acme", "web-app", opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			seen[b.State] = true
		}
		for _, st := range []string{"scheduled", "running", "passed", "failed", "blocked", "canceled", "canceling", "skipped", "not_run", "failing"} {
			if !seen[st] {
				t.Errorf("no build in state %q", st)
			}
		}
	})
}

func TestErrors(t *testing.T) {
	s, c := start(t, buildkitetest.WithToken("bkua_pipelines_only", "read_pipelines"))
	s.AddToken("bkua_revoked", buildkitetest.DefaultScopes...)
	s.RevokeToken("bkua_revoked")
	ctx := context.Background()
	const unauthenticated = "Authentication required. Please supply a valid API Access Token: https://buildkite.com/docs/apis/rest-api#authentication"

	tests := []struct {
		name       string
		do         func() error
		wantStatus int
		wantMsg    string
	}{
		{"no token", func() error {
			_, _, err := newClient(t, s, "").User.CurrentUser(ctx)
			return err
		}, 401, unauthenticated},
		{"unknown token", func() error {
			_, _, err := newClient(t, s, "bkua_nope").User.CurrentUser(ctx)
			return err
		}, 401, unauthenticated},
		{"revoked token", func() error {
			_, _, err := newClient(t, s, "bkua_revoked").User.CurrentUser(ctx)
			return err
		}, 401, unauthenticated},
		{"missing scope", func() error {
			_, _, err := newClient(t, s, "bkua_pipelines_only").Builds.ListByPipeline(ctx, "acme", "web-app", nil)
			return err
		}, 403, "Your access token does not have the required scopes"},
		{"unknown organization", func() error {
			_, _, err := c.Pipelines.List(ctx, "initech", nil)
			return err
		}, 404, "No organization found"},
		{"unknown pipeline", func() error {
			_, _, err := c.Pipelines.Get(ctx, "acme", "nope")
			return err
		}, 404, "Not Found"},
		{"unknown build", func() error {
			_, _, err := c.Builds.Get(ctx, "acme", "web-app", "999", nil)
			return err
		}, 404, "Not Found"},
		{"build number not a number", func() error {
			_, _, err := c.Builds.Get(ctx, "acme", "web-app", "latest", nil)
			return err
		}, 404, "Not Found"},
		{"unknown job", func() error {
			_, _, err := c.Jobs.GetJobLog(ctx, "acme", "web-app", "37", "00000000-0000-0000-0000-000000000000")
			return err
		}, 404, "Not Found"},
		{"create build without commit", func() error {
			_, _, err := c.Builds.Create(ctx, "acme", "web-app", buildkite.CreateBuild{Branch: "main"})
			return err
		}, 422, "Validation Failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			er := errorResponse(t, tt.do())
			if er.Response.StatusCode != tt.wantStatus || !strings.HasPrefix(er.Message, tt.wantMsg) {
				t.Errorf("got %d %q, want %d %q", er.Response.StatusCode, er.Message, tt.wantStatus, tt.wantMsg)
			}
			if ct := er.Response.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}

	t.Run("422 lists the missing fields", func(t *testing.T) {
		_, _, err := c.Builds.Create(ctx, "acme", "web-app", buildkite.CreateBuild{})
		var body struct {
			Errors []struct{ Field string }
		}
		if err := json.Unmarshal(errorResponse(t, err).RawBody, &body); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]struct{ Field string }{{"commit"}, {"branch"}}, body.Errors); diff != "" {
			t.Errorf("errors (-want +got):\n%s", diff)
		}
	})

	t.Run("unknown path", func(t *testing.T) {
		resp, body := rawGet(t, s, buildkitetest.DefaultToken, "v2/organizations/acme/wat")
		if resp.StatusCode != 404 || !strings.Contains(string(body), `"message":"Not Found"`) {
			t.Errorf("got %d %s", resp.StatusCode, body)
		}
	})
}
