package tools_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/tools"
)

func TestGetBuildOverMCP(t *testing.T) {
	e := newMCP(t)
	var b struct {
		Number      int
		State       string
		Message     string
		Annotations []struct{ Context, Style, Text string }
	}
	e.ok("get_build", buildArgs(buildkitetest.FailedBuild), &b)
	if b.Number != buildkitetest.FailedBuild || b.State != "failed" || len(b.Annotations) != 3 {
		t.Fatalf("get_build = %+v", b)
	}
	if a := b.Annotations[0]; a.Style != "error" || a.Context != "rspec" || !strings.HasPrefix(a.Text, "3 RSpec failures") || strings.Contains(a.Text, "<") {
		t.Errorf("first annotation = %+v", a)
	}
	wantIn(t, "404", e.fail("get_build", buildArgs(9999)), "build acme/web-app#9999", "not found")
}

func TestHostileBuildIsNeutralized(t *testing.T) {
	e := newMCP(t)
	res := e.call("get_build", buildArgs(buildkitetest.HostileBuild))
	text := tools.Text(res)
	for _, bad := range []string{"\u202e", "\u202c", "\U000E0069", "</tool_result>", "<system>"} {
		if strings.Contains(text, bad) {
			t.Errorf("get_build of the hostile build still holds %q", bad)
		}
	}
	wantIn(t, "hostile message", text, "Fix tax rounding for exe.sdnufer refunds", "1 RSpec failure in spec/models/order_spec.rb")
}

func TestBuildTestEngineRunsOverMCP(t *testing.T) {
	e := newMCP(t)
	var out struct {
		BuildID string `json:"build_id"`
		Runs    []struct {
			RunID     string `json:"run_id"`
			SuiteSlug string `json:"suite_slug"`
		}
	}
	e.ok("get_build_test_engine_runs", buildArgs(buildkitetest.FailedBuild), &out)
	fb := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild)
	if out.BuildID != fb.ID || len(out.Runs) != 1 || out.Runs[0].SuiteSlug != buildkitetest.SeedSuite || out.Runs[0].RunID == "" {
		t.Errorf("runs = %+v", out)
	}
	e.ok("get_build_test_engine_runs", buildArgs(buildkitetest.ScheduledBuild), &out)
	if len(out.Runs) != 0 {
		t.Errorf("a scheduled build has runs: %+v", out.Runs)
	}
	wantIn(t, "404", e.fail("get_build_test_engine_runs", buildArgs(9999)), "not found")
}

func TestWaitForBuildOverMCP(t *testing.T) {
	e := newMCP(t)
	type waited struct {
		Finished     bool
		State        string
		Number       int
		BuildElapsed int `json:"build_elapsed_seconds"`
		Polls        int
		Build        struct{ Number int }
	}
	var w waited
	e.ok("wait_for_build", buildArgs(buildkitetest.FailedBuild), &w)
	b := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild)
	if !w.Finished || w.State != "failed" || w.Polls != 1 || w.Build.Number != buildkitetest.FailedBuild || w.Number != buildkitetest.FailedBuild ||
		w.BuildElapsed != int(b.FinishedAt.Sub(*b.StartedAt).Seconds()) {
		t.Errorf("finished build: %+v", w)
	}
	// A running build does not finish within a one-second wait: the answer
	// says so, with the current state.
	w = waited{}
	e.ok("wait_for_build", buildArgs(buildkitetest.RunningBuild, "wait_timeout", 1), &w)
	if w.Finished || w.State != "running" || w.Polls < 1 {
		t.Errorf("running build: %+v", w)
	}
	// A blocked build waits on a person: finished, as upstream counts it.
	e.ok("wait_for_build", buildArgs(buildkitetest.BlockedBuild, "wait_timeout", 1), &w)
	if !w.Finished || w.State != "blocked" || w.Polls != 1 {
		t.Errorf("blocked build: %+v", w)
	}
	wantIn(t, "too long", e.failNoRequest("wait_for_build", buildArgs(buildkitetest.RunningBuild, "wait_timeout", 26)), "wait_timeout", "between 1 and 25")
	wantIn(t, "404", e.fail("wait_for_build", buildArgs(9999, "wait_timeout", 1)), "not found")
}

