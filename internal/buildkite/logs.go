package buildkite

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// JobLog opens a job's raw log (GET …/jobs/{job}/log, Accept: text/plain) as
// a stream, so that a caller can scan a log of any size holding only what it
// keeps. size is the log's length in bytes, -1 when Buildkite does not say.
// The caller must close the reader; the per-request timeout covers reading it.
func (c *Client) JobLog(ctx context.Context, org, pipeline, number, jobID string) (io.ReadCloser, int64, error) {
	return c.openLog(ctx, org, pipeline, number, jobID, "")
}

// JobLogHead opens the first n bytes of a job's log ("Range: bytes=0-(n-1)").
func (c *Client) JobLogHead(ctx context.Context, org, pipeline, number, jobID string, n int64) (io.ReadCloser, error) {
	if n <= 0 {
		return nil, invalid("the number of log bytes must be positive")
	}
	r, _, err := c.openLog(ctx, org, pipeline, number, jobID, "bytes=0-"+strconv.FormatInt(n-1, 10))
	if err != nil {
		return nil, err
	}
	// A server that ignores Range sends the whole log: read no further than asked.
	return readCloser{io.LimitReader(r, n), r}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

func (c *Client) openLog(ctx context.Context, org, pipeline, number, jobID, rng string) (io.ReadCloser, int64, error) {
	var p path
	o, pl, b, j := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number), p.uuid("job id", jobID)
	if p.err != nil {
		return nil, 0, p.err
	}
	what := "the log of job " + jobID + " in " + buildName(org, pipeline, number)
	req, err := c.bk.NewRequest(ctx, http.MethodGet, fmt.Sprintf("v2/organizations/%s/pipelines/%s/builds/%s/jobs/%s/log", o, pl, b, j), nil)
	if err != nil {
		return nil, 0, mapError(err, what)
	}
	req.Header.Set("Accept", "text/plain")
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, mapOrgError(err, org, what)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, resp.ContentLength, nil
	case http.StatusPartialContent:
		size := int64(-1)
		if _, total, ok := strings.Cut(resp.Header.Get("Content-Range"), "/"); ok && total != "*" {
			if n, err := strconv.ParseInt(total, 10, 64); err == nil {
				size = n
			}
		}
		return resp.Body, size, nil
	case http.StatusRequestedRangeNotSatisfiable:
		drain(resp)
		return io.NopCloser(strings.NewReader("")), 0, nil // an empty log
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	drain(resp)
	e := fromResponse(resp, body)
	e.Resource = what
	return nil, 0, mapOrgError(e, org, what)
}
