package tools

import (
	"context"
	"errors"
	"strings"

	"github.com/kitegate/kitegate/internal/buildkite"
)

type listPipelinesArgs struct {
	OrgSlug     string `json:"org_slug" jsonschema:"the organization slug, e.g. acme (user_token_organization gives it)"`
	Name        string `json:"name,omitempty" jsonschema:"keep pipelines whose name contains this text"`
	Repository  string `json:"repository,omitempty" jsonschema:"keep pipelines whose repository URL contains it"`
	Page        int    `json:"page,omitempty" jsonschema:"page number, from 1 (default 1); use next_page from the previous answer"`
	PerPage     int    `json:"per_page,omitempty" jsonschema:"pipelines per page, 1 to 100 (default 30)"`
	DetailLevel string `json:"detail_level,omitempty" jsonschema:"summary (default), detailed or full"`
}

type getPipelineArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	DetailLevel  string `json:"detail_level,omitempty" jsonschema:"summary, detailed or full (default)"`
}

// pipelineOut is a pipeline at any detail level: the summary fields are
// always there, the others only at the levels that include them.
type pipelineOut struct {
	Slug          string `json:"slug"`
	Name          string `json:"name"`
	Repository    string `json:"repository"`
	DefaultBranch string `json:"default_branch"`
	WebURL        string `json:"web_url"`
	// detailed
	Description          string   `json:"description,omitempty"`
	Tags                 []string `json:"tags,omitempty"`
	Visibility           string   `json:"visibility,omitempty"`
	ClusterID            string   `json:"cluster_id,omitempty"`
	CreatedAt            *string  `json:"created_at,omitempty"`
	ArchivedAt           *string  `json:"archived_at,omitempty"`
	BranchConfiguration  string   `json:"branch_configuration,omitempty"`
	RunningBuildsCount   *int     `json:"running_builds_count,omitempty"`
	ScheduledBuildsCount *int     `json:"scheduled_builds_count,omitempty"`
	RunningJobsCount     *int     `json:"running_jobs_count,omitempty"`
	ScheduledJobsCount   *int     `json:"scheduled_jobs_count,omitempty"`
	WaitingJobsCount     *int     `json:"waiting_jobs_count,omitempty"`
	// full
	ID                              string           `json:"id,omitempty"`
	GraphQLID                       string           `json:"graphql_id,omitempty"`
	URL                             string           `json:"url,omitempty"`
	BuildsURL                       string           `json:"builds_url,omitempty"`
	BadgeURL                        string           `json:"badge_url,omitempty"`
	Configuration                   string           `json:"configuration,omitempty"`
	Steps                           []buildkite.Step `json:"steps,omitempty"`
	Env                             map[string]any   `json:"env,omitempty"`
	Provider                        *providerOut     `json:"provider,omitempty"`
	SkipQueuedBranchBuilds          *bool            `json:"skip_queued_branch_builds,omitempty"`
	SkipQueuedBranchBuildsFilter    string           `json:"skip_queued_branch_builds_filter,omitempty"`
	CancelRunningBranchBuilds       *bool            `json:"cancel_running_branch_builds,omitempty"`
	CancelRunningBranchBuildsFilter string           `json:"cancel_running_branch_builds_filter,omitempty"`
	DefaultCommandStepTimeout       int              `json:"default_command_step_timeout,omitempty"`
	MaximumCommandStepTimeout       int              `json:"maximum_command_step_timeout,omitempty"`
}

// providerOut is where the pipeline's code lives and how it triggers
// builds. The webhook URL is left out: anyone who has it can trigger builds.
type providerOut struct {
	ID       string `json:"id"`
	Settings any    `json:"settings,omitempty"`
}

type pipelineList struct {
	Items    []pipelineOut `json:"items"`
	NextPage int           `json:"next_page,omitempty"`
}

