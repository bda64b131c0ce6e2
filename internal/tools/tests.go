package tools

import (
	"context"
	"unicode/utf8"

	"github.com/kitegate/kitegate/internal/buildkite"
)

// testAPI is what the Test Engine tools call.
type testAPI interface {
	ListTests(ctx context.Context, org, suite string, opt buildkite.TestListOptions) ([]buildkite.Test, buildkite.Pagination, error)
	GetTest(ctx context.Context, org, suite, testID string) (buildkite.Test, error)
	ListBuildTests(ctx context.Context, org, buildID string, opt buildkite.TestListOptions) ([]buildkite.Test, buildkite.Pagination, error)
	ListTestRuns(ctx context.Context, org, suite string, opt buildkite.ListOptions) ([]buildkite.TestRun, buildkite.Pagination, error)
	GetTestRun(ctx context.Context, org, suite, runID string) (buildkite.TestRun, error)
	FailedExecutions(ctx context.Context, org, suite, runID string, opt buildkite.FailedExecutionOptions) ([]buildkite.FailedExecution, buildkite.Pagination, error)
}

type testFilterArgs struct {
	Branch  string `json:"branch,omitempty" jsonschema:"count only executions on this branch; !main excludes it, feature* a prefix"`
	State   string `json:"state,omitempty" jsonschema:"keep tests in this state: enabled, muted or skipped"`
	Tags    string `json:"tags,omitempty" jsonschema:"execution tags, comma-separated key:value, e.g. result:failed"`
	Labels  string `json:"labels,omitempty" jsonschema:"comma-separated"`
	Owners  string `json:"owners,omitempty" jsonschema:"comma-separated teams"`
	SortBy  string `json:"sort_by,omitempty" jsonschema:"duration_avg (default), duration_sum, duration_min, duration_max or reliability"`
	Order   string `json:"order,omitempty" jsonschema:"desc (default) or asc"`
	Page    int    `json:"page,omitempty" jsonschema:"page number, from 1 (default 1); use next_page from the previous answer"`
	PerPage int    `json:"per_page,omitempty" jsonschema:"tests per page, 1 to 100 (default 100)"`
}

type listTestsArgs struct {
	OrgSlug       string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	TestSuiteSlug string `json:"test_suite_slug" jsonschema:"the Test Engine suite slug, e.g. web-app-rspec"`
	Period        string `json:"period,omitempty" jsonschema:"e.g. 7days or 24hours; not with min_timestamp/max_timestamp"`
	MinTimestamp  string `json:"min_timestamp,omitempty" jsonschema:"start of the window, RFC 3339, e.g. 2026-11-20T00:00:00Z"`
	MaxTimestamp  string `json:"max_timestamp,omitempty" jsonschema:"end of the window, RFC 3339 (default now)"`
	testFilterArgs
}

type listTestsForBuildArgs struct {
	OrgSlug   string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	BuildUUID string `json:"build_uuid" jsonschema:"build_id from get_build_test_engine_runs (not the number)"`
	testFilterArgs
}

type getTestArgs struct {
	OrgSlug       string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	TestSuiteSlug string `json:"test_suite_slug" jsonschema:"the Test Engine suite slug, e.g. web-app-rspec"`
	TestID        string `json:"test_id" jsonschema:"the test's UUID"`
}

type listTestRunsArgs struct {
	OrgSlug       string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	TestSuiteSlug string `json:"test_suite_slug" jsonschema:"the Test Engine suite slug, e.g. web-app-rspec"`
	Page          int    `json:"page,omitempty" jsonschema:"page number, from 1 (default 1); use next_page from the previous answer"`
	PerPage       int    `json:"per_page,omitempty" jsonschema:"runs per page, 1 to 100 (default 100)"`
}

type getTestRunArgs struct {
	OrgSlug       string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	TestSuiteSlug string `json:"test_suite_slug" jsonschema:"the Test Engine suite slug, e.g. web-app-rspec"`
	RunID         string `json:"run_id" jsonschema:"the run's UUID (list_test_runs or get_build_test_engine_runs gives it)"`
}

type failedExecutionsArgs struct {
	getTestRunArgs
	IncludeFailureExpanded bool `json:"include_failure_expanded,omitempty" jsonschema:"also return each failure's message and backtrace"`
	Page                   int  `json:"page,omitempty" jsonschema:"page number, from 1 (default 1); use next_page from the previous answer"`
	PerPage                int  `json:"per_page,omitempty" jsonschema:"failures per page, 1 to 100 (default 30)"`
}

type testOut struct {
	ID          string         `json:"id"`
	Scope       string         `json:"scope,omitempty"`
	Name        string         `json:"name"`
	Location    string         `json:"location,omitempty"`
	State       string         `json:"state,omitempty"`
	Labels      []string       `json:"labels,omitempty"`
	Reliability *float64       `json:"reliability,omitempty"`
	DurationAvg *float64       `json:"duration_avg,omitempty"`
	DurationMax *float64       `json:"duration_max,omitempty"`
	Executions  *int           `json:"executions,omitempty"`
	ByResult    map[string]int `json:"executions_by_result,omitempty"`
	WebURL      string         `json:"web_url,omitempty"`
}