func TestStepUploadsOverMCP(t *testing.T) {
	e := newMCP(t)
	type upload struct {
		UUID             string
		State            string
		SourceJobID      string `json:"source_job_id"`
		CreatedJobsCount *int   `json:"created_jobs_count"`
		RejectionType    string `json:"rejection_type"`
		Message          string
	}
	raw, _ := walk(e, "list_step_uploads", buildArgs(buildkitetest.FailedBuild), 1)
	all := decodeAll[upload](t, raw)
	if len(all) != 3 || all[0].State != "rejected" || all[0].RejectionType != "validation_error" || all[2].State != "applied" || all[2].CreatedJobsCount == nil {
		t.Fatalf("uploads walked newest first = %+v", all)
	}
	var one struct {
		upload
		Definition struct {
			Steps []map[string]any
		}
	}
	e.ok("get_step_upload", buildArgs(buildkitetest.FailedBuild, "upload_uuid", all[2].UUID), &one)
	if one.UUID != all[2].UUID || len(one.Definition.Steps) < 5 {
		t.Errorf("get_step_upload = %+v", one)
	}
	wantIn(t, "404", e.fail("get_step_upload", buildArgs(buildkitetest.FailedBuild, "upload_uuid", "01890a5d-ac96-4b5e-9a3e-6f2f6c1e0d11")), "not found")
	wantIn(t, "bad uuid", e.failNoRequest("get_step_upload", buildArgs(buildkitetest.FailedBuild, "upload_uuid", "../../user")), `invalid argument "upload_uuid"`)
	e.withoutScope("read_builds")
	wantIn(t, "403", e.fail("list_step_uploads", buildArgs(buildkitetest.FailedBuild)), "lacks the scope", "read_builds")
}

func TestBuildWritesOverMCP(t *testing.T) {
	e := newMCP(t)
	data := e.sim.Data()
	fb := data.Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild)
	rspec := fb.JobByName(buildkitetest.LongLogJobName)
	gate := data.Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.BlockedBuild).JobByName(":rocket: Deploy to production?")

	var b struct {
		Number      int
		State       string
		RebuiltFrom int `json:"rebuilt_from"`
	}
	e.ok("cancel_build", buildArgs(buildkitetest.RunningBuild), &b)
	if b.Number != buildkitetest.RunningBuild || b.State != "canceling" {
		t.Errorf("cancel_build = %+v", b)
	}
	wantIn(t, "422", e.fail("cancel_build", buildArgs(buildkitetest.PassedBuild)), "refused", "already finished")

	e.ok("rebuild_build", buildArgs(buildkitetest.FailedBuild), &b)
	if b.Number != buildkitetest.SeedBuildCount+1 || b.State != "scheduled" || b.RebuiltFrom != buildkitetest.FailedBuild {
		t.Errorf("rebuild_build = %+v", b)
	}
	wantIn(t, "404", e.fail("rebuild_build", buildArgs(9999)), "not found")

	var j struct {
		ID    string
		State string
	}
	e.ok("unblock_job", buildArgs(buildkitetest.BlockedBuild, "job_id", gate.ID, "fields", map[string]any{"reason": "ship it"}), &j)
	if j.ID != gate.ID || j.State != "unblocked" {
		t.Errorf("unblock_job = %+v", j)
	}
	wantIn(t, "422", e.fail("unblock_job", buildArgs(buildkitetest.BlockedBuild, "job_id", gate.ID)), "isn't blocked")

	e.ok("retry_job", buildArgs(buildkitetest.FailedBuild, "job_id", rspec.ID), &j)
	if j.ID == "" || j.ID == rspec.ID || j.State != "scheduled" {
		t.Errorf("retry_job = %+v", j)
	}
	wantIn(t, "422", e.fail("retry_job", buildArgs(buildkitetest.FailedBuild, "job_id", rspec.ID)), "retried")
	wantIn(t, "bad job id", e.failNoRequest("retry_job", buildArgs(buildkitetest.FailedBuild, "job_id", "not-a-uuid")), "job_id")
}

func TestJobEnvOverMCP(t *testing.T) {
	e := newMCP(t)
	rspec := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild).JobByName(buildkitetest.LongLogJobName)
	var env struct {
		JobID string `json:"job_id"`
		Env   map[string]string
	}
	e.ok("get_job_env", buildArgs(buildkitetest.FailedBuild, "job_id", rspec.ID), &env)
	if env.JobID != rspec.ID || env.Env["BUILDKITE_BUILD_NUMBER"] != "37" || env.Env["DATABASE_URL"] == "" {
		t.Errorf("get_job_env = %+v", env)
	}
	e.withoutScope("read_job_env")
	wantIn(t, "403", e.fail("get_job_env", buildArgs(buildkitetest.FailedBuild, "job_id", rspec.ID)), "lacks the scope", "read_job_env")
}

func TestRateLimitOverMCP(t *testing.T) {
	// A clock that stands still keeps the window from resetting mid-test.
	now := time.Date(2026, 11, 24, 16, 30, 20, 0, time.UTC)
	e := newMCP(t, buildkitetest.WithUserRateLimit(2), buildkitetest.WithClock(func() time.Time { return now }))
	var w struct{ Finished bool }
	e.ok("wait_for_build", buildArgs(buildkitetest.FailedBuild), &w)
	e.ok("wait_for_build", buildArgs(buildkitetest.FailedBuild), &w)
	wantIn(t, "429", e.fail("wait_for_build", buildArgs(buildkitetest.FailedBuild)), "rate limit reached (user)", "retry in 40s")
	wantIn(t, "429", e.fail("list_step_uploads", buildArgs(buildkitetest.FailedBuild)), "rate limit reached")
}