func shapePipeline(p buildkite.Pipeline, level string) pipelineOut {
	out := pipelineOut{Slug: p.Slug, Name: p.Name, Repository: p.Repository, DefaultBranch: p.DefaultBranch, WebURL: p.WebURL}
	if level == summary {
		return out
	}
	out.Description, out.Tags, out.Visibility, out.ClusterID = p.Description, p.Tags, p.Visibility, p.ClusterID
	out.CreatedAt, out.ArchivedAt, out.BranchConfiguration = timestamp(p.CreatedAt), timestamp(p.ArchivedAt), p.BranchConfiguration
	out.RunningBuildsCount, out.ScheduledBuildsCount = &p.RunningBuildsCount, &p.ScheduledBuildsCount
	out.RunningJobsCount, out.ScheduledJobsCount, out.WaitingJobsCount = &p.RunningJobsCount, &p.ScheduledJobsCount, &p.WaitingJobsCount
	if level == detailed {
		return out
	}
	out.ID, out.GraphQLID, out.URL, out.BuildsURL, out.BadgeURL = p.ID, p.GraphQLID, p.URL, p.BuildsURL, p.BadgeURL
	out.Configuration, out.Env = p.Configuration, p.Env
	if len(p.Steps) > 0 {
		out.Steps = p.Steps
	}
	out.Provider = &providerOut{ID: p.Provider.ID, Settings: p.Provider.Settings}
	out.SkipQueuedBranchBuilds, out.SkipQueuedBranchBuildsFilter = &p.SkipQueuedBranchBuilds, p.SkipQueuedBranchBuildsFilter
	out.CancelRunningBranchBuilds, out.CancelRunningBranchBuildsFilter = &p.CancelRunningBranchBuilds, p.CancelRunningBranchBuildsFilter
	out.DefaultCommandStepTimeout, out.MaximumCommandStepTimeout = p.DefaultCommandStepTimeout, p.MaximumCommandStepTimeout
	return out
}

// pipelineAPI is what the pipeline tools call: reads, edits and schedules.
type pipelineAPI interface {
	ListPipelines(ctx context.Context, org string, opt buildkite.PipelineListOptions) ([]buildkite.Pipeline, buildkite.Pagination, error)
	GetPipeline(ctx context.Context, org, pipeline string) (buildkite.Pipeline, error)
	pipelineEditAPI
	scheduleAPI
}

func pipelineTools(bk pipelineAPI) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "list_pipelines",
		Title: "List pipelines",
		Description: "Lists the organization's pipelines, filtered by name or repository: items (slug, name, repository, " +
			"default_branch, web_url) and next_page when there are more. Gives the pipeline_slug the build tools need.",
		Area: "pipelines", Kind: Read, Scopes: []string{"read_pipelines"},
	}, func(ctx context.Context, in listPipelinesArgs) (pipelineList, error) {
		level, err := detailLevel(in.DetailLevel, summary)
		if err != nil {
			return pipelineList{}, err
		}
		lo, err := listOptions(in.Page, in.PerPage, 30)
		if err != nil {
			return pipelineList{}, err
		}
		ps, page, err := bk.ListPipelines(ctx, in.OrgSlug, buildkite.PipelineListOptions{Name: in.Name, Repository: in.Repository, ListOptions: lo})
		if err != nil {
			return pipelineList{}, err
		}
		out := pipelineList{Items: make([]pipelineOut, 0, len(ps)), NextPage: page.NextPage}
		for _, p := range ps {
			out.Items = append(out.Items, shapePipeline(p, level))
		}
		return out, nil
	})
	add(&d, Spec{
		Name:  "get_pipeline",
		Title: "Get a pipeline",
		Description: "Returns one pipeline: slug, name, repository, default_branch and web_url; detailed adds description, tags, " +
			"cluster, branch filter and running/scheduled counts; full (default) is everything, steps included.",
		Area: "pipelines", Kind: Read, Scopes: []string{"read_pipelines"},
	}, func(ctx context.Context, in getPipelineArgs) (pipelineOut, error) {
		level, err := detailLevel(in.DetailLevel, full)
		if err != nil {
			return pipelineOut{}, err
		}
		p, err := bk.GetPipeline(ctx, in.OrgSlug, in.PipelineSlug)
		if err != nil {
			return pipelineOut{}, err
		}
		return shapePipeline(p, level), nil
	})
	pipelineEditTools(&d, bk)
	scheduleTools(&d, bk)
	return d.done()
}

