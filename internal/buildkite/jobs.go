package buildkite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	gobuildkite "github.com/buildkite/go-buildkite/v4"
)

// JobListOptions filters ListJobs. Jobs are cursor-paginated: pass a
// JobPage's NextCursor as After (or PrevCursor as Before).
type JobListOptions struct {
	// States keeps jobs in any of these states (sent as state[]).
	States   []string
	StepKey  string
	GroupKey string
	// IncludeRetriedJobs is sent when not nil; Buildkite decides when it is.
	IncludeRetriedJobs *bool
	PerPage            int
	After              string
	Before             string
}

// JobPage is one page of a build's jobs.
type JobPage struct {
	Jobs []Job
	// NextCursor and PrevCursor are the cursors of the neighbouring pages,
	// empty when there is none.
	NextCursor string
	PrevCursor string
}

// cursorPattern admits the opaque cursors Buildkite hands out (they travel
// in the query string, escaped, never in the path), up to 512 bytes (the
// length is checked apart: a counted repetition makes a large program that
// every cold start would compile).
var cursorPattern = regexp.MustCompile(`^[A-Za-z0-9_.=:+/-]+$`)

func validCursor(v string) bool { return len(v) <= 512 && cursorPattern.MatchString(v) }

// ListJobs lists a build's jobs, a page at a time
// (GET …/builds/{number}/jobs, answered {"items": [...], "links": {...}}).
func (c *Client) ListJobs(ctx context.Context, org, pipeline, number string, opt JobListOptions) (JobPage, error) {
	var p path
	o, pl, n := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number)
	if p.err != nil {
		return JobPage{}, p.err
	}
	q := url.Values{}
	for _, st := range opt.States {
		q.Add("state[]", st)
	}
	for name, v := range map[string]string{"step_key": opt.StepKey, "group_key": opt.GroupKey} {
		if v != "" {
			q.Set(name, v)
		}
	}
	if opt.IncludeRetriedJobs != nil {
		q.Set("include_retried_jobs", strconv.FormatBool(*opt.IncludeRetriedJobs))
	}
	if opt.PerPage < 0 || opt.PerPage > 100 {
		return JobPage{}, invalid("per_page must be between 1 and 100")
	}
	if opt.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(opt.PerPage))
	}
	if opt.After != "" && opt.Before != "" {
		return JobPage{}, invalid("give after or before, not both")
	}
	for name, v := range map[string]string{"after": opt.After, "before": opt.Before} {
		if v == "" {
			continue
		}
		if !validCursor(v) {
			return JobPage{}, invalid("invalid %s cursor", name)
		}
		q.Set(name, v)
	}
	u := fmt.Sprintf("v2/organizations/%s/pipelines/%s/builds/%s/jobs", o, pl, n)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body struct {
		Items []Job `json:"items"`
		Links struct {
			Next string `json:"next"`
			Prev string `json:"prev"`
		} `json:"links"`
	}
	if _, err := c.get(ctx, u, &body); err != nil {
		return JobPage{}, mapOrgError(err, org, buildName(org, pipeline, number))
	}
	return JobPage{
		Jobs:       body.Items,
		NextCursor: cursorFrom(body.Links.Next, "after"),
		PrevCursor: cursorFrom(body.Links.Prev, "before"),
	}, nil
}

// cursorFrom reads the cursor parameter out of a pagination link.
func cursorFrom(link, param string) string {
	if link == "" {
		return ""
	}
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	return u.Query().Get(param)
}

// GetJob fetches one job. With pipeline and number empty it asks the
// organization (GET /v2/organizations/{org}/jobs/{job}); otherwise the build.
func (c *Client) GetJob(ctx context.Context, org, pipeline, number, jobID string) (Job, error) {
	var p path
	o, j := p.slug("organization slug", org), p.uuid("job id", jobID)
	u := fmt.Sprintf("v2/organizations/%s/jobs/%s", o, j)
	switch {
	case pipeline == "" && number == "":
	case pipeline == "" || number == "":
		return Job{}, invalid("give pipeline slug and build number together, or neither")
	default:
		pl, n := p.slug("pipeline slug", pipeline), p.number("build number", number)
		u = fmt.Sprintf("v2/organizations/%s/pipelines/%s/builds/%s/jobs/%s", o, pl, n, j)
	}
	if p.err != nil {
		return Job{}, p.err
	}
	var job Job
	_, err := c.get(ctx, u, &job)
	return job, mapOrgError(err, org, "job "+jobID+" in organization "+org)
}

