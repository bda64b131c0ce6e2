package buildkite

import (
	"context"

	gobuildkite "github.com/buildkite/go-buildkite/v4"
)

// NewAnnotation is what CreateAnnotation sends.
type NewAnnotation = gobuildkite.AnnotationCreate

// JobAnnotations lists the annotations scoped to one job of a build, a page
// at a time (GET …/jobs/{job}/annotations).
func (c *Client) JobAnnotations(ctx context.Context, org, pipeline, number, jobID string, opt ListOptions) ([]Annotation, Pagination, error) {
	var p path
	o, pl, n, j := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number), p.uuid("job id", jobID)
	lo, err := opt.check()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	as, resp, err := c.bk.Annotations.ListByJob(ctx, o, pl, n, j, &gobuildkite.AnnotationListOptions{ListOptions: lo})
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, "the annotations of job "+jobID+" in "+buildName(org, pipeline, number))
	}
	return as, pagination(resp), nil
}

// CreateAnnotation adds an annotation to a build (POST …/builds/{number}/annotations),
// or to one of its jobs when jobID is not empty (POST …/jobs/{job}/annotations).
// An annotation with the same context is replaced, or appended to with Append.
func (c *Client) CreateAnnotation(ctx context.Context, org, pipeline, number, jobID string, in NewAnnotation) (Annotation, error) {
	var p path
	o, pl, n := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number)
	j := ""
	if jobID != "" {
		j = p.uuid("job id", jobID)
	}
	if p.err != nil {
		return Annotation{}, p.err
	}
	if j != "" {
		a, _, err := c.bk.Annotations.CreateForJob(ctx, o, pl, n, j, in)
		return a, mapOrgError(err, org, "an annotation of job "+jobID+" in "+buildName(org, pipeline, number))
	}
	a, _, err := c.bk.Annotations.Create(ctx, o, pl, n, in)
	return a, mapOrgError(err, org, "an annotation of "+buildName(org, pipeline, number))
}
