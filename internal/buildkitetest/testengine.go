package buildkitetest

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Suite is a Test Engine test suite: its tests and the runs that reported
// executions of them.
type Suite struct {
	ID            string
	Slug          string
	Name          string
	DefaultBranch string
	Tests         []*Test
	Runs          []*TestRun // oldest first
}

// Test is one test of a suite.
type Test struct {
	ID       string
	Scope    string
	Name     string
	Location string
	FileName string
	State    string // enabled, muted, skipped
	Labels   []string
}

// TestRun is one run of a suite, reported by a build.
type TestRun struct {
	ID         string
	BuildID    string
	Branch     string
	CommitSHA  string
	State      string // running, finished
	Result     string // passed, failed
	CreatedAt  time.Time
	Executions []*Execution
}

// Execution is one execution of a test in a run.
type Execution struct {
	ID            string
	TestID        string
	Result        string // passed, failed, skipped
	Duration      float64
	FailureReason string
	Backtrace     []string
	Expanded      []string
}

// Facts about the seeded Test Engine data.
const (
	// SeedSuite is SeedOrg's RSpec suite for web-app: a run for every
	// web-app build whose RSpec jobs finished.
	SeedSuite = "web-app-rspec"
	// SeedSuiteTests is how many tests SeedSuite has.
	SeedSuiteTests = 48
)

const analyticsPath = "v2/analytics/organizations/:org"

func init() {
	routes = append(routes,
		rte("GET", analyticsPath+"/suites/:suite/tests", "read_suites", (*Server).listSuiteTests),
		rte("GET", analyticsPath+"/suites/:suite/tests/:test", "read_suites", (*Server).getSuiteTest),
		rte("GET", analyticsPath+"/suites/:suite/runs", "read_suites", (*Server).listTestRuns),
		rte("GET", analyticsPath+"/suites/:suite/runs/:run", "read_suites", (*Server).getTestRun),
		rte("GET", analyticsPath+"/suites/:suite/runs/:run/failed_executions", "read_suites", (*Server).listFailedExecutions),
		rte("GET", analyticsPath+"/builds/:buildid/tests", "read_suites", (*Server).listBuildTests),
	)
}

// Wire format, after the Test Engine REST API reference.

type testJSON struct {
	ID       string `json:"id"`
	URL      string `json:"url"`
	WebURL   string `json:"web_url"`
	Scope    string `json:"scope"`
	Name     string `json:"name"`
	Location string `json:"location"`
	FileName string `json:"file_name"`
}

type testMetricsJSON struct {
	testJSON
	Labels                  []string       `json:"labels"`
	Reliability             *float64       `json:"reliability"`
	DurationAvg             *float64       `json:"duration_avg"`
	DurationSum             *float64       `json:"duration_sum"`
	DurationMin             *float64       `json:"duration_min"`
	DurationMax             *float64       `json:"duration_max"`
	ExecutionsCount         int            `json:"executions_count"`
	ExecutionsCountByResult map[string]int `json:"executions_count_by_result"`
}

type testRunJSON struct {
	ID        string  `json:"id"`
	URL       string  `json:"url"`
	WebURL    string  `json:"web_url"`
	Branch    string  `json:"branch"`
	CommitSHA string  `json:"commit_sha"`
	CreatedAt *string `json:"created_at"`
	State     string  `json:"state"`
	Result    string  `json:"result"`
	BuildID   string  `json:"build_id"`
}

type failureExpandedJSON struct {
	Backtrace []string `json:"backtrace"`
	Expanded  []string `json:"expanded"`
}

type failedExecutionJSON struct {
	ExecutionID      string                `json:"execution_id"`
	RunID            string                `json:"run_id"`
	TestID           string                `json:"test_id"`
	RunName          string                `json:"run_name"`
	CommitSHA        string                `json:"commit_sha"`
	CreatedAt        *string               `json:"created_at"`
	Branch           string                `json:"branch"`
	FailureReason    string                `json:"failure_reason"`
	FailureExpanded  []failureExpandedJSON `json:"failure_expanded,omitempty"`
	Duration         float64               `json:"duration"`
	Location         string                `json:"location"`
	TestName         string                `json:"test_name"`
	RunURL           string                `json:"run_url"`
	TestURL          string                `json:"test_url"`
	TestExecutionURL string                `json:"test_execution_url"`
}

