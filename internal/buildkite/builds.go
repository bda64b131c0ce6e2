package buildkite

import (
	"context"
	"fmt"

	gobuildkite "github.com/buildkite/go-buildkite/v4"
)

// BuildListOptions filters ListBuilds.
type BuildListOptions struct {
	Branch string
	// States keeps builds in any of these states (running, scheduled,
	// passed, failed, ... or "finished"), sent as state[].
	States  []string
	Commit  string // the full SHA
	Creator string // the creating user's UUID
	// IncludeJobs asks for each build's jobs too; by default they are
	// excluded (exclude_jobs=true), as they dominate the answer's size.
	IncludeJobs bool
	ListOptions
}

// ListBuilds lists a pipeline's builds, or the organization's when pipeline
// is empty, newest first.
func (c *Client) ListBuilds(ctx context.Context, org, pipeline string, opt BuildListOptions) ([]Build, Pagination, error) {
	var p path
	o := p.slug("organization slug", org)
	pl := ""
	if pipeline != "" {
		pl = p.slug("pipeline slug", pipeline)
	}
	lo, err := opt.check()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	q := &gobuildkite.BuildsListOptions{
		Commit:      opt.Commit,
		Creator:     opt.Creator,
		ExcludeJobs: !opt.IncludeJobs,
		ListOptions: lo,
	}
	if opt.Branch != "" {
		q.Branch = []string{opt.Branch}
	}
	q.State = opt.States
	var (
		builds []Build
		resp   *gobuildkite.Response
	)
	if pipeline == "" {
		builds, resp, err = c.bk.Builds.ListByOrg(ctx, o, q)
	} else {
		builds, resp, err = c.bk.Builds.ListByPipeline(ctx, o, pl, q)
	}
	if err != nil {
		what := "pipeline " + org + "/" + pipeline
		if pipeline == "" {
			what = "organization " + org
		}
		return nil, Pagination{}, mapOrgError(err, org, what)
	}
	return builds, pagination(resp), nil
}

// BuildOptions shapes GetBuild's answer.
type BuildOptions struct {
	// IncludeJobs asks for the build's jobs; excluded by default.
	IncludeJobs bool
	// IncludeTestEngine asks for the Test Engine runs the build reported
	// (Build.TestEngine).
	IncludeTestEngine bool
}

// TestEngineRun is a Test Engine run a build reported, and its suite.
type TestEngineRun = gobuildkite.TestEngineRun

// GetBuild fetches one build by number.
func (c *Client) GetBuild(ctx context.Context, org, pipeline, number string, opt BuildOptions) (Build, error) {
	var p path
	o, pl, n := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number)
	if p.err != nil {
		return Build{}, p.err
	}
	b, _, err := c.bk.Builds.Get(ctx, o, pl, n, &gobuildkite.BuildGetOptions{
		BuildsListOptions: gobuildkite.BuildsListOptions{ExcludeJobs: !opt.IncludeJobs},
		IncludeTestEngine: opt.IncludeTestEngine,
	})
	return b, mapOrgError(err, org, buildName(org, pipeline, number))
}

// CreateBuild starts a build of pipeline. Commit and Branch are required by
// Buildkite ("HEAD" builds the branch's latest commit).
func (c *Client) CreateBuild(ctx context.Context, org, pipeline string, b NewBuild) (Build, error) {
	var p path
	o, pl := p.slug("organization slug", org), p.slug("pipeline slug", pipeline)
	if p.err != nil {
		return Build{}, p.err
	}
	if b.Commit == "" || b.Branch == "" {
		return Build{}, invalid("a new build needs a commit and a branch")
	}
	got, _, err := c.bk.Builds.Create(ctx, o, pl, b)
	return got, mapOrgError(err, org, "pipeline "+org+"/"+pipeline)
}

func buildName(org, pipeline, number string) string {
	return fmt.Sprintf("build %s/%s#%s", org, pipeline, number)
}
