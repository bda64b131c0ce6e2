package buildkite_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
)

// simClient is a Client of a fresh simulator holding the default token.
func simClient(t *testing.T, opts ...buildkitetest.Option) (*buildkite.Client, *buildkitetest.Server) {
	t.Helper()
	sim := buildkitetest.New(opts...)
	t.Cleanup(sim.Close)
	return newClient(t, sim.URL, &tokens{current: buildkitetest.DefaultToken}), sim
}

func noToken(t *testing.T, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), buildkitetest.DefaultToken) {
		t.Errorf("the token is in %s", b)
	}
}

func TestSimulatorReads(t *testing.T) {
	c, _ := simClient(t)
	ctx := context.Background()
	org, pl := buildkitetest.SeedOrg, buildkitetest.SeedPipeline

	user, err := c.CurrentUser(ctx)
	if err != nil || user.Name != "Sam Rivera" {
		t.Fatalf("CurrentUser = %+v, %v", user, err)
	}
	orgs, _, err := c.Organizations(ctx, buildkite.ListOptions{})
	if err != nil || len(orgs) != 2 || orgs[0].Slug != org {
		t.Fatalf("Organizations = %+v, %v", orgs, err)
	}
	tok, err := c.AccessToken(ctx)
	if err != nil || tok.UUID == "" || len(tok.Scopes) == 0 {
		t.Fatalf("AccessToken = %+v, %v", tok, err)
	}
	noToken(t, tok)

	pipes, page, err := c.ListPipelines(ctx, org, buildkite.PipelineListOptions{ListOptions: buildkite.ListOptions{PerPage: 2}})
	if err != nil || len(pipes) != 2 || page.NextPage != 2 {
		t.Fatalf("ListPipelines = %d pipelines, %+v, %v", len(pipes), page, err)
	}
	p, err := c.GetPipeline(ctx, org, pl)
	if err != nil || p.Slug != pl || p.DefaultBranch != "main" {
		t.Fatalf("GetPipeline = %+v, %v", p, err)
	}

	builds, page, err := c.ListBuilds(ctx, org, pl, buildkite.BuildListOptions{})
	if err != nil || len(builds) != 30 || page.NextPage != 2 || builds[0].Number != buildkitetest.SeedBuildCount {
		t.Fatalf("ListBuilds = %d builds, %+v, %v", len(builds), page, err)
	}
	if len(builds[0].Jobs) != 0 {
		t.Errorf("listed builds carry jobs without IncludeJobs")
	}
	orgBuilds, _, err := c.ListBuilds(ctx, org, "", buildkite.BuildListOptions{States: []string{"failed"}, ListOptions: buildkite.ListOptions{PerPage: 100}})
	if err != nil || len(orgBuilds) == 0 {
		t.Fatalf("org ListBuilds = %d, %v", len(orgBuilds), err)
	}
	for _, b := range orgBuilds {
		if b.State != "failed" {
			t.Errorf("state filter let %s through", b.State)
		}
	}

	failed := strconv.Itoa(buildkitetest.FailedBuild)
	b, err := c.GetBuild(ctx, org, pl, failed, buildkite.BuildOptions{IncludeJobs: true})
	if err != nil || b.State != "failed" || len(b.Jobs) == 0 {
		t.Fatalf("GetBuild = %s with %d jobs, %v", b.State, len(b.Jobs), err)
	}

	// Walk the jobs a page at a time.
	var ids []string
	opt := buildkite.JobListOptions{PerPage: 2}
	for range 50 {
		jp, err := c.ListJobs(ctx, org, pl, failed, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jp.Jobs {
			ids = append(ids, j.ID)
		}
		if jp.NextCursor == "" {
			break
		}
		opt.After = jp.NextCursor
	}
	if len(ids) != len(b.Jobs) {
		t.Errorf("paged through %d jobs, the build has %d", len(ids), len(b.Jobs))
	}

	var long buildkite.Job
	for _, j := range b.Jobs {
		if j.Name == buildkitetest.LongLogJobName {
			long = j
		}
	}
	if long.ID == "" {
		t.Fatalf("no job %q in build %s", buildkitetest.LongLogJobName, failed)
	}
	j, err := c.GetJob(ctx, org, "", "", long.ID)
	if err != nil || j.ID != long.ID {
		t.Fatalf("GetJob by org = %+v, %v", j.ID, err)
	}
	j, err = c.GetJob(ctx, org, pl, failed, long.ID)
	if err != nil || j.ID != long.ID {
		t.Fatalf("GetJob by build = %+v, %v", j.ID, err)
	}

	tail, err := c.JobLogTail(ctx, org, pl, failed, long.ID, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if len(tail.Data) != 2048 || tail.Offset+2048 != tail.Size || !strings.Contains(string(tail.Data), "exit status 1") {
		t.Errorf("tail: %d bytes at %d of %d: %q", len(tail.Data), tail.Offset, tail.Size, tail.Data)
	}
}

func TestSimulatorCreateBuild(t *testing.T) {
	c, sim := simClient(t)
	b, err := c.CreateBuild(context.Background(), buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkite.NewBuild{
		Commit: "HEAD", Branch: "main", Message: "Deploy from kitegate", Env: map[string]string{"FOO": "bar"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.Number != buildkitetest.SeedBuildCount+1 || b.Message != "Deploy from kitegate" {
		t.Errorf("created build %d %q", b.Number, b.Message)
	}
	reqs := sim.Requests()
	if last := reqs[len(reqs)-1]; last.Method != "POST" || last.Path != "/v2/organizations/acme/pipelines/web-app/builds" {
		t.Errorf("last request %s %s", last.Method, last.Path)
	}
}

func TestSimulatorErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("not found", func(t *testing.T) {
		c, _ := simClient(t)
		_, err := c.GetPipeline(ctx, buildkitetest.SeedOrg, "nope")
		e := asError(t, err)
		if e.Kind != buildkite.NotFound || e.SafeMessage() != "Buildkite says pipeline acme/nope was not found (or the token cannot see it)" {
			t.Errorf("%v / %s", e, e.SafeMessage())
		}
		_, err = c.GetPipeline(ctx, "nobody", "web-app")
		if e := asError(t, err); e.Resource != "organization nobody" {
			t.Errorf("resource %q, want the organization", e.Resource)
		}
	})
	t.Run("scope", func(t *testing.T) {
		sim := buildkitetest.New(buildkitetest.WithToken("bkua_narrow00000000000000000000000000000", "read_user"))
		t.Cleanup(sim.Close)
		c := newClient(t, sim.URL, &tokens{current: "bkua_narrow00000000000000000000000000000"})
		_, _, err := c.ListPipelines(ctx, buildkitetest.SeedOrg, buildkite.PipelineListOptions{})
		if e := asError(t, err); e.Kind != buildkite.Forbidden || !strings.Contains(e.SafeMessage(), "read_pipelines") {
			t.Errorf("%v / %s", e, e.SafeMessage())
		}
	})
	t.Run("rate limited GET is not retried", func(t *testing.T) {
		c, sim := simClient(t, buildkitetest.WithUserRateLimit(1))
		ctx, stats := buildkite.WithStats(ctx)
		if _, err := c.CurrentUser(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := c.CurrentUser(ctx)
		e := asError(t, err)
		if e.Kind != buildkite.RateLimited || e.Scope != "user" || e.RetryAfter <= 0 {
			t.Errorf("%+v", e)
		}
		if n := len(sim.Requests()); n != 2 || stats.Calls != 2 || stats.LastStatus != 429 || stats.RateLimitRemaining != 0 {
			t.Errorf("%d requests, stats %+v", n, stats)
		}
	})
	t.Run("rotation", func(t *testing.T) {
		sim := buildkitetest.New(buildkitetest.WithToken(freshToken, buildkitetest.DefaultScopes...))
		t.Cleanup(sim.Close)
		sim.RevokeToken(buildkitetest.DefaultToken)
		ts := &tokens{current: buildkitetest.DefaultToken, next: freshToken}
		c := newClient(t, sim.URL, ts)
		if _, err := c.CurrentUser(ctx); err != nil {
			t.Fatal(err)
		}
		if len(ts.refreshed) != 1 || len(sim.Requests()) != 2 {
			t.Errorf("%d refreshes, %d requests", len(ts.refreshed), len(sim.Requests()))
		}
	})
	t.Run("hostile segments", func(t *testing.T) {
		c, sim := simClient(t)
		_, err := c.GetPipeline(ctx, buildkitetest.SeedOrg, "../../user")
		if e := asError(t, err); e.Kind != buildkite.InvalidArgument {
			t.Errorf("%v", e)
		}
		if n := len(sim.Requests()); n != 0 {
			t.Errorf("%d requests reached the simulator", n)
		}
	})
}