// testEngineJSON is what a build carries with include_test_engine=true.
type testEngineJSON struct {
	Runs []testEngineRunJSON `json:"runs"`
}

type testEngineRunJSON struct {
	ID    string `json:"id"`
	Suite struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
	} `json:"suite"`
}

func (r renderer) test(o *Organization, s *Suite, t *Test) testJSON {
	return testJSON{
		ID: t.ID, Scope: t.Scope, Name: t.Name, Location: t.Location, FileName: t.FileName,
		URL:    r.api("analytics/organizations/%s/suites/%s/tests/%s", o.Slug, s.Slug, t.ID),
		WebURL: fmt.Sprintf("%sorganizations/%s/analytics/suites/%s/tests/%s", webBase, o.Slug, s.Slug, t.ID),
	}
}

func (r renderer) testRun(o *Organization, s *Suite, run *TestRun) testRunJSON {
	return testRunJSON{
		ID: run.ID, Branch: run.Branch, CommitSHA: run.CommitSHA, CreatedAt: ts(run.CreatedAt),
		State: run.State, Result: run.Result, BuildID: run.BuildID,
		URL:    r.api("analytics/organizations/%s/suites/%s/runs/%s", o.Slug, s.Slug, run.ID),
		WebURL: fmt.Sprintf("%sorganizations/%s/analytics/suites/%s/runs/%s", webBase, o.Slug, s.Slug, run.ID),
	}
}

// testEngine is a build's include_test_engine block, nil when no suite has
// a run of it.
func (o *Organization) testEngine(b *Build) *testEngineJSON {
	var out *testEngineJSON
	for _, s := range o.Suites {
		for _, run := range s.Runs {
			if run.BuildID != b.ID {
				continue
			}
			if out == nil {
				out = &testEngineJSON{Runs: []testEngineRunJSON{}}
			}
			var rj testEngineRunJSON
			rj.ID, rj.Suite.ID, rj.Suite.Slug = run.ID, s.ID, s.Slug
			out.Runs = append(out.Runs, rj)
		}
	}
	return out
}

func (s *Server) suite(c *call) (*Organization, *Suite) {
	o := s.org(c)
	if o == nil {
		return nil, nil
	}
	for _, su := range o.Suites {
		if su.Slug == c.params["suite"] {
			return o, su
		}
	}
	c.notFound(msgNotFound)
	return nil, nil
}

func validationFailed(c *call, field, code string) {
	writeJSON(c.w, http.StatusUnprocessableEntity, map[string]any{
		"message": "Validation Failed", "errors": []fieldError{{Field: field, Code: code}},
	})
}

var periodPattern = regexp.MustCompile(`^([1-9][0-9]{0,3})(hour|hours|day|days)$`)

// testFilter is what list_tests and a build's tests filter and sort by.
type testFilter struct {
	from, to *time.Time
	branch   string
	state    string
	sortBy   string
	desc     bool
}

// parseTestFilter reads the query; it answers 422 and returns false for a
// value Test Engine would refuse. Without period or timestamps the window
// is everything the simulator holds.
func (s *Server) parseTestFilter(c *call, windowed bool) (testFilter, bool) {
	q := c.r.URL.Query()
	f := testFilter{branch: q.Get("branch"), state: q.Get("state"), sortBy: q.Get("sort_by"), desc: true}
	if windowed {
		period, minTS, maxTS := q.Get("period"), q.Get("min_timestamp"), q.Get("max_timestamp")
		if period != "" && (minTS != "" || maxTS != "") {
			validationFailed(c, "period", "conflicts_with_timestamps")
			return f, false
		}
		if period != "" {
			m := periodPattern.FindStringSubmatch(period)
			if m == nil {
				validationFailed(c, "period", "invalid")
				return f, false
			}
			n, _ := strconv.Atoi(m[1])
			unit := time.Hour
			if strings.HasPrefix(m[2], "day") {
				unit = 24 * time.Hour
			}
			to := s.clock()
			from := to.Add(-time.Duration(n) * unit)
			f.from, f.to = &from, &to
		}
		for name, v := range map[string]string{"min_timestamp": minTS, "max_timestamp": maxTS} {
			if v == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				validationFailed(c, name, "invalid")
				return f, false
			}
			if name == "min_timestamp" {
				f.from = &t
			} else {
				f.to = &t
			}
		}
	}
	if f.state != "" && !slices.Contains([]string{"enabled", "muted", "skipped"}, f.state) {
		validationFailed(c, "state", "inclusion")
		return f, false
	}
	if f.sortBy == "" {
		f.sortBy = "duration_avg"
	}
	if !slices.Contains([]string{"duration_avg", "duration_sum", "duration_min", "duration_max", "reliability"}, f.sortBy) {
		validationFailed(c, "sort_by", "inclusion")
		return f, false
	}
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		f.desc = false
	default:
		validationFailed(c, "order", "inclusion")
		return f, false
	}
	for _, tag := range strings.Split(q.Get("tags"), ",") {
		if tag != "" && !strings.Contains(tag, ":") {
			validationFailed(c, "tags", "invalid")
			return f, false
		}
	}
	return f, true
}

