package buildkite

import (
	"context"
	"fmt"
	"net/http"

	gobuildkite "github.com/buildkite/go-buildkite/v4"
)

// PipelineSchedule and the bodies that create and change one are
// go-buildkite's types.
type (
	PipelineSchedule = gobuildkite.PipelineSchedule
	// NewPipelineSchedule is what CreatePipelineSchedule sends.
	NewPipelineSchedule = gobuildkite.CreatePipelineSchedule
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

// PipelineScheduleChanges is what UpdatePipelineSchedule sends: nil fields
// are left as they are, a field set to "" is cleared.
type PipelineScheduleChanges struct {
	Cronline *string           `json:"cronline,omitempty"`
	Label    *string           `json:"label,omitempty"`
	Message  *string           `json:"message,omitempty"`
	Commit   *string           `json:"commit,omitempty"`
	Branch   *string           `json:"branch,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
	Enabled  *bool             `json:"enabled,omitempty"`
}

// UpdatePipelineSchedule changes a schedule (PATCH …/schedules/{id}).
func (c *Client) UpdatePipelineSchedule(ctx context.Context, org, pipeline, scheduleID string, in PipelineScheduleChanges) (PipelineSchedule, error) {
	var p path
	o, pl, id := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.uuid("schedule id", scheduleID)
	if p.err != nil {
		return PipelineSchedule{}, p.err
	}
	var s PipelineSchedule
	err := c.send(ctx, http.MethodPatch, fmt.Sprintf("v2/organizations/%s/pipelines/%s/schedules/%s", o, pl, id), in, &s)
	return s, mapOrgError(err, org, scheduleName(org, pipeline, scheduleID))
}
