package buildkite

import (
	"context"

	gobuildkite "github.com/buildkite/go-buildkite/v4"
)

// PipelineSchedule and the bodies that create and change one are
// go-buildkite's types.
type (
	PipelineSchedule = gobuildkite.PipelineSchedule
	// NewPipelineSchedule is what CreatePipelineSchedule sends.
	NewPipelineSchedule = gobuildkite.CreatePipelineSchedule
	// PipelineScheduleChanges is what UpdatePipelineSchedule sends; empty
	// fields (and a nil Enabled) are left as they are.
	PipelineScheduleChanges = gobuildkite.UpdatePipelineSchedule
)

func scheduleName(org, pipeline, id string) string {
	return "schedule " + id + " of pipeline " + org + "/" + pipeline
}

// ListPipelineSchedules lists a pipeline's schedules, newest first, a page at
// a time (GET …/pipelines/{pipeline}/schedules).
func (c *Client) ListPipelineSchedules(ctx context.Context, org, pipeline string, opt ListOptions) ([]PipelineSchedule, Pagination, error) {
	var p path
	o, pl := p.slug("organization slug", org), p.slug("pipeline slug", pipeline)
	lo, err := opt.check()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	ss, resp, err := c.bk.PipelineSchedules.List(ctx, o, pl, &gobuildkite.PipelineScheduleListOptions{ListOptions: lo})
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, "the schedules of pipeline "+org+"/"+pipeline)
	}
	return ss, pagination(resp), nil
}

// GetPipelineSchedule fetches one schedule (GET …/schedules/{id}).
func (c *Client) GetPipelineSchedule(ctx context.Context, org, pipeline, scheduleID string) (PipelineSchedule, error) {
	var p path
	o, pl, id := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.uuid("schedule id", scheduleID)
	if p.err != nil {
		return PipelineSchedule{}, p.err
	}
	s, _, err := c.bk.PipelineSchedules.Get(ctx, o, pl, id)
	return s, mapOrgError(err, org, scheduleName(org, pipeline, scheduleID))
}

// CreatePipelineSchedule creates a schedule (POST …/schedules); Buildkite
// answers 422 for a missing or unparsable cronline.
func (c *Client) CreatePipelineSchedule(ctx context.Context, org, pipeline string, in NewPipelineSchedule) (PipelineSchedule, error) {
	var p path
	o, pl := p.slug("organization slug", org), p.slug("pipeline slug", pipeline)
	if p.err != nil {
		return PipelineSchedule{}, p.err
	}
	s, _, err := c.bk.PipelineSchedules.Create(ctx, o, pl, in)
	return s, mapOrgError(err, org, "a new schedule of pipeline "+org+"/"+pipeline)
}

// UpdatePipelineSchedule changes a schedule (PATCH …/schedules/{id}).
func (c *Client) UpdatePipelineSchedule(ctx context.Context, org, pipeline, scheduleID string, in PipelineScheduleChanges) (PipelineSchedule, error) {
	var p path
	o, pl, id := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.uuid("schedule id", scheduleID)
	if p.err != nil {
		return PipelineSchedule{}, p.err
	}
	s, _, err := c.bk.PipelineSchedules.Update(ctx, o, pl, id, in)
	return s, mapOrgError(err, org, scheduleName(org, pipeline, scheduleID))
}