func (f testFilter) keepRun(run *TestRun) bool {
	if f.from != nil && run.CreatedAt.Before(*f.from) || f.to != nil && run.CreatedAt.After(*f.to) {
		return false
	}
	switch b := f.branch; {
	case b == "":
	case strings.HasPrefix(b, "!"):
		return run.Branch != b[1:]
	case strings.HasSuffix(b, "*"):
		return strings.HasPrefix(run.Branch, strings.TrimSuffix(b, "*"))
	default:
		return run.Branch == b
	}
	return true
}

// metrics aggregates the executions of runs into one item per test that ran.
func (f testFilter) metrics(r renderer, o *Organization, s *Suite, runs []*TestRun) []testMetricsJSON {
	type agg struct {
		n, passed, failed, skipped int
		sum, lo, hi                float64
	}
	by := map[string]*agg{}
	for _, run := range runs {
		for _, e := range run.Executions {
			a := by[e.TestID]
			if a == nil {
				a = &agg{lo: e.Duration, hi: e.Duration}
				by[e.TestID] = a
			}
			a.n++
			a.sum += e.Duration
			a.lo, a.hi = min(a.lo, e.Duration), max(a.hi, e.Duration)
			switch e.Result {
			case "passed":
				a.passed++
			case "failed":
				a.failed++
			default:
				a.skipped++
			}
		}
	}
	out := []testMetricsJSON{}
	for _, t := range s.Tests {
		a := by[t.ID]
		if a == nil || (f.state != "" && t.State != f.state) {
			continue
		}
		m := testMetricsJSON{
			testJSON: r.test(o, s, t), Labels: t.Labels, ExecutionsCount: a.n,
			ExecutionsCountByResult: map[string]int{"passed": a.passed, "failed": a.failed, "skipped": a.skipped},
			DurationSum:             ptr(round3(a.sum)), DurationAvg: ptr(round3(a.sum / float64(a.n))),
			DurationMin: ptr(round3(a.lo)), DurationMax: ptr(round3(a.hi)),
		}
		if m.Labels == nil {
			m.Labels = []string{}
		}
		if a.passed+a.failed > 0 {
			m.Reliability = ptr(round3(float64(a.passed) / float64(a.passed+a.failed)))
		}
		out = append(out, m)
	}
	key := func(m testMetricsJSON) float64 {
		var v *float64
		switch f.sortBy {
		case "duration_sum":
			v = m.DurationSum
		case "duration_min":
			v = m.DurationMin
		case "duration_max":
			v = m.DurationMax
		case "reliability":
			v = m.Reliability
		default:
			v = m.DurationAvg
		}
		if v == nil {
			return -1
		}
		return *v
	}
	slices.SortStableFunc(out, func(a, b testMetricsJSON) int {
		x, y := key(a), key(b)
		// Tests without the metric (never passed or failed) come last either way.
		if (x < 0) != (y < 0) {
			if x < 0 {
				return 1
			}
			return -1
		}
		if f.desc {
			x, y = y, x
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func (s *Server) listSuiteTests(c *call) {
	o, su := s.suite(c)
	if su == nil {
		return
	}
	f, ok := s.parseTestFilter(c, true)
	if !ok {
		return
	}
	var runs []*TestRun
	for _, run := range su.Runs {
		if f.keepRun(run) {
			runs = append(runs, run)
		}
	}
	items := f.metrics(c.rend, o, su, runs)
	lo, hi, ok := c.page(len(items))
	if !ok {
		return
	}
	writeJSON(c.w, http.StatusOK, items[lo:hi])
}

func (s *Server) getSuiteTest(c *call) {
	o, su := s.suite(c)
	if su == nil {
		return
	}
	for _, t := range su.Tests {
		if t.ID == c.params["test"] {
			writeJSON(c.w, http.StatusOK, c.rend.test(o, su, t))
			return
		}
	}
	c.notFound(msgNotFound)
}

// listBuildTests answers GET /v2/analytics/organizations/{o}/builds/{uuid}/tests:
// the tests of every suite's runs of that build.
func (s *Server) listBuildTests(c *call) {
	o := s.org(c)
	if o == nil {
		return
	}
	found := false
	for _, p := range o.Pipelines {
		for _, b := range p.Builds {
			found = found || b.ID == c.params["buildid"]
		}
	}
	if !found {
		c.notFound(msgNotFound)
		return
	}
	f, ok := s.parseTestFilter(c, false)
	if !ok {
		return
	}
	items := []testMetricsJSON{}
	for _, su := range o.Suites {
		var runs []*TestRun
		for _, run := range su.Runs {
			if run.BuildID == c.params["buildid"] && f.keepRun(run) {
				runs = append(runs, run)
			}
		}
		if len(runs) > 0 {
			items = append(items, f.metrics(c.rend, o, su, runs)...)
		}
	}
	lo, hi, ok := c.page(len(items))
	if !ok {
		return
	}
	writeJSON(c.w, http.StatusOK, items[lo:hi])
}

func (s *Server) listTestRuns(c *call) {
	o, su := s.suite(c)
	if su == nil {
		return
	}
	runs := slices.Clone(su.Runs)
	slices.Reverse(runs)
	lo, hi, ok := c.page(len(runs))
	if !ok {
		return
	}
	out := []testRunJSON{}
	for _, run := range runs[lo:hi] {
		out = append(out, c.rend.testRun(o, su, run))
	}
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Server) testRunOf(c *call) (*Organization, *Suite, *TestRun) {
	o, su := s.suite(c)
	if su == nil {
		return nil, nil, nil
	}
	for _, run := range su.Runs {
		if run.ID == c.params["run"] {
			return o, su, run
		}
	}
	c.notFound(msgNotFound)
	return nil, nil, nil
}

func (s *Server) getTestRun(c *call) {
	if o, su, run := s.testRunOf(c); run != nil {
		writeJSON(c.w, http.StatusOK, c.rend.testRun(o, su, run))
	}
}

func (s *Server) listFailedExecutions(c *call) {
	o, su, run := s.testRunOf(c)
	if run == nil {
		return
	}
	expanded := c.r.URL.Query().Get("include_failure_expanded") == "true"
	var failed []*Execution
	for _, e := range run.Executions {
		if e.Result == "failed" {
			failed = append(failed, e)
		}
	}
	lo, hi, ok := c.page(len(failed))
	if !ok {
		return
	}
	rj := c.rend.testRun(o, su, run)
	out := []failedExecutionJSON{}
	for _, e := range failed[lo:hi] {
		t := su.test(e.TestID)
		tj := c.rend.test(o, su, t)
		fe := failedExecutionJSON{
			ExecutionID: e.ID, RunID: run.ID, TestID: t.ID, RunName: su.Name + " #" + run.ID[:8],
			CommitSHA: run.CommitSHA, CreatedAt: ts(run.CreatedAt), Branch: run.Branch,
			FailureReason: e.FailureReason, Duration: e.Duration, Location: t.Location, TestName: t.Scope + " " + t.Name,
			RunURL: rj.WebURL, TestURL: tj.WebURL, TestExecutionURL: tj.WebURL + "/executions/" + e.ID,
		}
		if expanded {
			fe.FailureExpanded = []failureExpandedJSON{{Backtrace: e.Backtrace, Expanded: e.Expanded}}
		}
		out = append(out, fe)
	}
	writeJSON(c.w, http.StatusOK, out)
}

func (su *Suite) test(id string) *Test {
	for _, t := range su.Tests {
		if t.ID == id {
			return t
		}
	}
	return &Test{ID: id}
}

// seedTestEngine gives SeedOrg the web-app RSpec suite: SeedSuiteTests
// tests, one run per web-app build whose RSpec jobs finished, and failed
// executions matching the failures the RSpec logs print (FailedBuild,
// FailingBuild and build 29).
func seedTestEngine(d *Data) {
	var o *Organization
	for _, org := range d.Organizations {
		if org.Slug == SeedOrg {
			o = org
		}
	}
	if o == nil {
		return
	}
	su := &Suite{ID: uuidFor("suite", o.Slug, SeedSuite), Slug: SeedSuite, Name: "Web App RSpec", DefaultBranch: "main"}
	o.Suites = append(o.Suites, su)
	failing := []struct{ scope, name, file string }{
		{"CheckoutService#call with an expired coupon", "rejects the order", "spec/services/checkout_service_spec.rb:84"},
		{"Checkout", "applies the regional tax rate to the order total", "spec/system/checkout_spec.rb:142"},
		{"Api::V1::Orders GET /api/v1/orders", "paginates with Link headers", "spec/requests/api/v1/orders_spec.rb:57"},
	}
	reasons := []struct{ reason, want, got string }{
		{"expected CheckoutService::CouponExpired to be raised", "CheckoutService::CouponExpired", "nothing was raised"},
		{`expected: "$107.25"`, `"$107.25"`, `"$100.00"`},
		{"expected the response to have status code 200", "200", "500"},
	}
	for _, f := range failing {
		file, _, _ := strings.Cut(f.file, ":")
		su.Tests = append(su.Tests, &Test{
			ID: uuidFor("test", su.ID, f.scope, f.name), Scope: f.scope, Name: f.name,
			Location: "./" + f.file, FileName: "./" + file, State: "enabled",
		})
	}
	for i := 0; len(su.Tests) < SeedSuiteTests; i++ {
		file := specFiles[i%len(specFiles)]
		base := strings.TrimSuffix(file[strings.LastIndex(file, "/")+1:], "_spec.rb")
		t := &Test{
			ID:       uuidFor("test", su.ID, file, i),
			Scope:    camel(base),
			Name:     fmt.Sprintf("behaves as specified (example %d)", i+1),
			Location: fmt.Sprintf("./%s:%d", file, 10+i*7), FileName: "./" + file, State: "enabled",
		}
		if i == 5 {
			t.Scope, t.Name, t.Labels = "Sessions", "expires an idle session after 30 minutes", []string{"flaky"}
		}
		if i == 11 {
			t.State = "muted"
		}
		su.Tests = append(su.Tests, t)
	}
	var web *Pipeline
	for _, p := range o.Pipelines {
		if p.Slug == SeedPipeline {
			web = p
		}
	}
	for _, b := range slices.Backward(sortedBuilds(web.Builds)) { // runs are stored oldest first
		func() {
			var failedJob *Job
			ran := false
			for _, j := range b.Jobs {
				if j.StepKey != "rspec" || j.Retried {
					continue
				}
				switch j.State {
				case "passed":
					ran = true
				case "failed":
					ran, failedJob = true, j
				}
			}
			if !ran {
				return
			}
			run := &TestRun{
				ID: uuidFor("run", su.ID, b.ID), BuildID: b.ID, Branch: b.Branch, CommitSHA: b.Commit,
				State: "finished", Result: "passed", CreatedAt: b.CreatedAt.Add(30 * time.Second),
			}
			rnd := prng(uint64(b.Number)*7919 + 17)
			for i, t := range su.Tests {
				e := &Execution{ID: uuidFor("execution", run.ID, t.ID), TestID: t.ID, Result: "passed",
					Duration: float64(20+rnd.next(900)) / 1000}
				if i == 8 { // a slow system spec
					e.Duration += 4.2
				}
				if t.State == "muted" || (len(t.Labels) > 0 && b.Number%5 == 0) {
					e.Result = "skipped"
				}
				if failedJob != nil && i < len(failing) {
					r := reasons[i]
					e.Result, e.FailureReason = "failed", r.reason
					e.Expanded = []string{"Failure/Error: " + r.reason, "", "  expected: " + r.want, "       got: " + r.got}
					e.Backtrace = []string{
						fmt.Sprintf("./app/services/checkout_service.rb:%d:in `apply_discounts'", 40+i*7),
						fmt.Sprintf("./app/services/checkout_service.rb:%d:in `call'", 18+i),
						"./" + failing[i].file + ":in `block (3 levels) in <top (required)>'",
					}
					run.Result = "failed"
				}
				run.Executions = append(run.Executions, e)
			}
			su.Runs = append(su.Runs, run)
		}()
	}
}

// camel turns "checkout_service" into "CheckoutService".
func camel(s string) string {
	var b strings.Builder
	for _, w := range strings.Split(s, "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}
