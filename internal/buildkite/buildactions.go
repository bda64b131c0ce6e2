package buildkite

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	gobuildkite "github.com/buildkite/go-buildkite/v4"
)

// Annotation is a build annotation.
type Annotation = gobuildkite.Annotation

// CancelBuild cancels a build (PUT …/builds/{number}/cancel). Buildkite
// answers 422 when the build has already finished.
func (c *Client) CancelBuild(ctx context.Context, org, pipeline, number string) (Build, error) {
	var p path
	o, pl, n := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number)
	if p.err != nil {
		return Build{}, p.err
	}
	b, err := c.bk.Builds.Cancel(ctx, o, pl, n)
	return b, mapOrgError(err, org, buildName(org, pipeline, number))
}

// RebuildBuild starts a new build of the same commit, branch and message
// (PUT …/builds/{number}/rebuild) and returns the new build.
func (c *Client) RebuildBuild(ctx context.Context, org, pipeline, number string) (Build, error) {
	var p path
	o, pl, n := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number)
	if p.err != nil {
		return Build{}, p.err
	}
	b, err := c.bk.Builds.Rebuild(ctx, o, pl, n)
	return b, mapOrgError(err, org, buildName(org, pipeline, number))
}

// UnblockJob unblocks a blocked block step's job, answering its input
// fields (PUT …/jobs/{job}/unblock).
func (c *Client) UnblockJob(ctx context.Context, org, pipeline, number, jobID string, fields map[string]string) (Job, error) {
	var p path
	o, pl, n, j := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number), p.uuid("job id", jobID)
	if p.err != nil {
		return Job{}, p.err
	}
	job, _, err := c.bk.Jobs.UnblockJob(ctx, o, pl, n, j, &gobuildkite.JobUnblockOptions{Fields: fields})
	return job, mapOrgError(err, org, "job "+jobID+" in "+buildName(org, pipeline, number))
}

// RetryJob retries a finished job (PUT …/jobs/{job}/retry) and returns the
// new job that replaces it.
func (c *Client) RetryJob(ctx context.Context, org, pipeline, number, jobID string) (Job, error) {
	var p path
	o, pl, n, j := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number), p.uuid("job id", jobID)
	if p.err != nil {
		return Job{}, p.err
	}
	job, _, err := c.bk.Jobs.RetryJob(ctx, o, pl, n, j)
	return job, mapOrgError(err, org, "job "+jobID+" in "+buildName(org, pipeline, number))
}

// JobEnv returns the environment variables a job ran with
// (GET …/jobs/{job}/env). They routinely contain secrets.
func (c *Client) JobEnv(ctx context.Context, org, pipeline, number, jobID string) (map[string]string, error) {
	var p path
	o, pl, n, j := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number), p.uuid("job id", jobID)
	if p.err != nil {
		return nil, p.err
	}
	env, _, err := c.bk.Jobs.GetJobEnvironmentVariables(ctx, o, pl, n, j)
	if err != nil {
		return nil, mapOrgError(err, org, "the environment of job "+jobID+" in "+buildName(org, pipeline, number))
	}
	return env.EnvironmentVariables, nil
}

// BuildAnnotations lists a build's annotations, a page at a time
// (GET …/builds/{number}/annotations).
func (c *Client) BuildAnnotations(ctx context.Context, org, pipeline, number string, opt ListOptions) ([]Annotation, Pagination, error) {
	var p path
	o, pl, n := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number)
	lo, err := opt.check()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	as, resp, err := c.bk.Annotations.ListByBuild(ctx, o, pl, n, &gobuildkite.AnnotationListOptions{ListOptions: lo})
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, "the annotations of "+buildName(org, pipeline, number))
	}
	return as, pagination(resp), nil
}

