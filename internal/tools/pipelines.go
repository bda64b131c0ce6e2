package tools

import (
	"context"

	"github.com/kitegate/kitegate/internal/buildkite"
)

type listPipelinesArgs struct {
	OrgSlug     string `json:"org_slug" jsonschema:"the organization slug, e.g. acme (user_token_organization gives it)"`
	Name        string `json:"name,omitempty" jsonschema:"keep pipelines whose name contains this text"`
	Repository  string `json:"repository,omitempty" jsonschema:"keep pipelines whose repository URL contains this text"`
	Page        int    `json:"page,omitempty" jsonschema:"page number, from 1 (default 1); use next_page from the previous answer"`
	PerPage     int    `json:"per_page,omitempty" jsonschema:"pipelines per page, 1 to 100 (default 30)"`
	DetailLevel string `json:"detail_level,omitempty" jsonschema:"how much of each item to return: summary (default, the key fields), detailed (more fields) or full (everything Buildkite returns)"`
}

type getPipelineArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	DetailLevel  string `json:"detail_level,omitempty" jsonschema:"how much to return: summary (default, the key fields), detailed (more fields) or full (everything Buildkite returns, including the steps configuration)"`
}

type pipelineSummary struct {
	Slug          string `json:"slug"`
	Name          string `json:"name"`
	Repository    string `json:"repository"`
	DefaultBranch string `json:"default_branch"`
	WebURL        string `json:"web_url"`
}

type pipelineDetail struct {
	pipelineSummary
	Description          string   `json:"description,omitempty"`
	Tags                 []string `json:"tags,omitempty"`
	Visibility           string   `json:"visibility,omitempty"`
	ClusterID            string   `json:"cluster_id,omitempty"`
	CreatedAt            *string  `json:"created_at,omitempty"`
	ArchivedAt           *string  `json:"archived_at,omitempty"`
	BranchConfiguration  string   `json:"branch_configuration,omitempty"`
	RunningBuildsCount   int      `json:"running_builds_count"`
	ScheduledBuildsCount int      `json:"scheduled_builds_count"`
	RunningJobsCount     int      `json:"running_jobs_count"`
	ScheduledJobsCount   int      `json:"scheduled_jobs_count"`
	WaitingJobsCount     int      `json:"waiting_jobs_count"`
}

type pipelineList struct {
	Items    []any `json:"items"`
	NextPage int   `json:"next_page,omitempty"`
}

func shapePipeline(p buildkite.Pipeline, level string) any {
	s := pipelineSummary{Slug: p.Slug, Name: p.Name, Repository: p.Repository, DefaultBranch: p.DefaultBranch, WebURL: p.WebURL}
	switch level {
	case summary:
		return s
	case detailed:
		return pipelineDetail{
			pipelineSummary: s, Description: p.Description, Tags: p.Tags, Visibility: p.Visibility,
			ClusterID: p.ClusterID, CreatedAt: timestamp(p.CreatedAt), ArchivedAt: timestamp(p.ArchivedAt),
			BranchConfiguration: p.BranchConfiguration,
			RunningBuildsCount:  p.RunningBuildsCount, ScheduledBuildsCount: p.ScheduledBuildsCount,
			RunningJobsCount: p.RunningJobsCount, ScheduledJobsCount: p.ScheduledJobsCount, WaitingJobsCount: p.WaitingJobsCount,
		}
	}
	// The webhook URL lets anyone who has it trigger builds: not for the model.
	p.Provider.WebhookURL = ""
	return p
}

func pipelineTools(bk Buildkite) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "list_pipelines",
		Title: "List pipelines",
		Description: "Lists the pipelines of a Buildkite organization, 30 per page by default, optionally filtered by name or repository. " +
			"Returns items (slug, name, repository, default_branch, web_url at the summary detail level) and next_page when there are more. " +
			"Use it to find a pipeline_slug for the build tools.",
		Area: "pipelines", Kind: Read, Scopes: []string{"read_pipelines"},
	}, func(ctx context.Context, in listPipelinesArgs) (any, error) {
		level, err := detailLevel(in.DetailLevel)
		if err != nil {
			return nil, err
		}
		lo, err := listOptions(in.Page, in.PerPage)
		if err != nil {
			return nil, err
		}
		ps, page, err := bk.ListPipelines(ctx, in.OrgSlug, buildkite.PipelineListOptions{Name: in.Name, Repository: in.Repository, ListOptions: lo})
		if err != nil {
			return nil, err
		}
		out := pipelineList{Items: make([]any, 0, len(ps)), NextPage: page.NextPage}
		for _, p := range ps {
			out.Items = append(out.Items, shapePipeline(p, level))
		}
		return out, nil
	})
	add(&d, Spec{
		Name:  "get_pipeline",
		Title: "Get a pipeline",
		Description: "Returns one Buildkite pipeline: slug, name, repository, default_branch and web_url at the summary detail level; " +
			"description, tags, cluster, branch filter and running/scheduled counts when detailed; " +
			"everything including the steps configuration when full.",
		Area: "pipelines", Kind: Read, Scopes: []string{"read_pipelines"},
	}, func(ctx context.Context, in getPipelineArgs) (any, error) {
		level, err := detailLevel(in.DetailLevel)
		if err != nil {
			return nil, err
		}
		p, err := bk.GetPipeline(ctx, in.OrgSlug, in.PipelineSlug)
		if err != nil {
			return nil, err
		}
		return shapePipeline(p, level), nil
	})
	return d.done()
}
