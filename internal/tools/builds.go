package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kitegate/kitegate/internal/buildkite"
)

// Buildkite's build states; "finished" is a filter for any finished state.
var buildStates = []string{"running", "scheduled", "passed", "failing", "failed", "blocked", "canceled", "canceling", "skipped", "not_run", "finished"}

type listBuildsArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string `json:"pipeline_slug,omitempty" jsonschema:"leave out for the whole organization"`
	Branch       string `json:"branch,omitempty" jsonschema:"keep builds of this branch"`
	State        string `json:"state,omitempty" jsonschema:"running, scheduled, passed, failing, failed, blocked, canceled, canceling, skipped, not_run or finished (any of those); several comma-separated"`
	Commit       string `json:"commit,omitempty" jsonschema:"keep builds of this full commit SHA"`
	Creator      string `json:"creator,omitempty" jsonschema:"keep builds created by the user with this UUID"`
	IncludeJobs  bool   `json:"include_jobs,omitempty" jsonschema:"also return each build's jobs (large)"`
	Page         int    `json:"page,omitempty" jsonschema:"page number, from 1 (default 1); use next_page from the previous answer"`
	PerPage      int    `json:"per_page,omitempty" jsonschema:"builds per page, 1 to 100 (default 30)"`
}

type getBuildArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	BuildNumber  string `json:"build_number" jsonschema:"the build number, e.g. \"42\""`
	IncludeJobs  bool   `json:"include_jobs,omitempty" jsonschema:"also return its jobs"`
}

type createBuildArgs struct {
	OrgSlug             string    `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug        string    `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	Commit              string    `json:"commit,omitempty" jsonschema:"default: the branch's HEAD"`
	Branch              string    `json:"branch" jsonschema:"the branch to build, e.g. main"`
	Message             string    `json:"message,omitempty" jsonschema:"default: the commit message"`
	Environment         keyValues `json:"environment,omitempty" jsonschema:"environment variables for the build's jobs: [{key, value}] or {name: value}"`
	Metadata            keyValues `json:"metadata,omitempty" jsonschema:"build meta-data: [{key, value}] or {key: value}"`
	IgnoreBranchFilters bool      `json:"ignore_branch_filters,omitempty" jsonschema:"build even if branch filters exclude the branch"`
}

