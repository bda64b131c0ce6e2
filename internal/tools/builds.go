package tools

import (
	"context"
	"strings"

	"github.com/kitegate/kitegate/internal/buildkite"
)

// Buildkite's build states; "finished" is a filter for any finished state.
var buildStates = []string{"running", "scheduled", "passed", "failing", "failed", "blocked", "canceled", "canceling", "skipped", "not_run", "finished"}

type listBuildsArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string `json:"pipeline_slug,omitempty" jsonschema:"the pipeline slug; leave it out to list builds across the whole organization"`
	Branch       string `json:"branch,omitempty" jsonschema:"keep builds of this branch"`
	State        string `json:"state,omitempty" jsonschema:"keep builds in this state: running, scheduled, passed, failing, failed, blocked, canceled, canceling, skipped, not_run, or finished (any finished state)"`
	Commit       string `json:"commit,omitempty" jsonschema:"keep builds of this full commit SHA"`
	Creator      string `json:"creator,omitempty" jsonschema:"keep builds created by the user with this UUID"`
	IncludeJobs  bool   `json:"include_jobs,omitempty" jsonschema:"also return each build's jobs (large; default false)"`
	Page         int    `json:"page,omitempty" jsonschema:"page number, from 1 (default 1); use next_page from the previous answer"`
	PerPage      int    `json:"per_page,omitempty" jsonschema:"builds per page, 1 to 100 (default 30)"`
}

type getBuildArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	BuildNumber  string `json:"build_number" jsonschema:"the build number, e.g. \"42\""`
	IncludeJobs  bool   `json:"include_jobs,omitempty" jsonschema:"also return the build's jobs (default false; list_jobs pages through them)"`
}

type createBuildArgs struct {
	OrgSlug             string            `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug        string            `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	Commit              string            `json:"commit,omitempty" jsonschema:"the commit SHA to build (default HEAD: the branch's latest commit)"`
	Branch              string            `json:"branch" jsonschema:"the branch to build, e.g. main"`
	Message             string            `json:"message,omitempty" jsonschema:"the build message shown in Buildkite (default: the commit message)"`
	Environment         map[string]string `json:"environment,omitempty" jsonschema:"environment variables for the build's jobs, name to value"`
	Metadata            map[string]string `json:"metadata,omitempty" jsonschema:"build meta-data, key to value"`
	IgnoreBranchFilters bool              `json:"ignore_branch_filters,omitempty" jsonschema:"build even if the pipeline's branch filters exclude the branch"`
}