// LogTail is the end of a job's raw log.
type LogTail struct {
	// Data is the last bytes of the log, as Buildkite stores it (ANSI
	// escapes, agent timestamps and "\r\n" included).
	Data []byte
	// Offset is where Data starts in the log: 0 means Data is the whole log.
	Offset int64
	// Size is the log's total size in bytes, -1 when unknown.
	Size int64
}

// maxLogScan bounds how much of a log is read when Buildkite ignores the
// Range header and sends it whole.
const maxLogScan = 64 << 20

// JobLogTail reads at most the last n bytes of a job's log, as plain text
// with "Range: bytes=-n".
func (c *Client) JobLogTail(ctx context.Context, org, pipeline, number, jobID string, n int64) (LogTail, error) {
	var p path
	o, pl, b, j := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number), p.uuid("job id", jobID)
	if p.err != nil {
		return LogTail{}, p.err
	}
	if n <= 0 {
		return LogTail{}, invalid("the number of log bytes must be positive")
	}
	req, err := c.bk.NewRequest(ctx, http.MethodGet, fmt.Sprintf("v2/organizations/%s/pipelines/%s/builds/%s/jobs/%s/log", o, pl, b, j), nil)
	if err != nil {
		return LogTail{}, mapError(err, "the log of job "+jobID)
	}
	req.Header.Set("Accept", "text/plain")
	req.Header.Set("Range", "bytes=-"+strconv.FormatInt(n, 10))
	w := &tailWriter{keep: n}
	resp, err := c.bk.Do(req, w)
	what := "the log of job " + jobID + " in " + buildName(org, pipeline, number)
	if err != nil {
		var er *gobuildkite.ErrorResponse
		if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			return LogTail{Size: 0}, nil // an empty log has no last bytes
		}
		return LogTail{}, mapOrgError(err, org, what)
	}
	t := LogTail{Data: w.bytes(), Size: -1}
	if resp.StatusCode == http.StatusPartialContent {
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok {
			return LogTail{}, &Error{Kind: Upstream, Status: resp.StatusCode, Message: "unreadable Content-Range", Resource: what}
		}
		t.Offset, t.Size = start+(w.total-int64(len(t.Data))), size
		return t, nil
	}
	t.Size = w.total
	t.Offset = w.total - int64(len(t.Data))
	return t, nil
}

// parseContentRange reads "bytes start-end/size" (size may be "*").
func parseContentRange(v string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, total, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	first, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	size = -1
	if total != "*" {
		if size, err = strconv.ParseInt(total, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, size, true
}

// tailWriter keeps the last keep bytes written to it, and refuses to be fed
// more than maxLogScan.
type tailWriter struct {
	keep  int64
	buf   []byte
	total int64
}

func (w *tailWriter) Write(p []byte) (int, error) {
	if w.total+int64(len(p)) > maxLogScan {
		return 0, errTooLarge
	}
	w.total += int64(len(p))
	w.buf = append(w.buf, p...)
	if over := int64(len(w.buf)) - w.keep; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tailWriter) bytes() []byte { return w.buf }

// PromisedFailure is a running job that declared the non-zero exit status
// it will finish with (Buildkite's promise job failure).
type PromisedFailure struct {
	JobID      string     `json:"id"`
	ExitStatus *int       `json:"promised_exit_status"`
	At         *Timestamp `json:"promised_exit_status_at"`
}

// PromisedFailures lists the build's running jobs that promised to fail
// (GET …/builds/{number}/jobs?state[]=running, the first 100).
func (c *Client) PromisedFailures(ctx context.Context, org, pipeline, number string) ([]PromisedFailure, error) {
	var p path
	o, pl, n := p.slug("organization slug", org), p.slug("pipeline slug", pipeline), p.number("build number", number)
	if p.err != nil {
		return nil, p.err
	}
	u := fmt.Sprintf("v2/organizations/%s/pipelines/%s/builds/%s/jobs?%s", o, pl, n,
		url.Values{"state[]": {"running"}, "per_page": {"100"}}.Encode())
	var body struct {
		Items []PromisedFailure `json:"items"`
	}
	if _, err := c.get(ctx, u, &body); err != nil {
		return nil, mapOrgError(err, org, buildName(org, pipeline, number))
	}
	var out []PromisedFailure
	for _, j := range body.Items {
		if j.ExitStatus != nil && *j.ExitStatus != 0 {
			out = append(out, j)
		}
	}
	return out, nil
}
