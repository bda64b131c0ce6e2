package buildkite

import (
	"context"

	gobuildkite "github.com/buildkite/go-buildkite/v4"
)

// PipelineListOptions filters ListPipelines.
type PipelineListOptions struct {
	// Name keeps pipelines whose name contains it.
	Name string
	// Repository keeps pipelines whose repository URL contains it.
	Repository string
	ListOptions
}

// ListPipelines lists an organization's pipelines
// (GET /v2/organizations/{org}/pipelines).
func (c *Client) ListPipelines(ctx context.Context, org string, opt PipelineListOptions) ([]Pipeline, Pagination, error) {
	var p path
	o := p.slug("organization slug", org)
	lo, err := opt.check()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	ps, resp, err := c.bk.Pipelines.List(ctx, o, &gobuildkite.PipelineListOptions{
		Name: opt.Name, Repository: opt.Repository, ListOptions: lo,
	})
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, "organization "+org)
	}
	return ps, pagination(resp), nil
}

// GetPipeline fetches one pipeline (GET /v2/organizations/{org}/pipelines/{pipeline}).
func (c *Client) GetPipeline(ctx context.Context, org, pipeline string) (Pipeline, error) {
	var p path
	o, pl := p.slug("organization slug", org), p.slug("pipeline slug", pipeline)
	if p.err != nil {
		return Pipeline{}, p.err
	}
	got, _, err := c.bk.Pipelines.Get(ctx, o, pl)
	return got, mapOrgError(err, org, "pipeline "+org+"/"+pipeline)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