type listJobsArgs struct {
	OrgSlug            string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug       string `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	BuildNumber        string `json:"build_number" jsonschema:"the build number, e.g. \"42\""`
	State              string `json:"state,omitempty" jsonschema:"keep jobs in these states, comma-separated, e.g. failed,broken"`
	StepKey            string `json:"step_key,omitempty" jsonschema:"keep jobs of the step with this key"`
	GroupKey           string `json:"group_key,omitempty" jsonschema:"keep jobs of the group step with this key"`
	IncludeRetriedJobs *bool  `json:"include_retried_jobs,omitempty" jsonschema:"include retried (superseded) jobs; Buildkite's default when left out"`
	PerPage            int    `json:"per_page,omitempty" jsonschema:"jobs per page, 1 to 100 (default 30)"`
	After              string `json:"after,omitempty" jsonschema:"cursor: return the page after this one (next_cursor of the previous answer)"`
	Before             string `json:"before,omitempty" jsonschema:"cursor: return the page before this one (prev_cursor of the previous answer)"`
	DetailLevel        string `json:"detail_level,omitempty" jsonschema:"summary (default), detailed (command, timings, retries) or full"`
	IncludeAgent       bool   `json:"include_agent,omitempty" jsonschema:"the agent in full (default: its id)"`
}

type getJobArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	JobID        string `json:"job_id" jsonschema:"the job's UUID"`
	PipelineSlug string `json:"pipeline_slug,omitempty" jsonschema:"the pipeline slug; optional, give it with build_number"`
	BuildNumber  string `json:"build_number,omitempty" jsonschema:"the build number; optional, give it with pipeline_slug"`
	IncludeAgent bool   `json:"include_agent,omitempty" jsonschema:"the agent in full (default: its id)"`
}

type buildSummary struct {
	Pipeline string `json:"pipeline,omitempty"`
	// ID is the build's UUID, which list_tests_for_build takes.
	ID         string       `json:"id"`
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
	FullMessage   string            `json:"full_message,omitempty"`
	Blocked       bool              `json:"blocked"`
	Source        string            `json:"source,omitempty"`
	AuthorEmail   string            `json:"author_email,omitempty"`
	ScheduledAt   *string           `json:"scheduled_at,omitempty"`
	MetaData      map[string]string `json:"meta_data,omitempty"`
	PullRequest   any               `json:"pull_request,omitempty"`
	RebuiltFrom   any               `json:"rebuilt_from,omitempty"`
	TriggeredFrom any               `json:"triggered_from,omitempty"`
	// TestEngine lists the Test Engine runs the build reported.
	TestEngine *testEngineOut `json:"test_engine,omitempty"`
	// Annotations summarizes the build's annotations, error and warning first.
	Annotations        []annotationSummary `json:"annotations,omitempty"`
	AnnotationsOmitted int                 `json:"annotations_omitted,omitempty"`
	AnnotationsError   string              `json:"annotations_error,omitempty"`
}

type buildList struct {
	Items    []buildSummary `json:"items"`
	NextPage int            `json:"next_page,omitempty"`
}

func shapeBuild(b buildkite.Build, withPipeline bool) buildSummary {
	s := buildSummary{
		ID: b.ID, Number: b.Number, State: b.State, Branch: b.Branch, Commit: b.Commit,
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
	if b.TestEngine != nil {
		d.TestEngine = &testEngineOut{Runs: b.TestEngine.Runs}
	}
	return d
}

// testEngineOut is a build's Test Engine runs, each {id, suite {id, slug}}.
type testEngineOut struct {
	Runs []buildkite.TestEngineRun `json:"runs"`
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

// agent is the agent that ran a job: its id always, more with include_agent.
type agent struct {
	ID              string `json:"id,omitempty"`
	Name            string `json:"name,omitempty"`
	Hostname        string `json:"hostname,omitempty"`
	ConnectionState string `json:"connection_state,omitempty"`
	Version         string `json:"version,omitempty"`
	// MetaData are the agent's tags (queue=…, os=…).
	MetaData []string `json:"meta_data,omitempty"`
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
	switch {
	case withAgent && (j.Agent.ID != "" || j.Agent.Name != ""):
		s.Agent = &agent{ID: j.Agent.ID, Name: j.Agent.Name, Hostname: j.Agent.Hostname,
			ConnectionState: j.Agent.ConnectedState, Version: j.Agent.Version, MetaData: j.Agent.Metadata}
	case j.Agent.ID != "":
		s.Agent = &agent{ID: j.Agent.ID}
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
		j.Agent = buildkite.Agent{ID: j.Agent.ID}
	}
	return j
}

type jobList struct {
	Items      []any  `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
	PrevCursor string `json:"prev_cursor,omitempty"`
}

