package buildkite

import (
	"context"
	"fmt"
	"net/http"
)

// NewPipeline is what CreatePipeline sends: a pipeline whose steps are the
// YAML in Configuration.
type NewPipeline struct {
	Name          string   `json:"name"`
	Repository    string   `json:"repository"`
	ClusterID     string   `json:"cluster_id,omitempty"`
	Configuration string   `json:"configuration,omitempty"`
	DefaultBranch string   `json:"default_branch,omitempty"`
	Description   string   `json:"description,omitempty"`
	Tags          []string `json:"tags,omitempty"`
	// The branch-build settings are sent only when set.
	SkipQueuedBranchBuilds    *bool `json:"skip_queued_branch_builds,omitempty"`
	CancelRunningBranchBuilds *bool `json:"cancel_running_branch_builds,omitempty"`
}

// PipelineChanges is what UpdatePipeline sends. Only the fields that are set
// are sent, so Buildkite leaves the others as they are (go-buildkite's
// UpdatePipeline would reset the branch-build flags it always sends).
type PipelineChanges struct {
	Name                      *string   `json:"name,omitempty"`
	Repository                *string   `json:"repository,omitempty"`
	ClusterID                 *string   `json:"cluster_id,omitempty"`
	Configuration             *string   `json:"configuration,omitempty"`
	DefaultBranch             *string   `json:"default_branch,omitempty"`
	Description               *string   `json:"description,omitempty"`
	BranchConfiguration       *string   `json:"branch_configuration,omitempty"`
	Visibility                *string   `json:"visibility,omitempty"`
	Tags                      *[]string `json:"tags,omitempty"`
	SkipQueuedBranchBuilds    *bool     `json:"skip_queued_branch_builds,omitempty"`
	CancelRunningBranchBuilds *bool     `json:"cancel_running_branch_builds,omitempty"`
}

// CreatePipeline creates a pipeline (POST /v2/organizations/{org}/pipelines);
// Buildkite answers 422 when a required field is missing or the name taken.
func (c *Client) CreatePipeline(ctx context.Context, org string, in NewPipeline) (Pipeline, error) {
	var p path
	o := p.slug("organization slug", org)
	if in.ClusterID != "" {
		p.uuid("cluster id", in.ClusterID)
	}
	if p.err != nil {
		return Pipeline{}, p.err
	}
	var out Pipeline
	err := c.send(ctx, http.MethodPost, fmt.Sprintf("v2/organizations/%s/pipelines", o), in, &out)
	return out, mapOrgError(err, org, "a new pipeline in organization "+org)
}

// UpdatePipeline changes a pipeline (PATCH …/pipelines/{pipeline}).
func (c *Client) UpdatePipeline(ctx context.Context, org, pipeline string, in PipelineChanges) (Pipeline, error) {
	var p path
	o, pl := p.slug("organization slug", org), p.slug("pipeline slug", pipeline)
	if in.ClusterID != nil && *in.ClusterID != "" {
		p.uuid("cluster id", *in.ClusterID)
	}
	if p.err != nil {
		return Pipeline{}, p.err
	}
	var out Pipeline
	err := c.send(ctx, http.MethodPatch, fmt.Sprintf("v2/organizations/%s/pipelines/%s", o, pl), in, &out)
	return out, mapOrgError(err, org, "pipeline "+org+"/"+pipeline)
}

// AddPipelineWebhook creates the webhook on the pipeline's repository host
// (POST …/pipelines/{pipeline}/webhook), so pushes start builds. Buildkite
// answers 422 when it cannot (a repository host it has no integration for).
func (c *Client) AddPipelineWebhook(ctx context.Context, org, pipeline string) error {
	var p path
	o, pl := p.slug("organization slug", org), p.slug("pipeline slug", pipeline)
	if p.err != nil {
		return p.err
	}
	_, err := c.bk.Pipelines.AddWebhook(ctx, o, pl)
	return mapOrgError(err, org, "the webhook of pipeline "+org+"/"+pipeline)
}