// pipelineEditAPI is what create_pipeline and update_pipeline call.
type pipelineEditAPI interface {
	CreatePipeline(ctx context.Context, org string, in buildkite.NewPipeline) (buildkite.Pipeline, error)
	UpdatePipeline(ctx context.Context, org, pipeline string, in buildkite.PipelineChanges) (buildkite.Pipeline, error)
	AddPipelineWebhook(ctx context.Context, org, pipeline string) error
}

type createPipelineArgs struct {
	OrgSlug       string   `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	Name          string   `json:"name" jsonschema:"its slug is derived from it"`
	RepositoryURL string   `json:"repository_url" jsonschema:"e.g. git@github.com:acme/app.git"`
	ClusterID     string   `json:"cluster_id,omitempty" jsonschema:"the cluster to run it in (default: the organization's default)"`
	Configuration string   `json:"configuration,omitempty" jsonschema:"steps as YAML (default: one step uploading .buildkite/pipeline.yml)"`
	DefaultBranch string   `json:"default_branch,omitempty" jsonschema:"default main"`
	Description   string   `json:"description,omitempty" jsonschema:"what the pipeline does"`
	Tags          []string `json:"tags,omitempty" jsonschema:"tags to find the pipeline by"`
	CreateWebhook bool     `json:"create_webhook,omitempty" jsonschema:"also add the repository's webhook, so pushes start builds"`
	branchBuildArgs
}

// branchBuildArgs are the pipeline's settings for a branch's superseded builds.
type branchBuildArgs struct {
	SkipQueuedBranchBuilds    *bool `json:"skip_queued_branch_builds,omitempty" jsonschema:"skip a branch's older queued builds"`
	CancelRunningBranchBuilds *bool `json:"cancel_running_branch_builds,omitempty" jsonschema:"cancel a branch's older running builds"`
}

type updatePipelineArgs struct {
	OrgSlug             string    `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug        string    `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	Name                *string   `json:"name,omitempty" jsonschema:"a new name"`
	RepositoryURL       *string   `json:"repository_url,omitempty" jsonschema:"a new Git repository URL"`
	ClusterID           *string   `json:"cluster_id,omitempty" jsonschema:"the UUID of the cluster to move the pipeline to"`
	Configuration       *string   `json:"configuration,omitempty" jsonschema:"new steps YAML, replacing the current (get_pipeline full shows them)"`
	DefaultBranch       *string   `json:"default_branch,omitempty" jsonschema:"a new default branch"`
	Description         *string   `json:"description,omitempty" jsonschema:"a new description; \"\" clears it"`
	BranchConfiguration *string   `json:"branch_configuration,omitempty" jsonschema:"a new branch filter, e.g. \"main release/*\""`
	Visibility          *string   `json:"visibility,omitempty" jsonschema:"private or public"`
	Tags                *[]string `json:"tags,omitempty" jsonschema:"new tags, replacing the current ones"`
	branchBuildArgs
}

type webhookOut struct {
	Created bool   `json:"created"`
	Error   string `json:"error,omitempty"`
}

type createdPipelineOut struct {
	pipelineOut
	Webhook *webhookOut `json:"webhook,omitempty"`
}

func pipelineEditTools(d *definer, bk pipelineEditAPI) {
	add(d, Spec{
		Name:  "create_pipeline",
		Title: "Create a pipeline",
		Description: "Creates a pipeline building repository_url, optionally in a cluster, with steps as YAML configuration, a " +
			"default branch, description and tags; create_webhook also asks Buildkite to add the repository's webhook and " +
			"reports whether it did. Returns the pipeline (slug, web_url, cluster, ...). Confirm with the user first.",
		Area: "pipelines", Kind: Write, Scopes: []string{"write_pipelines"},
	}, func(ctx context.Context, in createPipelineArgs) (createdPipelineOut, error) {
		if strings.TrimSpace(in.Name) == "" {
			return createdPipelineOut{}, &ArgumentError{Argument: "name", Reason: "must not be empty"}
		}
		if strings.TrimSpace(in.RepositoryURL) == "" {
			return createdPipelineOut{}, &ArgumentError{Argument: "repository_url", Reason: "must not be empty"}
		}
		p, err := bk.CreatePipeline(ctx, in.OrgSlug, buildkite.NewPipeline{
			Name: in.Name, Repository: in.RepositoryURL, ClusterID: in.ClusterID, Configuration: in.Configuration,
			DefaultBranch: in.DefaultBranch, Description: in.Description, Tags: in.Tags,
			SkipQueuedBranchBuilds: in.SkipQueuedBranchBuilds, CancelRunningBranchBuilds: in.CancelRunningBranchBuilds,
		})
		if err != nil {
			return createdPipelineOut{}, err
		}
		out := createdPipelineOut{pipelineOut: shapePipeline(p, detailed)}
		if in.CreateWebhook {
			// The pipeline exists whatever happens here: report, do not fail.
			out.Webhook = &webhookOut{Created: true}
			if err := bk.AddPipelineWebhook(ctx, in.OrgSlug, p.Slug); err != nil {
				out.Webhook = &webhookOut{Error: safeMessage(err)}
			}
		}
		return out, nil
	})
	add(d, Spec{
		Name:  "update_pipeline",
		Title: "Update a pipeline",
		Description: "Changes a pipeline's name, repository_url, cluster_id, configuration (steps YAML, replaced whole), " +
			"default_branch, description, branch_configuration, visibility or tags; fields left out stay. It applies to " +
			"every later build: confirm with the user first. Returns the pipeline.",
		Area: "pipelines", Kind: Destructive, Scopes: []string{"write_pipelines"},
	}, func(ctx context.Context, in updatePipelineArgs) (pipelineOut, error) {
		if in.Visibility != nil {
			if err := oneOf("visibility", *in.Visibility, "private", "public"); err != nil || *in.Visibility == "" {
				return pipelineOut{}, &ArgumentError{Argument: "visibility", Reason: "must be private or public"}
			}
		}
		ch := buildkite.PipelineChanges{
			Name: in.Name, Repository: in.RepositoryURL, ClusterID: in.ClusterID, Configuration: in.Configuration,
			DefaultBranch: in.DefaultBranch, Description: in.Description, BranchConfiguration: in.BranchConfiguration,
			Visibility: in.Visibility, Tags: in.Tags,
			SkipQueuedBranchBuilds: in.SkipQueuedBranchBuilds, CancelRunningBranchBuilds: in.CancelRunningBranchBuilds,
		}
		if ch == (buildkite.PipelineChanges{}) {
			return pipelineOut{}, &ArgumentError{Reason: "give at least one field to change"}
		}
		p, err := bk.UpdatePipeline(ctx, in.OrgSlug, in.PipelineSlug, ch)
		if err != nil {
			return pipelineOut{}, err
		}
		return shapePipeline(p, detailed), nil
	})
}

// safeMessage is what the caller may see of err.
func safeMessage(err error) string {
	var safe SafeError
	if errors.As(err, &safe) {
		return safe.SafeMessage()
	}
	return "the call failed; the details are in the server log"
}

// scheduleAPI is what the pipeline schedule tools call.
type scheduleAPI interface {
	ListPipelineSchedules(ctx context.Context, org, pipeline string, opt buildkite.ListOptions) ([]buildkite.PipelineSchedule, buildkite.Pagination, error)
	GetPipelineSchedule(ctx context.Context, org, pipeline, scheduleID string) (buildkite.PipelineSchedule, error)
	CreatePipelineSchedule(ctx context.Context, org, pipeline string, in buildkite.NewPipelineSchedule) (buildkite.PipelineSchedule, error)
	UpdatePipelineSchedule(ctx context.Context, org, pipeline, scheduleID string, in buildkite.PipelineScheduleChanges) (buildkite.PipelineSchedule, error)
}

type listSchedulesArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	Page         int    `json:"page,omitempty" jsonschema:"page number, from 1 (default 1); use next_page from the previous answer"`
	PerPage      int    `json:"per_page,omitempty" jsonschema:"schedules per page, 1 to 100 (default 100)"`
}

type getScheduleArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	ScheduleID   string `json:"schedule_id" jsonschema:"the schedule's UUID (list_pipeline_schedules gives it)"`
}

type createScheduleArgs struct {
	OrgSlug      string            `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string            `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	Cronline     string            `json:"cronline" jsonschema:"@hourly, @daily, @weekly, @monthly, or crontab (\"0 2 * * 1-5\"), optionally with a time zone (\"0 2 * * * Europe/Berlin\"; default UTC)"`
	Label        string            `json:"label,omitempty" jsonschema:"e.g. Nightly full suite"`
	Message      string            `json:"message,omitempty" jsonschema:"the message of the builds it creates"`
	Commit       string            `json:"commit,omitempty" jsonschema:"the commit to build (default HEAD)"`
	Branch       string            `json:"branch,omitempty" jsonschema:"default: the pipeline's default branch"`
	Env          map[string]string `json:"env,omitempty" jsonschema:"environment variables, name to value"`
	Enabled      *bool             `json:"enabled,omitempty" jsonschema:"whether it creates builds (default true)"`
}

type updateScheduleArgs struct {
	OrgSlug      string            `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string            `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	ScheduleID   string            `json:"schedule_id" jsonschema:"the schedule's UUID (list_pipeline_schedules gives it)"`
	Cronline     *string           `json:"cronline,omitempty" jsonschema:"as for create_pipeline_schedule"`
	Label        *string           `json:"label,omitempty" jsonschema:"a new label"`
	Message      *string           `json:"message,omitempty" jsonschema:"a new build message"`
	Commit       *string           `json:"commit,omitempty" jsonschema:"a new commit to build"`
	Branch       *string           `json:"branch,omitempty" jsonschema:"a new branch to build"`
	Env          map[string]string `json:"env,omitempty" jsonschema:"replaces the current ones"`
	Enabled      *bool             `json:"enabled,omitempty" jsonschema:"false pauses it, true resumes it"`
}

type scheduleOut struct {
	ID            string            `json:"id"`
	Label         string            `json:"label"`
	Cronline      string            `json:"cronline"`
	Enabled       bool              `json:"enabled"`
	Branch        string            `json:"branch,omitempty"`
	Commit        string            `json:"commit,omitempty"`
	Message       string            `json:"message,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	NextBuildAt   *string           `json:"next_build_at,omitempty"`
	FailedMessage string            `json:"failed_message,omitempty"`
	FailedAt      *string           `json:"failed_at,omitempty"`
	CreatedAt     *string           `json:"created_at,omitempty"`
	CreatedBy     string            `json:"created_by,omitempty"`
}

