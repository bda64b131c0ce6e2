package buildkite

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	gobuildkite "github.com/buildkite/go-buildkite/v4"
)

// Test Engine (analytics) types. TestRun and FailedExecution are
// go-buildkite's; Test carries the metrics go-buildkite v4 does not decode.
type (
	TestRun         = gobuildkite.TestRun
	FailedExecution = gobuildkite.FailedExecution
)

// Test is a Test Engine test with its execution metrics over the asked
// window (the metrics are absent from a single-test GET).
type Test struct {
	ID                      string         `json:"id"`
	URL                     string         `json:"url"`
	WebURL                  string         `json:"web_url"`
	Scope                   string         `json:"scope"`
	Name                    string         `json:"name"`
	Location                string         `json:"location"`
	FileName                string         `json:"file_name"`
	State                   string         `json:"state"`
	Labels                  TestLabels     `json:"labels"`
	Reliability             *float64       `json:"reliability"`
	DurationAvg             *float64       `json:"duration_avg"`
	DurationSum             *float64       `json:"duration_sum"`
	DurationMin             *float64       `json:"duration_min"`
	DurationMax             *float64       `json:"duration_max"`
	ExecutionsCount         *int           `json:"executions_count"`
	ExecutionsCountByResult map[string]int `json:"executions_count_by_result"`
}

// TestLabels are a test's labels, which Buildkite renders as names or as
// {"name", "color"} objects depending on the endpoint.
type TestLabels []string

func (l *TestLabels) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*l = (*l)[:0]
	for _, r := range raw {
		var s string
		if json.Unmarshal(r, &s) == nil {
			*l = append(*l, s)
			continue
		}
		var o struct{ Name string }
		if err := json.Unmarshal(r, &o); err != nil {
			return err
		}
		*l = append(*l, o.Name)
	}
	return nil
}

// TestListOptions filters ListTests and ListBuildTests. Period and the
// timestamps choose the aggregation window (not for a build's tests).
type TestListOptions struct {
	Period       string // e.g. "7days"
	MinTimestamp string // RFC 3339
	MaxTimestamp string // RFC 3339
	Branch       string
	State        string // enabled, muted, skipped
	Tags         string // key:value,...
	Labels       string // comma-separated test labels
	Owners       string // comma-separated test owners (teams)
	SortBy       string // duration_avg, duration_sum, duration_min, duration_max, reliability
	Order        string // asc, desc
	ListOptions
}

func (o TestListOptions) query() (url.Values, error) {
	lo, err := o.check()
	if err != nil {
		return nil, err
	}
	if o.Period != "" && (o.MinTimestamp != "" || o.MaxTimestamp != "") {
		return nil, invalid("give period or min_timestamp/max_timestamp, not both")
	}
	q := url.Values{}
	for name, v := range map[string]string{"min_timestamp": o.MinTimestamp, "max_timestamp": o.MaxTimestamp} {
		if v == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			return nil, invalid("%s must be an RFC 3339 time, e.g. 2026-11-24T16:00:00Z", name)
		}
		q.Set(name, v)
	}
	for name, v := range map[string]string{"period": o.Period, "branch": o.Branch, "state": o.State, "tags": o.Tags, "labels": o.Labels, "owners": o.Owners, "sort_by": o.SortBy, "order": o.Order} {
		if v != "" {
			q.Set(name, v)
		}
	}
	if lo.Page > 0 {
		q.Set("page", strconv.Itoa(lo.Page))
	}
	if lo.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(lo.PerPage))
	}
	return q, nil
}

func withQuery(u string, q url.Values) string {
	if len(q) == 0 {
		return u
	}
	return u + "?" + q.Encode()
}

func suiteName(org, suite string) string { return "test suite " + org + "/" + suite }

// ListTests lists a suite's tests with their metrics
// (GET /v2/analytics/organizations/{org}/suites/{suite}/tests).
func (c *Client) ListTests(ctx context.Context, org, suite string, opt TestListOptions) ([]Test, Pagination, error) {
	var p path
	o, s := p.slug("organization slug", org), p.slug("test suite slug", suite)
	q, err := opt.query()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	var tests []Test
	resp, err := c.get(ctx, withQuery(fmt.Sprintf("v2/analytics/organizations/%s/suites/%s/tests", o, s), q), &tests)
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, suiteName(org, suite))
	}
	return tests, pagination(resp), nil
}