func buildTools(bk buildAPI) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "list_builds",
		Title: "List builds",
		Description: "Lists builds newest first, of a pipeline or (without pipeline_slug) the whole organization, filtered by " +
			"branch, state, commit or creator: items (id, number, state, branch, commit, the message's first line, " +
			"creator, author, times, web_url; pipeline across the organization) and next_page when there are more. Jobs " +
			"only with include_jobs.",
		Area: "builds", Kind: Read, Scopes: []string{"read_builds"},
	}, func(ctx context.Context, in listBuildsArgs) (buildList, error) {
		states := splitList(in.State)
		for _, st := range states {
			if err := oneOf("state", st, buildStates...); err != nil {
				return buildList{}, err
			}
		}
		lo, err := listOptions(in.Page, in.PerPage, 30)
		if err != nil {
			return buildList{}, err
		}
		builds, page, err := bk.ListBuilds(ctx, in.OrgSlug, in.PipelineSlug, buildkite.BuildListOptions{
			Branch: in.Branch, States: states, Commit: in.Commit, Creator: in.Creator, IncludeJobs: in.IncludeJobs, ListOptions: lo,
		})
		if err != nil {
			return buildList{}, err
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
		Description: "Returns one build: id (UUID), number, state, branch, commit, message, creator, author, source, blocked, timings, web_url, " +
			"meta-data, pull request, rebuild or trigger origin, test_engine runs, and its annotations in brief (id, context, style, priority, " +
			"first 300 characters; errors and warnings first). Jobs only with include_jobs (list_jobs filters and pages " +
			"them). For why it failed, get_build_failure_summary.",
		Area: "builds", Kind: Read, Scopes: []string{"read_builds"},
	}, func(ctx context.Context, in getBuildArgs) (buildDetail, error) {
		b, err := bk.GetBuild(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, buildkite.BuildOptions{IncludeJobs: in.IncludeJobs, IncludeTestEngine: true})
		if err != nil {
			return buildDetail{}, err
		}
		d := shapeBuildDetail(b)
		as, page, err := bk.BuildAnnotations(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, buildkite.ListOptions{PerPage: 100})
		if err != nil {
			// The build is the answer; its annotations are a bonus.
			d.AnnotationsError = callerMessage(err)
			return d, nil
		}
		d.Annotations, d.AnnotationsOmitted = summarizeAnnotations(as, maxBuildAnnotations, nil)
		if page.NextPage != 0 {
			d.AnnotationsOmitted++ // and more on later pages
		}
		return d, nil
	})
	add(&d, Spec{
		Name:  "create_build",
		Title: "Create a build",
		Description: "Starts a build of a pipeline on a branch (commit defaults to its HEAD), with an optional message, environment " +
			"and meta-data; returns its number, state and web_url. It runs the pipeline's steps, which may deploy: confirm " +
			"with the user first.",
		Area: "builds", Kind: Write, Scopes: []string{"write_builds"},
	}, func(ctx context.Context, in createBuildArgs) (buildSummary, error) {
		if strings.TrimSpace(in.Branch) == "" {
			return buildSummary{}, &ArgumentError{Argument: "branch", Reason: "must not be empty"}
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
			return buildSummary{}, err
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
	}, func(ctx context.Context, in listJobsArgs) (jobList, error) {
		level, err := detailLevel(in.DetailLevel, summary)
		if err != nil {
			return jobList{}, err
		}
		if in.PerPage < 0 || in.PerPage > 100 {
			return jobList{}, &ArgumentError{Argument: "per_page", Reason: "must be between 1 and 100"}
		}
		if in.After != "" && in.Before != "" {
			return jobList{}, &ArgumentError{Argument: "before", Reason: "give after or before, not both"}
		}
		page, err := bk.ListJobs(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, buildkite.JobListOptions{
			States: splitList(in.State), StepKey: in.StepKey, GroupKey: in.GroupKey, IncludeRetriedJobs: in.IncludeRetriedJobs,
			PerPage: in.PerPage, After: in.After, Before: in.Before,
		})
		if err != nil {
			return jobList{}, err
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
			"the agent that ran it (its id; name, hostname, version and tags with include_agent) and web_url. " +
			"pipeline_slug and build_number are optional (give both or neither).",
		Area: "builds", Kind: Read, Scopes: []string{"read_builds"},
	}, func(ctx context.Context, in getJobArgs) (jobDetail, error) {
		if (in.PipelineSlug == "") != (in.BuildNumber == "") {
			return jobDetail{}, &ArgumentError{Argument: "build_number", Reason: "give pipeline_slug and build_number together, or neither"}
		}
		j, err := bk.GetJob(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID)
		if err != nil {
			return jobDetail{}, err
		}
		return shapeJob(j, detailed, in.IncludeAgent).(jobDetail), nil
	})
	moreBuildTools(&d, bk, defaultWait)
	return d.done()
}

// buildAPI is what the build and job tools call.
type buildAPI interface {
	ListBuilds(ctx context.Context, org, pipeline string, opt buildkite.BuildListOptions) ([]buildkite.Build, buildkite.Pagination, error)
	GetBuild(ctx context.Context, org, pipeline, number string, opt buildkite.BuildOptions) (buildkite.Build, error)
	CreateBuild(ctx context.Context, org, pipeline string, b buildkite.NewBuild) (buildkite.Build, error)
	ListJobs(ctx context.Context, org, pipeline, number string, opt buildkite.JobListOptions) (buildkite.JobPage, error)
	GetJob(ctx context.Context, org, pipeline, number, jobID string) (buildkite.Job, error)
	BuildAnnotations(ctx context.Context, org, pipeline, number string, opt buildkite.ListOptions) ([]buildkite.Annotation, buildkite.Pagination, error)
	CancelBuild(ctx context.Context, org, pipeline, number string) (buildkite.Build, error)
	RebuildBuild(ctx context.Context, org, pipeline, number string) (buildkite.Build, error)
	UnblockJob(ctx context.Context, org, pipeline, number, jobID string, fields map[string]string) (buildkite.Job, error)
	RetryJob(ctx context.Context, org, pipeline, number, jobID string) (buildkite.Job, error)
	JobEnv(ctx context.Context, org, pipeline, number, jobID string) (map[string]string, error)
	ListStepUploads(ctx context.Context, org, pipeline, number string, opt buildkite.StepUploadListOptions) (buildkite.StepUploadPage, error)
	GetStepUpload(ctx context.Context, org, pipeline, number, uploadUUID string) (buildkite.StepUpload, error)
}

// waitLimits bound wait_for_build so that the whole call, answer included,
// ends well inside API Gateway's 30 s.
type waitLimits struct {
	def, max          time.Duration // the wait when none is asked, and the longest allowed
	first, maxBetween time.Duration // the first pause between polls, and the longest
	margin            time.Duration // kept free before the caller's deadline
}

var defaultWait = waitLimits{def: 20 * time.Second, max: 25 * time.Second, first: time.Second, maxBetween: 5 * time.Second, margin: 2 * time.Second}

const maxBuildAnnotations = 20

type buildArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	BuildNumber  string `json:"build_number" jsonschema:"the build number, e.g. \"42\""`
}