type scheduleList struct {
	Items    []scheduleOut `json:"items"`
	NextPage int           `json:"next_page,omitempty"`
}

func shapeSchedule(s buildkite.PipelineSchedule) scheduleOut {
	out := scheduleOut{
		ID: s.ID, Label: s.Label, Cronline: s.Cronline, Enabled: s.Enabled, Branch: s.Branch, Commit: s.Commit,
		Message: s.Message, Env: s.Env, NextBuildAt: timestamp(s.NextBuildAt), FailedMessage: s.FailedMessage,
		FailedAt: timestamp(s.FailedAt), CreatedAt: timestamp(s.CreatedAt),
	}
	if s.CreatedBy != nil {
		out.CreatedBy = s.CreatedBy.Name
	}
	return out
}

func scheduleTools(d *definer, bk scheduleAPI) {
	add(d, Spec{
		Name:  "list_pipeline_schedules",
		Title: "List a pipeline's schedules",
		Description: "Lists a pipeline's schedules, newest first: items (id, label, cronline, enabled, branch, commit, message, env, " +
			"next_build_at; failed_message and failed_at when the last build could not be created) and next_page when there " +
			"are more.",
		Area: "pipelines", Kind: Read, Scopes: []string{"read_pipelines"},
	}, func(ctx context.Context, in listSchedulesArgs) (scheduleList, error) {
		lo, err := listOptions(in.Page, in.PerPage, 100)
		if err != nil {
			return scheduleList{}, err
		}
		ss, page, err := bk.ListPipelineSchedules(ctx, in.OrgSlug, in.PipelineSlug, lo)
		if err != nil {
			return scheduleList{}, err
		}
		out := scheduleList{Items: make([]scheduleOut, 0, len(ss)), NextPage: page.NextPage}
		for _, s := range ss {
			out.Items = append(out.Items, shapeSchedule(s))
		}
		return out, nil
	})
	add(d, Spec{
		Name:        "get_pipeline_schedule",
		Title:       "Get a pipeline schedule",
		Description: "Returns one pipeline schedule: label, cronline, enabled, what it builds (branch, commit, message, env), next_build_at, and why its last attempt failed if it did.",
		Area:        "pipelines", Kind: Read, Scopes: []string{"read_pipelines"},
	}, func(ctx context.Context, in getScheduleArgs) (scheduleOut, error) {
		s, err := bk.GetPipelineSchedule(ctx, in.OrgSlug, in.PipelineSlug, in.ScheduleID)
		if err != nil {
			return scheduleOut{}, err
		}
		return shapeSchedule(s), nil
	})
	add(d, Spec{
		Name:  "create_pipeline_schedule",
		Title: "Create a pipeline schedule",
		Description: "Schedules builds of a pipeline on a cronline, of a branch and commit, with a message and env; enabled unless " +
			"enabled is false. Each build runs the pipeline's steps: confirm with the user first. Returns the schedule with " +
			"next_build_at.",
		Area: "pipelines", Kind: Write, Scopes: []string{"write_pipelines"},
	}, func(ctx context.Context, in createScheduleArgs) (scheduleOut, error) {
		if strings.TrimSpace(in.Cronline) == "" {
			return scheduleOut{}, &ArgumentError{Argument: "cronline", Reason: "must not be empty"}
		}
		s, err := bk.CreatePipelineSchedule(ctx, in.OrgSlug, in.PipelineSlug, buildkite.NewPipelineSchedule{
			Cronline: in.Cronline, Label: in.Label, Message: in.Message, Commit: in.Commit, Branch: in.Branch, Env: in.Env, Enabled: in.Enabled,
		})
		if err != nil {
			return scheduleOut{}, err
		}
		return shapeSchedule(s), nil
	})
	add(d, Spec{
		Name:  "update_pipeline_schedule",
		Title: "Update a pipeline schedule",
		Description: "Changes a schedule's cronline, label, message, commit, branch, env (replaced whole) or enabled (false pauses " +
			"it); fields left out stay. Confirm with the user first. Returns the schedule.",
		Area: "pipelines", Kind: Destructive, Scopes: []string{"write_pipelines"},
	}, func(ctx context.Context, in updateScheduleArgs) (scheduleOut, error) {
		ch := buildkite.PipelineScheduleChanges{
			Cronline: in.Cronline, Label: in.Label, Message: in.Message, Commit: in.Commit, Branch: in.Branch, Env: in.Env, Enabled: in.Enabled,
		}
		if ch.Cronline == nil && ch.Label == nil && ch.Message == nil && ch.Commit == nil && ch.Branch == nil && ch.Env == nil && ch.Enabled == nil {
			return scheduleOut{}, &ArgumentError{Reason: "give at least one field to change"}
		}
		s, err := bk.UpdatePipelineSchedule(ctx, in.OrgSlug, in.PipelineSlug, in.ScheduleID, ch)
		if err != nil {
			return scheduleOut{}, err
		}
		return shapeSchedule(s), nil
	})
}