type listJobsArgs struct {
	OrgSlug            string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug       string `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	BuildNumber        string `json:"build_number" jsonschema:"the build number, e.g. \"42\""`
	State              string `json:"state,omitempty" jsonschema:"keep jobs in this state, e.g. failed, running, passed, blocked, canceled, broken, waiting"`
	StepKey            string `json:"step_key,omitempty" jsonschema:"keep jobs of the step with this key"`
	GroupKey           string `json:"group_key,omitempty" jsonschema:"keep jobs of the group step with this key"`
	IncludeRetriedJobs bool   `json:"include_retried_jobs,omitempty" jsonschema:"also return jobs that were retried (superseded); default false"`
	PerPage            int    `json:"per_page,omitempty" jsonschema:"jobs per page, 1 to 100 (default 30)"`
	After              string `json:"after,omitempty" jsonschema:"cursor: return the page after this one (next_cursor of the previous answer)"`
	Before             string `json:"before,omitempty" jsonschema:"cursor: return the page before this one (prev_cursor of the previous answer)"`
	DetailLevel        string `json:"detail_level,omitempty" jsonschema:"how much of each job to return: summary (default), detailed (command, timings, retries) or full (everything Buildkite returns)"`
	IncludeAgent       bool   `json:"include_agent,omitempty" jsonschema:"also return the agent that ran each job (name, hostname)"`
}

type getJobArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	JobID        string `json:"job_id" jsonschema:"the job's UUID"`
	PipelineSlug string `json:"pipeline_slug,omitempty" jsonschema:"the pipeline slug; optional, give it with build_number"`
	BuildNumber  string `json:"build_number,omitempty" jsonschema:"the build number; optional, give it with pipeline_slug"`
}

type buildSummary struct {
	Pipeline   string       `json:"pipeline,omitempty"`
	Number     int          `json:"number"`
	State      string       `json:"state"`
	Branch     string       `json:"branch"`
	Commit     string       `json:"commit"`
	Message    string       `json:"message"`
	Creator    string       `json:"creator,omitempty"`
	Author     string       `json:"author,omitempty"`
	CreatedAt  *string      `json:"created_at,omitempty"`
	StartedAt  *string      `json:"started_at,omitempty"`
	FinishedAt *string      `json:"finished_at,omitempty"`
	WebURL     string       `json:"web_url"`
	Jobs       []jobSummary `json:"jobs,omitempty"`
}

type buildDetail struct {
	buildSummary
	FullCommit    string            `json:"full_commit,omitempty"`
	FullMessage   string            `json:"full_message,omitempty"`
	Blocked       bool              `json:"blocked"`
	Source        string            `json:"source,omitempty"`
	AuthorEmail   string            `json:"author_email,omitempty"`
	ScheduledAt   *string           `json:"scheduled_at,omitempty"`
	MetaData      map[string]string `json:"meta_data,omitempty"`
	PullRequest   any               `json:"pull_request,omitempty"`
	RebuiltFrom   any               `json:"rebuilt_from,omitempty"`
	TriggeredFrom any               `json:"triggered_from,omitempty"`
}

type buildList struct {
	Items    []buildSummary `json:"items"`
	NextPage int            `json:"next_page,omitempty"`
}

func shapeBuild(b buildkite.Build, withPipeline bool) buildSummary {
	s := buildSummary{
		Number: b.Number, State: b.State, Branch: b.Branch, Commit: shortCommit(b.Commit),
		Message: firstLine(b.Message), Creator: b.Creator.Name,
		CreatedAt: timestamp(b.CreatedAt), StartedAt: timestamp(b.StartedAt), FinishedAt: timestamp(b.FinishedAt),
		WebURL: b.WebURL,
	}
	if b.Author.Name != b.Creator.Name {
		s.Author = b.Author.Name
	}
	if withPipeline && b.Pipeline != nil {
		s.Pipeline = b.Pipeline.Slug
	}
	for _, j := range b.Jobs {
		s.Jobs = append(s.Jobs, shapeJob(j, summary, false).(jobSummary))
	}
	return s
}

func shapeBuildDetail(b buildkite.Build) buildDetail {
	d := buildDetail{
		buildSummary: shapeBuild(b, false), Blocked: b.Blocked, Source: b.Source,
		ScheduledAt: timestamp(b.ScheduledAt), MetaData: b.MetaData,
	}
	if d.Commit != b.Commit {
		d.FullCommit = b.Commit
	}
	if msg := strings.TrimSpace(b.Message); msg != d.Message {
		d.FullMessage = msg
	}
	d.AuthorEmail = b.Author.Email
	if b.PullRequest != nil {
		d.PullRequest = b.PullRequest
	}
	if b.RebuiltFrom != nil {
		d.RebuiltFrom = map[string]any{"number": b.RebuiltFrom.Number}
	}
	if b.TriggeredFrom != nil {
		d.TriggeredFrom = b.TriggeredFrom
	}
	return d
}

type jobSummary struct {
	ID         string  `json:"id"`
	Type       string  `json:"type"`
	Name       string  `json:"name,omitempty"`
	State      string  `json:"state,omitempty"`
	StepKey    string  `json:"step_key,omitempty"`
	ExitStatus *int    `json:"exit_status,omitempty"`
	SoftFailed bool    `json:"soft_failed,omitempty"`
	StartedAt  *string `json:"started_at,omitempty"`
	FinishedAt *string `json:"finished_at,omitempty"`
	WebURL     string  `json:"web_url,omitempty"`
	Agent      *agent  `json:"agent,omitempty"`
}

type agent struct {
	Name     string `json:"name"`
	Hostname string `json:"hostname,omitempty"`
}

type jobDetail struct {
	jobSummary
	Command         string   `json:"command,omitempty"`
	GroupKey        string   `json:"group_key,omitempty"`
	AgentQueryRules []string `json:"agent_query_rules,omitempty"`
	CreatedAt       *string  `json:"created_at,omitempty"`
	ScheduledAt     *string  `json:"scheduled_at,omitempty"`
	RunnableAt      *string  `json:"runnable_at,omitempty"`
	Retried         bool     `json:"retried,omitempty"`
	RetriedInJobID  string   `json:"retried_in_job_id,omitempty"`
	RetriesCount    int      `json:"retries_count,omitempty"`
	ParallelIndex   *int     `json:"parallel_group_index,omitempty"`
	ParallelTotal   *int     `json:"parallel_group_total,omitempty"`
	Unblockable     bool     `json:"unblockable,omitempty"`
	TriggeredBuild  any      `json:"triggered_build,omitempty"`
}

func shapeJob(j buildkite.Job, level string, withAgent bool) any {
	name := j.Name
	if name == "" {
		name = j.Label
	}
	s := jobSummary{
		ID: j.ID, Type: j.Type, Name: name, State: j.State, StepKey: j.StepKey, ExitStatus: j.ExitStatus,
		SoftFailed: j.SoftFailed, StartedAt: timestamp(j.StartedAt), FinishedAt: timestamp(j.FinishedAt), WebURL: j.WebURL,
	}
	if withAgent && j.Agent.Name != "" {
		s.Agent = &agent{Name: j.Agent.Name, Hostname: j.Agent.Hostname}
	}
	switch level {
	case summary:
		return s
	case detailed:
		d := jobDetail{
			jobSummary: s, Command: j.Command, GroupKey: j.GroupKey, AgentQueryRules: j.AgentQueryRules,
			CreatedAt: timestamp(j.CreatedAt), ScheduledAt: timestamp(j.ScheduledAt), RunnableAt: timestamp(j.RunnableAt),
			Retried: j.Retried, RetriedInJobID: j.RetriedInJobID, RetriesCount: j.RetriesCount,
			ParallelIndex: j.ParallelGroupIndex, ParallelTotal: j.ParallelGroupTotal, Unblockable: j.Unblockable,
		}
		if j.TriggeredBuild != nil {
			d.TriggeredBuild = j.TriggeredBuild
		}
		return d
	}
	// An agent's registration token is a credential, never for the model.
	j.Agent.AgentToken = ""
	if !withAgent {
		j.Agent = buildkite.Agent{}
	}
	return j
}

type jobList struct {
	Items      []any  `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
	PrevCursor string `json:"prev_cursor,omitempty"`
}

