package tools

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"

	"github.com/kitegate/kitegate/internal/buildkite"
)

type failureSummaryArgs struct {
	buildArgs
	LogTail            int   `json:"log_tail,omitempty" jsonschema:"log lines from the end of each failed job, 0 to 200 (default 30)"`
	MaxJobs            int   `json:"max_jobs,omitempty" jsonschema:"jobs to report, 1 to 30 (default 10)"`
	MaxAnnotations     int   `json:"max_annotations,omitempty" jsonschema:"annotations to report, 0 to 30 (default 10)"`
	MaxTestRuns        int   `json:"max_test_runs,omitempty" jsonschema:"Test Engine runs to read, 0 to 10 (default 3)"`
	MaxFailedTests     int   `json:"max_failed_tests,omitempty" jsonschema:"failed tests to report, 0 to 100 (default 20)"`
	IncludeLogs        *bool `json:"include_logs,omitempty" jsonschema:"read each failed job's log tail (default true)"`
	IncludeAnnotations *bool `json:"include_annotations,omitempty" jsonschema:"read the build's error and warning annotations (default true)"`
	IncludeTests       *bool `json:"include_tests,omitempty" jsonschema:"read failed test executions from Test Engine (default true)"`
}

type failedJobOut struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	State      string `json:"state"`
	StepKey    string `json:"step_key,omitempty"`
	ExitStatus *int   `json:"exit_status,omitempty"`
	SoftFailed bool   `json:"soft_failed,omitempty"`
	WebURL     string `json:"web_url,omitempty"`
	// LogTail is the end of the job's log (rn -1 where the row's number
	// was not counted).
	LogTail      []logRow `json:"log_tail,omitempty"`
	LogTruncated bool     `json:"log_truncated,omitempty"`
	LogError     string   `json:"log_error,omitempty"`
}

type failedTestOut struct {
	RunID string `json:"run_id"`
	Suite string `json:"suite"`
	failedExecutionOut
}

type failureSummaryOut struct {
	Build              buildSummary        `json:"build"`
	BuildID            string              `json:"build_id"`
	JobStateCounts     map[string]int      `json:"job_state_counts"`
	FailedJobs         []failedJobOut      `json:"failed_jobs"`
	JobsOmitted        int                 `json:"jobs_omitted,omitempty"`
	Annotations        []annotationSummary `json:"annotations"`
	AnnotationsOmitted int                 `json:"annotations_omitted,omitempty"`
	FailedTests        []failedTestOut     `json:"failed_tests"`
	FailedTestsOmitted int                 `json:"failed_tests_omitted,omitempty"`
	// Errors names the parts that could not be read (the rest stands).
	Errors []string `json:"errors,omitempty"`
	// Truncated says log lines, tests or annotations were cut to keep the
	// answer under 256 KiB.
	Truncated bool `json:"truncated"`
}

const (
	maxSummaryBytes = 256 << 10
	// summaryConcurrency bounds the Buildkite calls one summary makes at once.
	summaryConcurrency = 4
)

// problemJobStates are the job states a failure summary reports.
var problemJobStates = []string{"failed", "timed_out", "broken", "canceled", "expired", "waiting_failed"}

func investigationTools(bk Buildkite) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "get_build_failure_summary",
		Title: "Why did this build fail?",
		Description: "Explains a failed, failing or canceled build in one call: the build, its job counts by state, each failed, " +
			"timed-out, broken or canceled job with its log tail, the error and warning annotations, and the failed tests " +
			"Test Engine recorded. Unreadable parts are listed in errors; the answer stays under 256 KiB (truncated says " +
			"something was cut). Start here when asked why a build is red.",
		Area: "investigations", Kind: Read, Scopes: []string{"read_builds", "read_build_logs", "read_suites"},
	}, func(ctx context.Context, in failureSummaryArgs) (failureSummaryOut, error) {
		return failureSummary(ctx, bk, in)
	})
	return d.done()
}

func intArg(name string, v, def, lo, hi int) (int, error) {
	if v == 0 {
		return def, nil
	}
	if v < lo || v > hi {
		return 0, &ArgumentError{Argument: name, Reason: "must be between " + strconv.Itoa(lo) + " and " + strconv.Itoa(hi)}
	}
	return v, nil
}

func boolArg(v *bool) bool { return v == nil || *v }

