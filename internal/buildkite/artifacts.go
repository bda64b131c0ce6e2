package buildkite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	gobuildkite "github.com/buildkite/go-buildkite/v4"

	"github.com/kitegate/kitegate/internal/egress"
)

// Artifact is a file a job uploaded.
type Artifact = gobuildkite.Artifact

// ListBuildArtifacts lists the artifacts of every job of a build, a page at
// a time (GET …/builds/{number}/artifacts).
func (c *Client) ListBuildArtifacts(ctx context.Context, org, pipeline, number string, opt ListOptions) ([]Artifact, Pagination, error) {
	var p path
	o, pl, n := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number)
	lo, err := opt.check()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	as, resp, err := c.bk.Artifacts.ListByBuild(ctx, o, pl, n, &gobuildkite.ArtifactListOptions{ListOptions: lo})
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, "the artifacts of "+buildName(org, pipeline, number))
	}
	return as, pagination(resp), nil
}

// ListJobArtifacts lists one job's artifacts, a page at a time
// (GET …/jobs/{job}/artifacts).
func (c *Client) ListJobArtifacts(ctx context.Context, org, pipeline, number, jobID string, opt ListOptions) ([]Artifact, Pagination, error) {
	var p path
	o, pl, n, j := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number), p.uuid("job id", jobID)
	lo, err := opt.check()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	as, resp, err := c.bk.Artifacts.ListByJob(ctx, o, pl, n, j, &gobuildkite.ArtifactListOptions{ListOptions: lo})
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, "the artifacts of job "+jobID+" in "+buildName(org, pipeline, number))
	}
	return as, pagination(resp), nil
}

func artifactName(org, pipeline, number, jobID, artifactID string) string {
	return "artifact " + artifactID + " of job " + jobID + " in " + buildName(org, pipeline, number)
}

// GetArtifact fetches an artifact's metadata (GET …/jobs/{job}/artifacts/{id}).
func (c *Client) GetArtifact(ctx context.Context, org, pipeline, number, jobID, artifactID string) (Artifact, error) {
	var p path
	o, pl, n, j, id := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number),
		p.uuid("job id", jobID), p.uuid("artifact id", artifactID)
	if p.err != nil {
		return Artifact{}, p.err
	}
	a, _, err := c.bk.Artifacts.Get(ctx, o, pl, n, j, id)
	return a, mapOrgError(err, org, artifactName(org, pipeline, number, jobID, artifactID))
}

// ArtifactDownloadURL asks for an artifact's download
// (GET …/artifacts/{id}/download) and returns the short-lived presigned URL
// Buildkite redirects to. The redirect is not followed: the URL is on another
// host, which must never see the token.
func (c *Client) ArtifactDownloadURL(ctx context.Context, org, pipeline, number, jobID, artifactID string) (string, error) {
	var p path
	o, pl, n, j, id := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number),
		p.uuid("job id", jobID), p.uuid("artifact id", artifactID)
	if p.err != nil {
		return "", p.err
	}
	what := "the download of " + artifactName(org, pipeline, number, jobID, artifactID)
	req, err := c.bk.NewRequest(ctx, http.MethodGet, fmt.Sprintf("v2/organizations/%s/pipelines/%s/builds/%s/jobs/%s/artifacts/%s/download", o, pl, n, j, id), nil)
	if err != nil {
		return "", mapError(err, what)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", mapOrgError(err, org, what)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		drain(resp)
		loc, err := resp.Location()
		if err != nil {
			return "", &Error{Kind: Upstream, Status: resp.StatusCode, Resource: what, Message: "the redirect has no usable Location"}
		}
		// The URL is handed to the caller or fetched: either way it must
		// pass the download rules (https, no userinfo, an allowed host).
		if err := c.downloads.Allowed(loc.String()); err != nil {
			return "", &Error{Kind: Upstream, Resource: what, Message: "the download location was refused", err: err}
		}
		return loc.String(), nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	drain(resp)
	if resp.StatusCode < 300 {
		return "", &Error{Kind: Upstream, Status: resp.StatusCode, Resource: what, Message: "expected a redirect to the file"}
	}
	e := fromResponse(resp, body)
	e.Resource = what
	return "", mapOrgError(e, org, what)
}

// ErrArtifactTooLarge says a download held more bytes than were allowed.
var ErrArtifactTooLarge = errors.New("artifact larger than the limit")

// FetchArtifact downloads at most limit bytes from a presigned URL that
// ArtifactDownloadURL returned, without the token (the URL carries its own
// signature), through the egress rules: https only, an allowed host, never
// an internal address, on every redirect. It answers ErrArtifactTooLarge
// when the file is longer than limit.
func (c *Client) FetchArtifact(ctx context.Context, presigned string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.downloads.GetLimited(ctx, presigned, limit)
	switch {
	case errors.Is(err, egress.ErrTooLarge):
		return nil, ErrArtifactTooLarge
	case errors.Is(err, egress.ErrRefused):
		return nil, &Error{Kind: Upstream, Resource: "the artifact download", Message: "the download location was refused", err: err}
	case err != nil:
		return nil, mapError(err, "the artifact download")
	case resp.Status != http.StatusOK:
		return nil, &Error{Kind: Upstream, Status: resp.Status, Resource: "the artifact download", Message: http.StatusText(resp.Status)}
	}
	return resp.Body, nil
}