func buildTools(bk Buildkite) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "list_builds",
		Title: "List builds",
		Description: "Lists builds newest first, of one pipeline or (without pipeline_slug) of the whole organization, " +
			"optionally filtered by branch, state, commit or creator; 30 per page by default. " +
			"Returns items (number, state, branch, short commit, first line of the message, creator (who started it) and commit author, created/started/finished times, web_url; " +
			"pipeline when listing the organization) and next_page when there are more. Jobs are left out unless include_jobs is true.",
		Area: "builds", Kind: Read, Scopes: []string{"read_builds"},
	}, func(ctx context.Context, in listBuildsArgs) (any, error) {
		if err := oneOf("state", in.State, buildStates...); err != nil {
			return nil, err
		}
		lo, err := listOptions(in.Page, in.PerPage)
		if err != nil {
			return nil, err
		}
		builds, page, err := bk.ListBuilds(ctx, in.OrgSlug, in.PipelineSlug, buildkite.BuildListOptions{
			Branch: in.Branch, State: in.State, Commit: in.Commit, Creator: in.Creator, IncludeJobs: in.IncludeJobs, ListOptions: lo,
		})
		if err != nil {
			return nil, err
		}
		out := buildList{Items: make([]buildSummary, 0, len(builds)), NextPage: page.NextPage}
		for _, b := range builds {
			out.Items = append(out.Items, shapeBuild(b, in.PipelineSlug == ""))
		}
		return out, nil
	})
	add(&d, Spec{
		Name:  "get_build",
		Title: "Get a build",
		Description: "Returns one build: number, state, branch, commit, message, creator and author, source, blocked, timings, web_url, " +
			"meta-data, and its pull request, rebuild or trigger origin. Jobs are left out unless include_jobs is true " +
			"(list_jobs pages through them with filters).",
		Area: "builds", Kind: Read, Scopes: []string{"read_builds"},
	}, func(ctx context.Context, in getBuildArgs) (any, error) {
		b, err := bk.GetBuild(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, buildkite.BuildOptions{IncludeJobs: in.IncludeJobs})
		if err != nil {
			return nil, err
		}
		return shapeBuildDetail(b), nil
	})
	add(&d, Spec{
		Name:  "create_build",
		Title: "Create a build",
		Description: "Starts a new build of a pipeline on a branch (commit defaults to HEAD, the branch's latest commit), " +
			"with an optional message, environment variables and meta-data. Returns the new build's number, state and web_url. " +
			"This runs the pipeline's steps, which may deploy: confirm with the user first.",
		Area: "builds", Kind: Write, Scopes: []string{"write_builds"},
	}, func(ctx context.Context, in createBuildArgs) (any, error) {
		if strings.TrimSpace(in.Branch) == "" {
			return nil, &ArgumentError{Argument: "branch", Reason: "must not be empty"}
		}
		commit := in.Commit
		if strings.TrimSpace(commit) == "" {
			commit = "HEAD"
		}
		b, err := bk.CreateBuild(ctx, in.OrgSlug, in.PipelineSlug, buildkite.NewBuild{
			Commit: commit, Branch: in.Branch, Message: in.Message, Env: in.Environment, MetaData: in.Metadata,
			IgnorePipelineBranchFilters: in.IgnoreBranchFilters,
		})
		if err != nil {
			return nil, err
		}
		return shapeBuild(b, false), nil
	})
	add(&d, Spec{
		Name:  "list_jobs",
		Title: "List a build's jobs",
		Description: "Lists the jobs of a build a page at a time, optionally filtered by state, step_key or group_key. " +
			"Returns items (id, type, name, state, step_key, exit_status, times, web_url at the summary level) and " +
			"next_cursor/prev_cursor: pass one as after/before for the next or previous page. " +
			"Use it to find the failed jobs of a build and their job_id for tail_logs.",
		Area: "builds", Kind: Read, Scopes: []string{"read_builds"},
	}, func(ctx context.Context, in listJobsArgs) (any, error) {
		level, err := detailLevel(in.DetailLevel)
		if err != nil {
			return nil, err
		}
		if in.PerPage < 0 || in.PerPage > 100 {
			return nil, &ArgumentError{Argument: "per_page", Reason: "must be between 1 and 100"}
		}
		if in.After != "" && in.Before != "" {
			return nil, &ArgumentError{Argument: "before", Reason: "give after or before, not both"}
		}
		page, err := bk.ListJobs(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, buildkite.JobListOptions{
			State: in.State, StepKey: in.StepKey, GroupKey: in.GroupKey, IncludeRetriedJobs: in.IncludeRetriedJobs,
			PerPage: in.PerPage, After: in.After, Before: in.Before,
		})
		if err != nil {
			return nil, err
		}
		out := jobList{Items: make([]any, 0, len(page.Jobs)), NextCursor: page.NextCursor, PrevCursor: page.PrevCursor}
		for _, j := range page.Jobs {
			out.Items = append(out.Items, shapeJob(j, level, in.IncludeAgent))
		}
		return out, nil
	})
	add(&d, Spec{
		Name:  "get_job",
		Title: "Get a job",
		Description: "Returns one job by its UUID: name, state, exit status, command, step and group keys, timings, retries, " +
			"the agent that ran it and web_url. pipeline_slug and build_number are optional (give both or neither).",
		Area: "builds", Kind: Read, Scopes: []string{"read_builds"},
	}, func(ctx context.Context, in getJobArgs) (any, error) {
		if (in.PipelineSlug == "") != (in.BuildNumber == "") {
			return nil, &ArgumentError{Argument: "build_number", Reason: "give pipeline_slug and build_number together, or neither"}
		}
		j, err := bk.GetJob(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID)
		if err != nil {
			return nil, err
		}
		return shapeJob(j, detailed, true), nil
	})
	return d.done()
}