type testList struct {
	Items    []testOut `json:"items"`
	NextPage int       `json:"next_page,omitempty"`
}

type testRunOut struct {
	ID        string  `json:"id"`
	State     string  `json:"state"`
	Result    string  `json:"result,omitempty"`
	Branch    string  `json:"branch,omitempty"`
	Commit    string  `json:"commit,omitempty"`
	BuildID   string  `json:"build_id,omitempty"`
	CreatedAt *string `json:"created_at,omitempty"`
	WebURL    string  `json:"web_url,omitempty"`
}

type testRunList struct {
	Items    []testRunOut `json:"items"`
	NextPage int          `json:"next_page,omitempty"`
}

type failedExecutionOut struct {
	ExecutionID   string   `json:"execution_id"`
	TestID        string   `json:"test_id"`
	TestName      string   `json:"test_name"`
	Location      string   `json:"location,omitempty"`
	FailureReason string   `json:"failure_reason"`
	Duration      float64  `json:"duration"`
	Branch        string   `json:"branch,omitempty"`
	Commit        string   `json:"commit,omitempty"`
	Expanded      []string `json:"expanded,omitempty"`
	Backtrace     []string `json:"backtrace,omitempty"`
	WebURL        string   `json:"web_url,omitempty"`
}

type failedExecutionList struct {
	Items    []failedExecutionOut `json:"items"`
	NextPage int                  `json:"next_page,omitempty"`
}

// Expanded failures are cut to keep answers readable.
const (
	maxExpandedLines  = 40
	maxBacktraceLines = 20
	maxFailureText    = 2000
)

var testSortKeys = []string{"duration_avg", "duration_sum", "duration_min", "duration_max", "reliability"}

func (f testFilterArgs) options() (buildkite.TestListOptions, error) {
	if err := oneOf("state", f.State, "enabled", "muted", "skipped"); err != nil {
		return buildkite.TestListOptions{}, err
	}
	if err := oneOf("sort_by", f.SortBy, testSortKeys...); err != nil {
		return buildkite.TestListOptions{}, err
	}
	if err := oneOf("order", f.Order, "asc", "desc"); err != nil {
		return buildkite.TestListOptions{}, err
	}
	lo, err := listOptions(f.Page, f.PerPage, 100)
	if err != nil {
		return buildkite.TestListOptions{}, err
	}
	return buildkite.TestListOptions{Branch: f.Branch, State: f.State, Tags: f.Tags, Labels: f.Labels, Owners: f.Owners, SortBy: f.SortBy, Order: f.Order, ListOptions: lo}, nil
}

func shapeTest(t buildkite.Test) testOut {
	o := testOut{
		ID: t.ID, Scope: t.Scope, Name: t.Name, Location: t.Location, State: t.State, Labels: t.Labels,
		Reliability: t.Reliability, DurationAvg: t.DurationAvg, DurationMax: t.DurationMax, Executions: t.ExecutionsCount,
		ByResult: t.ExecutionsCountByResult, WebURL: t.WebURL,
	}
	if o.Location == "" {
		o.Location = t.FileName
	}
	return o
}

func shapeTests(ts []buildkite.Test, p buildkite.Pagination) testList {
	out := testList{Items: make([]testOut, 0, len(ts)), NextPage: p.NextPage}
	for _, t := range ts {
		out.Items = append(out.Items, shapeTest(t))
	}
	return out
}

func shapeRun(r buildkite.TestRun) testRunOut {
	return testRunOut{ID: r.ID, State: r.State, Result: r.Result, Branch: r.Branch, Commit: r.CommitSHA,
		BuildID: r.BuildID, CreatedAt: timestamp(r.CreatedAt), WebURL: r.WebURL}
}

func shapeFailedExecution(f buildkite.FailedExecution) failedExecutionOut {
	reason, _ := cutText(f.FailureReason, maxFailureText)
	o := failedExecutionOut{
		ExecutionID: f.ExecutionID, TestID: f.TestID, TestName: f.TestName, Location: f.Location,
		FailureReason: reason, Duration: f.Duration, Branch: f.Branch, Commit: f.CommitSHA, WebURL: f.TestExecutionURL,
	}
	for _, fe := range f.FailureExpanded {
		o.Expanded = appendCapped(o.Expanded, fe.Expanded, maxExpandedLines)
		o.Backtrace = appendCapped(o.Backtrace, fe.Backtrace, maxBacktraceLines)
	}
	return o
}

func appendCapped(dst, src []string, limit int) []string {
	for _, s := range src {
		if len(dst) == limit {
			return append(dst[:limit-1], "…[cut]")
		}
		s, _ = cutText(s, maxFailureText)
		dst = append(dst, s)
	}
	return dst
}