type waitForBuildArgs struct {
	buildArgs
	WaitTimeout int `json:"wait_timeout,omitempty" jsonschema:"seconds, 1 to 25 (default 20)"`
}

type listStepUploadsArgs struct {
	buildArgs
	SourceJobID string `json:"source_job_id,omitempty" jsonschema:"keep uploads made by this job (its UUID)"`
	PerPage     int    `json:"per_page,omitempty" jsonschema:"uploads per page, 1 to 100 (default 30)"`
	After       string `json:"after,omitempty" jsonschema:"cursor: the page after this one (next_cursor of the previous answer)"`
	Before      string `json:"before,omitempty" jsonschema:"cursor: the page before this one (prev_cursor of the previous answer)"`
}

type getStepUploadArgs struct {
	buildArgs
	UploadUUID string `json:"upload_uuid" jsonschema:"from list_step_uploads"`
}

type jobArgs struct {
	buildArgs
	JobID string `json:"job_id" jsonschema:"the job's UUID"`
}

type unblockJobArgs struct {
	jobArgs
	Fields map[string]string `json:"fields,omitempty" jsonschema:"the block step's input fields, key to value"`
}

type testEngineRunsOut struct {
	BuildNumber int    `json:"build_number"`
	BuildID     string `json:"build_id"`
	Runs        []struct {
		RunID     string `json:"run_id"`
		SuiteSlug string `json:"suite_slug"`
		SuiteID   string `json:"suite_id"`
	} `json:"runs"`
}