// GetTest fetches one test of a suite.
func (c *Client) GetTest(ctx context.Context, org, suite, testID string) (Test, error) {
	var p path
	o, s, t := p.slug("organization slug", org), p.slug("test suite slug", suite), p.uuid("test id", testID)
	if p.err != nil {
		return Test{}, p.err
	}
	var test Test
	_, err := c.get(ctx, fmt.Sprintf("v2/analytics/organizations/%s/suites/%s/tests/%s", o, s, t), &test)
	return test, mapOrgError(err, org, "test "+testID+" in "+suiteName(org, suite))
}

// ListBuildTests lists the tests that ran in a build, across the suites the
// token can see (GET /v2/analytics/organizations/{org}/builds/{build_uuid}/tests).
// buildID is the build's UUID, not its number.
func (c *Client) ListBuildTests(ctx context.Context, org, buildID string, opt TestListOptions) ([]Test, Pagination, error) {
	var p path
	o, b := p.slug("organization slug", org), p.uuid("build uuid", buildID)
	if opt.Period != "" || opt.MinTimestamp != "" || opt.MaxTimestamp != "" {
		return nil, Pagination{}, invalid("a build's tests are aggregated over the build: period and timestamps do not apply")
	}
	q, err := opt.query()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	var tests []Test
	resp, err := c.get(ctx, withQuery(fmt.Sprintf("v2/analytics/organizations/%s/builds/%s/tests", o, b), q), &tests)
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, "the tests of build "+buildID)
	}
	return tests, pagination(resp), nil
}

// ListTestRuns lists a suite's runs, newest first
// (GET …/suites/{suite}/runs).
func (c *Client) ListTestRuns(ctx context.Context, org, suite string, opt ListOptions) ([]TestRun, Pagination, error) {
	var p path
	o, s := p.slug("organization slug", org), p.slug("test suite slug", suite)
	lo, err := opt.check()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	runs, resp, err := c.bk.TestRuns.List(ctx, o, s, &gobuildkite.TestRunsListOptions{ListOptions: lo})
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, suiteName(org, suite))
	}
	return runs, pagination(resp), nil
}

// GetTestRun fetches one run of a suite (GET …/suites/{suite}/runs/{run}).
func (c *Client) GetTestRun(ctx context.Context, org, suite, runID string) (TestRun, error) {
	var p path
	o, s, r := p.slug("organization slug", org), p.slug("test suite slug", suite), p.uuid("run id", runID)
	if p.err != nil {
		return TestRun{}, p.err
	}
	run, _, err := c.bk.TestRuns.Get(ctx, o, s, r)
	return run, mapOrgError(err, org, "run "+runID+" of "+suiteName(org, suite))
}

// FailedExecutionOptions pages FailedExecutions.
type FailedExecutionOptions struct {
	// IncludeFailureExpanded adds each failure's expanded message and backtrace.
	IncludeFailureExpanded bool
	ListOptions
}

// FailedExecutions lists the failed test executions of a run
// (GET …/suites/{suite}/runs/{run}/failed_executions).
func (c *Client) FailedExecutions(ctx context.Context, org, suite, runID string, opt FailedExecutionOptions) ([]FailedExecution, Pagination, error) {
	var p path
	o, s, r := p.slug("organization slug", org), p.slug("test suite slug", suite), p.uuid("run id", runID)
	lo, err := opt.check()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	q := url.Values{}
	if opt.IncludeFailureExpanded {
		q.Set("include_failure_expanded", "true")
	}
	if lo.Page > 0 {
		q.Set("page", strconv.Itoa(lo.Page))
	}
	if lo.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(lo.PerPage))
	}
	var fes []FailedExecution
	resp, err := c.get(ctx, withQuery(fmt.Sprintf("v2/analytics/organizations/%s/suites/%s/runs/%s/failed_executions", o, s, r), q), &fes)
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, "the failed executions of run "+runID+" of "+suiteName(org, suite))
	}
	return fes, pagination(resp), nil
}
