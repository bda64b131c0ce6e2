package tools

import (
	"context"
	"encoding/json"
	"slices"
	"sync"

	"github.com/kitegate/kitegate/internal/buildkite"
)

type failureSummaryArgs struct {
	buildArgs
	LogTail                int   `json:"log_tail,omitempty" jsonschema:"log rows per job (default 50, max 200)"`
	MaxJobs                int   `json:"max_jobs,omitempty" jsonschema:"default 10, max 50"`
	MaxAnnotations         int   `json:"max_annotations,omitempty" jsonschema:"default 20, max 100"`
	MaxTestRuns            int   `json:"max_test_runs,omitempty" jsonschema:"default 5, max 20"`
	MaxFailedTests         int   `json:"max_failed_tests,omitempty" jsonschema:"default 100, max 200"`
	MaxFailedTestsPerRun   int   `json:"max_failed_tests_per_run,omitempty" jsonschema:"default 20, max 100"`
	IncludeLogs            *bool `json:"include_logs,omitempty" jsonschema:"default true"`
	IncludeAnnotations     *bool `json:"include_annotations,omitempty" jsonschema:"default true"`
	IncludeFailedTests     *bool `json:"include_failed_tests,omitempty" jsonschema:"default true"`
	IncludeTests           *bool `json:"include_tests,omitempty" jsonschema:"same as include_failed_tests"`
	IncludeFailureExpanded bool  `json:"include_failure_expanded,omitempty" jsonschema:"add tests' backtraces (default false)"`
}

type failedJobOut struct {
	ID         string `json:"id"`
	Type       string `json:"type,omitempty"`
	Name       string `json:"name"`
	State      string `json:"state"`
	StepKey    string `json:"step_key,omitempty"`
	Command    string `json:"command,omitempty"`
	ExitStatus *int   `json:"exit_status,omitempty"`
	// PromisedExitStatus is the status a still running job declared it
	// will fail with.
	PromisedExitStatus   *int    `json:"promised_exit_status,omitempty"`
	PromisedExitStatusAt *string `json:"promised_exit_status_at,omitempty"`
	SoftFailed           bool    `json:"soft_failed,omitempty"`
	WebURL               string  `json:"web_url,omitempty"`
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

// problemJobRank orders the job states a failure summary reports, as
// Buildkite's own server does: failures first (with running jobs that
// promised to fail), then cancellations, then jobs that never ran because of
// them. Jobs of every type count.
var problemJobRank = map[string]int{
	"failed": 0, "timed_out": 0, "expired": 0, "running": 0,
	"canceled": 1,
	"broken":   2, "waiting_failed": 2, "blocked_failed": 2, "unblocked_failed": 2,
}

// Upstream's defaults and caps; a value out of range is clamped, not refused.
const (
	defaultSummaryLogTail, maxSummaryLogTail = 50, 200
	defaultSummaryJobs, maxSummaryJobs       = 10, 50
	defaultSummaryAnns, maxSummaryAnns       = 20, 100
	defaultSummaryRuns, maxSummaryRuns       = 5, 20
	defaultSummaryTests, maxSummaryTests     = 100, 200
	defaultRunTests, maxRunTests             = 20, 100
	// maxSummaryCommand cuts a job's command in the summary.
	maxSummaryCommand = 1000
)

func investigationTools(bk investigationAPI) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "get_build_failure_summary",
		Title: "Why did this build fail?",
		Description: "Explains a failed, failing or canceled build in one call: the build, its job counts by state, each failed, " +
			"expired, broken or canceled job and running job promising failure, with its log tail, the error and warning annotations, the failed tests " +
			"Test Engine recorded. Unreadable parts are listed in errors; the answer stays under 256 KiB (truncated says " +
			"something was cut). Start here when asked why a build is red.",
		Area: "investigations", Kind: Read, Scopes: []string{"read_builds", "read_build_logs", "read_suites"},
	}, func(ctx context.Context, in failureSummaryArgs) (failureSummaryOut, error) {
		return failureSummary(ctx, bk, in)
	})
	return d.done()
}

// clampArg is v, or def when v is not positive, at most hi.
func clampArg(v, def, hi int) int {
	if v <= 0 {
		return def
	}
	return min(v, hi)
}

func boolArg(v *bool) bool { return v == nil || *v }

// investigationAPI is what the failure summary calls: the build, its
// promised failures, annotations, failed tests and job logs.
type investigationAPI interface {
	GetBuild(ctx context.Context, org, pipeline, number string, opt buildkite.BuildOptions) (buildkite.Build, error)
	PromisedFailures(ctx context.Context, org, pipeline, number string) ([]buildkite.PromisedFailure, error)
	BuildAnnotations(ctx context.Context, org, pipeline, number string, opt buildkite.ListOptions) ([]buildkite.Annotation, buildkite.Pagination, error)
	FailedExecutions(ctx context.Context, org, suite, runID string, opt buildkite.FailedExecutionOptions) ([]buildkite.FailedExecution, buildkite.Pagination, error)
	logAPI
}