type waitOut struct {
	// Finished says the build reached a final state (passed, failed,
	// canceled, skipped, not_run) or is blocked, within the wait.
	Finished bool    `json:"finished"`
	State    string  `json:"state"`
	Number   int     `json:"number"`
	Waited   float64 `json:"waited_seconds"`
	// BuildElapsed is how long the build has run: from its start (or
	// creation) to its end, or to now.
	BuildElapsed int          `json:"build_elapsed_seconds"`
	Polls        int          `json:"polls"`
	Note         string       `json:"note,omitempty"`
	Build        buildSummary `json:"build"`
}

type stepUploadOut struct {
	UUID                 string  `json:"uuid"`
	State                string  `json:"state"`
	SourceJobID          string  `json:"source_job_id,omitempty"`
	ReplaceExistingSteps bool    `json:"replace_existing_steps,omitempty"`
	CreatedJobsCount     *int    `json:"created_jobs_count,omitempty"`
	RejectionType        string  `json:"rejection_type,omitempty"`
	Message              string  `json:"message,omitempty"`
	CreatedAt            *string `json:"created_at,omitempty"`
	ProcessedAt          *string `json:"processed_at,omitempty"`
}

type stepUploadList struct {
	Items      []stepUploadOut `json:"items"`
	NextCursor string          `json:"next_cursor,omitempty"`
	PrevCursor string          `json:"prev_cursor,omitempty"`
}

type stepUploadDetail struct {
	stepUploadOut
	// Definition is the uploaded pipeline (JSON), left out above 64 KiB.
	Definition        json.RawMessage `json:"definition,omitempty"`
	DefinitionOmitted bool            `json:"definition_omitted,omitempty"`
	DefinitionBytes   int             `json:"definition_bytes,omitempty"`
}

type jobEnvOut struct {
	JobID string            `json:"job_id"`
	Env   map[string]string `json:"env"`
}

type rebuildOut struct {
	buildSummary
	RebuiltFrom int `json:"rebuilt_from"`
}

const maxDefinitionBytes = 64 << 10

func shapeStepUpload(u buildkite.StepUpload) stepUploadOut {
	o := stepUploadOut{
		UUID: u.UUID, State: u.State, SourceJobID: u.SourceJobID, ReplaceExistingSteps: u.ReplaceExistingSteps,
		CreatedJobsCount: u.CreatedJobsCount, CreatedAt: timestamp(u.CreatedAt), ProcessedAt: timestamp(u.ProcessedAt),
	}
	if u.RejectionType != nil {
		o.RejectionType = *u.RejectionType
	}
	if u.Message != nil {
		o.Message = *u.Message
	}
	return o
}

// finalBuildStates end a build's wait. A blocked build waits on a person,
// not on time, so waiting longer would not help: as in Buildkite's own
// server, it counts as finished.
var finalBuildStates = []string{"passed", "failed", "canceled", "skipped", "not_run", "blocked"}