// StepUpload is one dynamic pipeline upload ("buildkite-agent pipeline
// upload") a build received. Definition is only set by GetStepUpload.
type StepUpload struct {
	UUID                 string     `json:"uuid"`
	GraphQLID            string     `json:"graphql_id"`
	State                string     `json:"state"` // pending, processing, applied, rejected, failed
	Source               string     `json:"source"`
	SourceJobID          string     `json:"source_job_id"`
	ReplaceExistingSteps bool       `json:"replace_existing_steps"`
	CreatedJobsCount     *int       `json:"created_jobs_count"`
	RejectionType        *string    `json:"rejection_type"`
	Message              *string    `json:"message"`
	URL                  string     `json:"url"`
	CreatedAt            *Timestamp `json:"created_at"`
	ProcessedAt          *Timestamp `json:"processed_at"`
	// Definition is the uploaded pipeline, as JSON.
	Definition []byte `json:"-"`
}

// StepUploadListOptions filters and pages ListStepUploads (cursor
// pagination, like jobs).
type StepUploadListOptions struct {
	SourceJobID string
	PerPage     int
	After       string
	Before      string
}

// StepUploadPage is one page of a build's step uploads.
type StepUploadPage struct {
	Uploads    []StepUpload
	NextCursor string
	PrevCursor string
}

// ListStepUploads lists a build's step uploads, newest first
// (GET …/builds/{number}/step-uploads, answered {"items", "links"}).
func (c *Client) ListStepUploads(ctx context.Context, org, pipeline, number string, opt StepUploadListOptions) (StepUploadPage, error) {
	var p path
	o, pl, n := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number)
	if opt.SourceJobID != "" {
		p.uuid("source job id", opt.SourceJobID)
	}
	if p.err != nil {
		return StepUploadPage{}, p.err
	}
	q := url.Values{}
	if opt.SourceJobID != "" {
		q.Set("source_job_id", opt.SourceJobID)
	}
	if opt.PerPage < 0 || opt.PerPage > 100 {
		return StepUploadPage{}, invalid("per_page must be between 1 and 100")
	}
	if opt.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(opt.PerPage))
	}
	if opt.After != "" && opt.Before != "" {
		return StepUploadPage{}, invalid("give after or before, not both")
	}
	for name, v := range map[string]string{"after": opt.After, "before": opt.Before} {
		if v == "" {
			continue
		}
		if !validCursor(v) {
			return StepUploadPage{}, invalid("invalid %s cursor", name)
		}
		q.Set(name, v)
	}
	u := fmt.Sprintf("v2/organizations/%s/pipelines/%s/builds/%s/step-uploads", o, pl, n)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body struct {
		Items []StepUpload `json:"items"`
		Links struct {
			Next string `json:"next"`
			Prev string `json:"prev"`
		} `json:"links"`
	}
	if _, err := c.get(ctx, u, &body); err != nil {
		return StepUploadPage{}, mapOrgError(err, org, "the step uploads of "+buildName(org, pipeline, number))
	}
	return StepUploadPage{
		Uploads:    body.Items,
		NextCursor: cursorFrom(body.Links.Next, "after"),
		PrevCursor: cursorFrom(body.Links.Prev, "before"),
	}, nil
}

// GetStepUpload fetches one step upload with its definition
// (GET …/builds/{number}/step-uploads/{uuid}).
func (c *Client) GetStepUpload(ctx context.Context, org, pipeline, number, uploadUUID string) (StepUpload, error) {
	var p path
	o, pl, n, id := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number), p.uuid("step upload uuid", uploadUUID)
	if p.err != nil {
		return StepUpload{}, p.err
	}
	var body struct {
		StepUpload
		Definition rawJSON `json:"definition"`
	}
	u := fmt.Sprintf("v2/organizations/%s/pipelines/%s/builds/%s/step-uploads/%s", o, pl, n, id)
	if _, err := c.get(ctx, u, &body); err != nil {
		return StepUpload{}, mapOrgError(err, org, "step upload "+uploadUUID+" of "+buildName(org, pipeline, number))
	}
	s := body.StepUpload
	if string(body.Definition) != "null" {
		s.Definition = body.Definition
	}
	return s, nil
}

// rawJSON keeps a JSON value as its bytes.
type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}