func failureSummary(ctx context.Context, bk investigationAPI, in failureSummaryArgs) (failureSummaryOut, error) {
	logTail := clampArg(in.LogTail, defaultSummaryLogTail, maxSummaryLogTail)
	maxJobs := clampArg(in.MaxJobs, defaultSummaryJobs, maxSummaryJobs)
	maxAnn := clampArg(in.MaxAnnotations, defaultSummaryAnns, maxSummaryAnns)
	maxRuns := clampArg(in.MaxTestRuns, defaultSummaryRuns, maxSummaryRuns)
	maxTests := clampArg(in.MaxFailedTests, defaultSummaryTests, maxSummaryTests)
	perRun := clampArg(in.MaxFailedTestsPerRun, defaultRunTests, maxRunTests)
	includeTests := boolArg(in.IncludeFailedTests) && boolArg(in.IncludeTests)
	b, err := bk.GetBuild(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, buildkite.BuildOptions{IncludeJobs: true, IncludeTestEngine: true})
	if err != nil {
		return failureSummaryOut{}, err
	}
	jobs := b.Jobs
	b.Jobs = nil // counted below, never copied whole: a build may have thousands
	out := failureSummaryOut{
		Build: shapeBuild(b, false), BuildID: b.ID, JobStateCounts: map[string]int{},
		FailedJobs: []failedJobOut{}, Annotations: []annotationSummary{}, FailedTests: []failedTestOut{},
	}
	var promised map[string]buildkite.PromisedFailure
	for _, j := range jobs {
		if j.State != "" {
			out.JobStateCounts[j.State]++
		}
	}
	if out.JobStateCounts["running"] > 0 {
		ps, err := bk.PromisedFailures(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber)
		if err != nil {
			out.Errors = append(out.Errors, "running jobs' promised failures: "+callerMessage(err))
		}
		promised = make(map[string]buildkite.PromisedFailure, len(ps))
		for _, p := range ps {
			promised[p.JobID] = p
		}
	}
	var problems []buildkite.Job
	for _, j := range jobs {
		if _, ok := problemJobRank[j.State]; !ok || j.Retried {
			continue
		}
		if _, ok := promised[j.ID]; j.State == "running" && !ok {
			continue
		}
		problems = append(problems, j)
	}
	slices.SortStableFunc(problems, func(a, b buildkite.Job) int { return problemJobRank[a.State] - problemJobRank[b.State] })
	if len(problems) > maxJobs {
		out.JobsOmitted = len(problems) - maxJobs
		problems = problems[:maxJobs]
	}
	for _, j := range problems {
		name := j.Name
		if name == "" {
			name = j.Label
		}
		f := failedJobOut{
			ID: j.ID, Type: j.Type, Name: name, State: j.State, StepKey: j.StepKey, ExitStatus: j.ExitStatus,
			SoftFailed: j.SoftFailed, WebURL: j.WebURL, Command: j.Command,
		}
		if len(f.Command) > maxSummaryCommand {
			f.Command, _ = annotationText(f.Command, maxSummaryCommand)
		}
		if p, ok := promised[j.ID]; ok {
			f.PromisedExitStatus = p.ExitStatus
			if p.At != nil {
				f.PromisedExitStatusAt = timestamp(p.At)
			}
		}
		out.FailedJobs = append(out.FailedJobs, f)
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
	if b.TestEngine != nil && includeTests {
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
				IncludeFailureExpanded: in.IncludeFailureExpanded, ListOptions: buildkite.ListOptions{PerPage: min(perRun, maxTests)},
			})
			if err != nil {
				fails("failed tests of run "+r.ID, err)
				return
			}
			for _, fe := range fes {
				t := failedTestOut{RunID: r.ID, Suite: r.Suite.Slug, failedExecutionOut: shapeFailedExecution(fe)}
				if !in.IncludeFailureExpanded {
					t.Expanded, t.Backtrace = nil, nil
				}
				tests[i] = append(tests[i], t)
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
// then halves of the tests, the annotations, the logs and finally the jobs
// themselves. Every step removes something, so it ends, and it ends under
// the cap: what is left at worst is the build and the counts, whose size
// does not grow with the build.
func fitSummary(out failureSummaryOut) failureSummaryOut {
	for {
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
			j.LogTail = j.LogTail[len(j.LogTail)/2:]
			j.LogTruncated = true
		case slices.ContainsFunc(out.FailedTests, func(t failedTestOut) bool { return t.Expanded != nil || t.Backtrace != nil }):
			for i := range out.FailedTests {
				out.FailedTests[i].Expanded, out.FailedTests[i].Backtrace = nil, nil
			}
		case len(out.FailedTests) > 0:
			keep := len(out.FailedTests) / 2
			out.FailedTestsOmitted += len(out.FailedTests) - keep
			out.FailedTests = out.FailedTests[:keep]
		case len(out.Annotations) > 0:
			keep := len(out.Annotations) / 2
			out.AnnotationsOmitted += len(out.Annotations) - keep
			out.Annotations = out.Annotations[:keep]
		case slices.ContainsFunc(out.FailedJobs, func(j failedJobOut) bool { return j.LogTail != nil || j.Command != "" }):
			for i := range out.FailedJobs {
				out.FailedJobs[i].LogTail, out.FailedJobs[i].Command = nil, ""
				out.FailedJobs[i].LogTruncated = true
			}
		case len(out.FailedJobs) > 0:
			keep := len(out.FailedJobs) / 2
			out.JobsOmitted += len(out.FailedJobs) - keep
			out.FailedJobs = out.FailedJobs[:keep]
		case len(out.Errors) > 0:
			out.Errors = nil
		default:
			// Only the build is left: its message is the one unbounded text.
			out.Build.Message, _ = annotationText(out.Build.Message, maxSummaryCommand)
			return out
		}
	}
}