func moreBuildTools(d *definer, bk buildAPI, wl waitLimits) {
	add(d, Spec{
		Name:  "get_build_test_engine_runs",
		Title: "Test Engine runs of a build",
		Description: "Returns the Test Engine runs a build reported: each run_id with its suite_slug, and the build's UUID (build_id). " +
			"Pass a run to get_test_run or get_failed_executions (with its suite_slug as test_suite_slug), or build_id to list_tests_for_build.",
		Area: "builds", Kind: Read, Scopes: []string{"read_builds"},
	}, func(ctx context.Context, in buildArgs) (testEngineRunsOut, error) {
		b, err := bk.GetBuild(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, buildkite.BuildOptions{IncludeTestEngine: true})
		if err != nil {
			return testEngineRunsOut{}, err
		}
		out := testEngineRunsOut{BuildNumber: b.Number, BuildID: b.ID}
		out.Runs = out.Runs[:0]
		if b.TestEngine != nil {
			for _, r := range b.TestEngine.Runs {
				out.Runs = append(out.Runs, struct {
					RunID     string `json:"run_id"`
					SuiteSlug string `json:"suite_slug"`
					SuiteID   string `json:"suite_id"`
				}{r.ID, r.Suite.Slug, r.Suite.ID})
			}
		}
		return out, nil
	})
	add(d, Spec{
		Name:  "wait_for_build",
		Title: "Wait for a build to finish",
		Description: "Waits up to wait_timeout seconds for a build to finish or block, then returns finished, state, number, " +
			"build_elapsed_seconds and a build summary. finished false: time ran out, call again.",
		Area: "builds", Kind: Read, Scopes: []string{"read_builds"},
	}, func(ctx context.Context, in waitForBuildArgs) (waitOut, error) {
		wait := wl.def
		if in.WaitTimeout != 0 {
			if in.WaitTimeout < 1 || time.Duration(in.WaitTimeout)*time.Second > wl.max {
				return waitOut{}, &ArgumentError{Argument: "wait_timeout", Reason: fmt.Sprintf("must be between 1 and %d seconds", int(wl.max/time.Second))}
			}
			wait = time.Duration(in.WaitTimeout) * time.Second
		}
		start := time.Now()
		deadline := start.Add(wait)
		if dl, ok := ctx.Deadline(); ok && dl.Add(-wl.margin).Before(deadline) {
			deadline = dl.Add(-wl.margin)
		}
		pause := wl.first
		var out waitOut
		for {
			b, err := bk.GetBuild(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, buildkite.BuildOptions{})
			if err != nil {
				if out.Polls > 0 && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
					break // the last poll ran out of time: answer with what we know
				}
				return waitOut{}, err
			}
			out.Polls++
			out.State, out.Number, out.Build = b.State, b.Number, shapeBuild(b, false)
			out.BuildElapsed = buildElapsed(b)
			if slices.Contains(finalBuildStates, b.State) {
				out.Finished = true
				if b.State == "blocked" {
					out.Note = "the build is blocked on a block step: it will not go on until someone unblocks it (unblock_job)"
				}
				break
			}
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			t := time.NewTimer(min(pause, left))
			select {
			case <-ctx.Done():
				t.Stop()
				return waitOut{}, ctx.Err()
			case <-t.C:
			}
			// After the last pause, one more poll: the answer is as fresh as the wait allows.
			pause = min(pause*3/2, wl.maxBetween)
		}
		if !out.Finished && out.Note == "" {
			out.Note = "the build had not finished when the wait ended; call wait_for_build again to keep waiting"
		}
		out.Waited = float64(time.Since(start).Milliseconds()) / 1000
		return out, nil
	})
	add(d, Spec{
		Name:  "list_step_uploads",
		Title: "List a build's step uploads",
		Description: "Lists the pipeline uploads (buildkite-agent pipeline upload, dynamic pipelines) a build received, newest " +
			"first, without definitions: uuid, state (pending, processing, applied, rejected, failed), source_job_id, " +
			"created_jobs_count (once applied), rejection_type, message; next_cursor/prev_cursor page as after/before. For " +
			"missing steps or early failures; get_step_upload shows what was uploaded.",
		Area: "builds", Kind: Read, Scopes: []string{"read_builds"},
	}, func(ctx context.Context, in listStepUploadsArgs) (stepUploadList, error) {
		if in.PerPage < 0 || in.PerPage > 100 {
			return stepUploadList{}, &ArgumentError{Argument: "per_page", Reason: "must be between 1 and 100"}
		}
		if in.After != "" && in.Before != "" {
			return stepUploadList{}, &ArgumentError{Argument: "before", Reason: "give after or before, not both"}
		}
		page, err := bk.ListStepUploads(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, buildkite.StepUploadListOptions{
			SourceJobID: in.SourceJobID, PerPage: in.PerPage, After: in.After, Before: in.Before,
		})
		if err != nil {
			return stepUploadList{}, err
		}
		out := stepUploadList{Items: make([]stepUploadOut, 0, len(page.Uploads)), NextCursor: page.NextCursor, PrevCursor: page.PrevCursor}
		for _, u := range page.Uploads {
			out.Items = append(out.Items, shapeStepUpload(u))
		}
		return out, nil
	})
	add(d, Spec{
		Name:  "get_step_upload",
		Title: "Get a step upload",
		Description: "Returns one pipeline upload of a build with its definition: the steps that were uploaded, as JSON " +
			"(left out above 64 KiB, with definition_omitted and definition_bytes), plus its state, source job and outcome message.",
		Area: "builds", Kind: Read, Scopes: []string{"read_builds"},
	}, func(ctx context.Context, in getStepUploadArgs) (stepUploadDetail, error) {
		u, err := bk.GetStepUpload(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.UploadUUID)
		if err != nil {
			return stepUploadDetail{}, err
		}
		out := stepUploadDetail{stepUploadOut: shapeStepUpload(u)}
		switch {
		case len(u.Definition) > maxDefinitionBytes:
			out.DefinitionOmitted, out.DefinitionBytes = true, len(u.Definition)
		case json.Valid(u.Definition):
			out.Definition = u.Definition
		}
		return out, nil
	})
	add(d, Spec{
		Name:  "cancel_build",
		Title: "Cancel a build",
		Description: "Cancels a scheduled, running or blocked build (running jobs stop; it goes canceling, then canceled) and " +
			"returns its summary. Buildkite refuses a finished build. Others may be waiting on this work: confirm with the " +
			"user first.",
		Area: "builds", Kind: Destructive, Scopes: []string{"write_builds"},
	}, func(ctx context.Context, in buildArgs) (buildSummary, error) {
		b, err := bk.CancelBuild(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber)
		if err != nil {
			return buildSummary{}, err
		}
		return shapeBuild(b, false), nil
	})
	add(d, Spec{
		Name:  "rebuild_build",
		Title: "Rebuild a build",
		Description: "Starts a new build with the same commit, branch, message and environment as an existing one, and returns the new " +
			"build's summary (its number differs) with rebuilt_from. The new build runs every step again, deploys included: confirm with the user first.",
		Area: "builds", Kind: Destructive, Scopes: []string{"write_builds"},
	}, func(ctx context.Context, in buildArgs) (rebuildOut, error) {
		b, err := bk.RebuildBuild(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber)
		if err != nil {
			return rebuildOut{}, err
		}
		out := rebuildOut{buildSummary: shapeBuild(b, false)}
		if b.RebuiltFrom != nil {
			out.RebuiltFrom = b.RebuiltFrom.Number
		} else if n, err := strconv.Atoi(in.BuildNumber); err == nil {
			out.RebuiltFrom = n
		}
		return out, nil
	})
	add(d, Spec{
		Name:  "unblock_job",
		Title: "Unblock a block step",
		Description: "Unblocks a blocked block-step job (type manual, state blocked), answering its input fields if it has any, so the " +
			"build carries on past it — often into a deploy. Returns the job. Buildkite refuses a job that is not blocked. Confirm with the user first.",
		Area: "builds", Kind: Destructive, Scopes: []string{"write_builds"},
	}, func(ctx context.Context, in unblockJobArgs) (jobDetail, error) {
		j, err := bk.UnblockJob(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID, in.Fields)
		if err != nil {
			return jobDetail{}, err
		}
		return shapeJob(j, detailed, false).(jobDetail), nil
	})
	add(d, Spec{
		Name:  "retry_job",
		Title: "Retry a job",
		Description: "Retries a finished job (failed, canceled, passed, timed out): Buildkite keeps the old job as retried and schedules a copy, " +
			"returned here with its new id; the build runs again. Retrying a deploy step deploys again: confirm with the user first.",
		Area: "builds", Kind: Destructive, Scopes: []string{"write_builds"},
	}, func(ctx context.Context, in jobArgs) (jobDetail, error) {
		j, err := bk.RetryJob(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID)
		if err != nil {
			return jobDetail{}, err
		}
		return shapeJob(j, detailed, false).(jobDetail), nil
	})
	add(d, Spec{
		Name:  "get_job_env",
		Title: "Get a job's environment",
		Description: "Returns the environment variables a job ran with, name to value. These routinely include secrets " +
			"(database URLs, API keys): ask for it only when the user needs a specific variable, and never repeat secret values back.",
		Area: "builds", Kind: Sensitive, Scopes: []string{"read_job_env"},
	}, func(ctx context.Context, in jobArgs) (jobEnvOut, error) {
		env, err := bk.JobEnv(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID)
		if err != nil {
			return jobEnvOut{}, err
		}
		if env == nil {
			env = map[string]string{}
		}
		return jobEnvOut{JobID: in.JobID, Env: env}, nil
	})
}