// cutText keeps at most limit bytes of s, on a rune boundary.
func cutText(s string, limit int) (string, bool) {
	if len(s) <= limit {
		return s, false
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…", true
}

func testTools(bk testAPI) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "list_tests",
		Title: "List a suite's tests",
		Description: "Lists a Test Engine suite's tests with metrics over a window (period, or min_timestamp/max_timestamp): " +
			"reliability (passed share of passed and failed executions), average and longest duration in seconds, " +
			"executions by result; sorted by sort_by (reliability with order asc: flakiest first). next_page when there are " +
			"more.",
		Area: "tests", Kind: Read, Scopes: []string{"read_suites"},
	}, func(ctx context.Context, in listTestsArgs) (testList, error) {
		opt, err := in.options()
		if err != nil {
			return testList{}, err
		}
		opt.Period, opt.MinTimestamp, opt.MaxTimestamp = in.Period, in.MinTimestamp, in.MaxTimestamp
		ts, p, err := bk.ListTests(ctx, in.OrgSlug, in.TestSuiteSlug, opt)
		if err != nil {
			return testList{}, err
		}
		return shapeTests(ts, p), nil
	})
	add(&d, Spec{
		Name:        "get_test",
		Title:       "Get a test",
		Description: "Returns one Test Engine test by its UUID: scope, name, location (file and line) and web_url.",
		Area:        "tests", Kind: Read, Scopes: []string{"read_suites"},
	}, func(ctx context.Context, in getTestArgs) (testOut, error) {
		t, err := bk.GetTest(ctx, in.OrgSlug, in.TestSuiteSlug, in.TestID)
		if err != nil {
			return testOut{}, err
		}
		return shapeTest(t), nil
	})
	add(&d, Spec{
		Name:  "list_tests_for_build",
		Title: "List a build's tests",
		Description: "Lists the tests that ran in one build, across its Test Engine suites, with metrics over that build; filters " +
			"and sorting as list_tests. Takes the build's UUID (build_id from get_build_test_engine_runs or get_build), not " +
			"its number. next_page when there are more.",
		Area: "tests", Kind: Read, Scopes: []string{"read_suites"},
	}, func(ctx context.Context, in listTestsForBuildArgs) (testList, error) {
		opt, err := in.options()
		if err != nil {
			return testList{}, err
		}
		ts, p, err := bk.ListBuildTests(ctx, in.OrgSlug, in.BuildUUID, opt)
		if err != nil {
			return testList{}, err
		}
		return shapeTests(ts, p), nil
	})
	add(&d, Spec{
		Name:  "list_test_runs",
		Title: "List a suite's runs",
		Description: "Lists a Test Engine suite's runs, newest first: id, state, result, branch, commit, build_id and time; " +
			"next_page when there are more. get_failed_executions shows what failed in one.",
		Area: "tests", Kind: Read, Scopes: []string{"read_suites"},
	}, func(ctx context.Context, in listTestRunsArgs) (testRunList, error) {
		lo, err := listOptions(in.Page, in.PerPage, 100)
		if err != nil {
			return testRunList{}, err
		}
		runs, p, err := bk.ListTestRuns(ctx, in.OrgSlug, in.TestSuiteSlug, lo)
		if err != nil {
			return testRunList{}, err
		}
		out := testRunList{Items: make([]testRunOut, 0, len(runs)), NextPage: p.NextPage}
		for _, r := range runs {
			out.Items = append(out.Items, shapeRun(r))
		}
		return out, nil
	})
	add(&d, Spec{
		Name:        "get_test_run",
		Title:       "Get a test run",
		Description: "Returns one run of a Test Engine suite: state, result, branch, commit, the build_id that reported it and its time.",
		Area:        "tests", Kind: Read, Scopes: []string{"read_suites"},
	}, func(ctx context.Context, in getTestRunArgs) (testRunOut, error) {
		r, err := bk.GetTestRun(ctx, in.OrgSlug, in.TestSuiteSlug, in.RunID)
		if err != nil {
			return testRunOut{}, err
		}
		return shapeRun(r), nil
	})
	add(&d, Spec{
		Name:  "get_failed_executions",
		Title: "Failed tests of a run",
		Description: "Lists the failed test executions of a Test Engine run: test name, location, failure_reason and duration; " +
			"include_failure_expanded adds the message and backtrace (up to 40 and 20 lines). next_page when there are " +
			"more.",
		Area: "tests", Kind: Read, Scopes: []string{"read_suites"},
	}, func(ctx context.Context, in failedExecutionsArgs) (failedExecutionList, error) {
		lo, err := listOptions(in.Page, in.PerPage, 0)
		if err != nil {
			return failedExecutionList{}, err
		}
		fes, p, err := bk.FailedExecutions(ctx, in.OrgSlug, in.TestSuiteSlug, in.RunID, buildkite.FailedExecutionOptions{
			IncludeFailureExpanded: in.IncludeFailureExpanded, ListOptions: lo,
		})
		if err != nil {
			return failedExecutionList{}, err
		}
		out := failedExecutionList{Items: make([]failedExecutionOut, 0, len(fes)), NextPage: p.NextPage}
		for _, f := range fes {
			out.Items = append(out.Items, shapeFailedExecution(f))
		}
		return out, nil
	})
	return d.done()
}