func failureSummary(ctx context.Context, bk Buildkite, in failureSummaryArgs) (failureSummaryOut, error) {
	logTail, err := intArg("log_tail", in.LogTail, 30, 0, 200)
	if err != nil {
		return failureSummaryOut{}, err
	}
	maxJobs, err := intArg("max_jobs", in.MaxJobs, 10, 1, 30)
	if err != nil {
		return failureSummaryOut{}, err
	}
	maxAnn, err := intArg("max_annotations", in.MaxAnnotations, 10, 0, 30)
	if err != nil {
		return failureSummaryOut{}, err
	}
	maxRuns, err := intArg("max_test_runs", in.MaxTestRuns, 3, 0, 10)
	if err != nil {
		return failureSummaryOut{}, err
	}
	maxTests, err := intArg("max_failed_tests", in.MaxFailedTests, 20, 0, 100)
	if err != nil {
		return failureSummaryOut{}, err
	}
	b, err := bk.GetBuild(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, buildkite.BuildOptions{IncludeJobs: true, IncludeTestEngine: true})
	if err != nil {
		return failureSummaryOut{}, err
	}
	out := failureSummaryOut{
		Build: shapeBuild(b, false), BuildID: b.ID, JobStateCounts: map[string]int{},
		FailedJobs: []failedJobOut{}, Annotations: []annotationSummary{}, FailedTests: []failedTestOut{},
	}
	var problems []buildkite.Job
	for _, j := range b.Jobs {
		if j.State != "" {
			out.JobStateCounts[j.State]++
		}
		if j.Type == "script" && slices.Contains(problemJobStates, j.State) {
			problems = append(problems, j)
		}
	}
	// Failures first: a canceled job is usually a consequence.
	slices.SortStableFunc(problems, func(a, b buildkite.Job) int {
		return slices.Index(problemJobStates, a.State) - slices.Index(problemJobStates, b.State)
	})
	if len(problems) > maxJobs {
		out.JobsOmitted = len(problems) - maxJobs
		problems = problems[:maxJobs]
	}
	for _, j := range problems {
		name := j.Name
		if name == "" {
			name = j.Label
		}
		out.FailedJobs = append(out.FailedJobs, failedJobOut{
			ID: j.ID, Name: name, State: j.State, StepKey: j.StepKey, ExitStatus: j.ExitStatus, SoftFailed: j.SoftFailed, WebURL: j.WebURL,
		})
	}

	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		sem   = make(chan struct{}, summaryConcurrency)
		fails = func(what string, err error) {
			mu.Lock()
			defer mu.Unlock()
			out.Errors = append(out.Errors, what+": "+callerMessage(err))
		}
	)
	run := func(task func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			task()
		}()
	}
	if boolArg(in.IncludeLogs) && logTail > 0 {
		for i, j := range problems {
			if j.StartedAt == nil {
				continue // never ran: no log
			}
			run(func() {
				t, err := tailLog(ctx, bk, jobLogArgs{in.OrgSlug, in.PipelineSlug, in.BuildNumber, j.ID}, logTail, true, defaultLogLimits)
				f := &out.FailedJobs[i]
				if err != nil {
					f.LogError = callerMessage(err)
					return
				}
				f.LogTail, f.LogTruncated = t.Entries, t.Truncated
			})
		}
	}
	if boolArg(in.IncludeAnnotations) && maxAnn > 0 {
		run(func() {
			as, page, err := bk.BuildAnnotations(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, buildkite.ListOptions{PerPage: 100})
			if err != nil {
				fails("annotations", err)
				return
			}
			out.Annotations, out.AnnotationsOmitted = summarizeAnnotations(as, maxAnn, []string{"error", "warning"})
			if page.NextPage != 0 {
				out.AnnotationsOmitted++
			}
		})
	}
	var runs []buildkite.TestEngineRun
	if b.TestEngine != nil && boolArg(in.IncludeTests) && maxTests > 0 {
		runs = b.TestEngine.Runs
		if len(runs) > maxRuns {
			runs = runs[:maxRuns]
		}
	}
	tests := make([][]failedTestOut, len(runs))
	more := make([]bool, len(runs))
	for i, r := range runs {
		run(func() {
			fes, page, err := bk.FailedExecutions(ctx, in.OrgSlug, r.Suite.Slug, r.ID, buildkite.FailedExecutionOptions{
				IncludeFailureExpanded: true, ListOptions: buildkite.ListOptions{PerPage: min(maxTests, 100)},
			})
			if err != nil {
				fails("failed tests of run "+r.ID, err)
				return
			}
			for _, fe := range fes {
				tests[i] = append(tests[i], failedTestOut{RunID: r.ID, Suite: r.Suite.Slug, failedExecutionOut: shapeFailedExecution(fe)})
			}
			more[i] = page.NextPage != 0
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return failureSummaryOut{}, err
	}
	for i := range tests {
		for _, t := range tests[i] {
			if len(out.FailedTests) == maxTests {
				out.FailedTestsOmitted++
				continue
			}
			out.FailedTests = append(out.FailedTests, t)
		}
		if more[i] {
			out.FailedTestsOmitted++ // at least
		}
	}
	slices.Sort(out.Errors)
	return fitSummary(out), nil
}

// fitSummary cuts the longest parts until the answer fits maxSummaryBytes:
// halves of log tails first (keeping their ends), then failure details,
// then whole tests and annotations.
func fitSummary(out failureSummaryOut) failureSummaryOut {
	for range 200 {
		b, err := json.Marshal(out)
		if err != nil || len(b) <= maxSummaryBytes {
			return out
		}
		out.Truncated = true
		longest := -1
		for i, j := range out.FailedJobs {
			if len(j.LogTail) > 1 && (longest < 0 || len(j.LogTail) > len(out.FailedJobs[longest].LogTail)) {
				longest = i
			}
		}
		switch {
		case longest >= 0:
			j := &out.FailedJobs[longest]
			drop := len(j.LogTail) / 2
			j.LogTail = j.LogTail[drop:]
			j.LogTruncated = true
		case slices.ContainsFunc(out.FailedTests, func(t failedTestOut) bool { return t.Expanded != nil || t.Backtrace != nil }):
			for i := range out.FailedTests {
				out.FailedTests[i].Expanded, out.FailedTests[i].Backtrace = nil, nil
			}
		case len(out.FailedTests) > 0:
			out.FailedTests = out.FailedTests[:len(out.FailedTests)-1]
			out.FailedTestsOmitted++
		case len(out.Annotations) > 0:
			out.Annotations = out.Annotations[:len(out.Annotations)-1]
			out.AnnotationsOmitted++
		default:
			for i := range out.FailedJobs {
				out.FailedJobs[i].LogTail = nil
			}
			return out
		}
	}
	return out
}