type annotationSummary struct {
	ID       string `json:"id,omitempty"`
	Context  string `json:"context"`
	Style    string `json:"style"`
	Priority int    `json:"priority,omitempty"`
	Scope    string `json:"scope,omitempty"`
	Text     string `json:"text"`
	// Cut says Text is the start of a longer body.
	Cut bool `json:"cut,omitempty"`
}

const maxAnnotationText = 300

var (
	htmlTag    = regexp.MustCompile(`<[^>]*>`)
	whitespace = regexp.MustCompile(`\s+`)
)

// annotationText renders an annotation's HTML body as one line of plain text.
func annotationText(body string, limit int) (string, bool) {
	s := htmlTag.ReplaceAllString(body, " ")
	s = strings.TrimSpace(whitespace.ReplaceAllString(html.UnescapeString(s), " "))
	if len(s) <= limit {
		return s, false
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…", true
}

var styleRank = map[string]int{"error": 0, "warning": 1, "info": 2, "success": 3}

// summarizeAnnotations orders annotations error first (then by priority),
// keeps those whose style is in styles (all when nil), at most limit, and
// says how many were left out.
func summarizeAnnotations(as []buildkite.Annotation, limit int, styles []string) ([]annotationSummary, int) {
	as = slices.Clone(as)
	as = slices.DeleteFunc(as, func(a buildkite.Annotation) bool { return styles != nil && !slices.Contains(styles, a.Style) })
	rank := func(a buildkite.Annotation) int {
		if r, ok := styleRank[a.Style]; ok {
			return r
		}
		return 4
	}
	slices.SortStableFunc(as, func(a, b buildkite.Annotation) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return b.Priority - a.Priority
	})
	omitted := max(0, len(as)-limit)
	out := []annotationSummary{}
	for _, a := range as[:min(len(as), limit)] {
		text, cut := annotationText(a.BodyHTML, maxAnnotationText)
		out = append(out, annotationSummary{ID: a.ID, Context: a.Context, Style: a.Style, Priority: a.Priority, Scope: a.Scope, Text: text, Cut: cut})
	}
	return out, omitted
}

// splitList splits a comma-separated argument, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// buildElapsed is how many seconds the build has run: from its start (or
// creation) to its end, or to now.
func buildElapsed(b buildkite.Build) int {
	start := b.StartedAt
	if start == nil {
		start = b.CreatedAt
	}
	if start == nil {
		return 0
	}
	end := time.Now()
	if b.FinishedAt != nil {
		end = b.FinishedAt.Time
	}
	return max(0, int(end.Sub(start.Time).Seconds()))
}

// callerMessage is what the caller may see of err.
func callerMessage(err error) string {
	var s SafeError
	if errors.As(err, &s) {
		return s.SafeMessage()
	}
	return "failed (the details are in the server log)"
}
