package tools_test

import (
	"testing"

	"github.com/kitegate/kitegate/internal/buildkitetest"
)

func suiteArgs(extra ...any) map[string]any {
	m := map[string]any{"org_slug": buildkitetest.SeedOrg, "test_suite_slug": buildkitetest.SeedSuite}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

type testItem struct {
	ID          string
	Name        string
	Location    string
	Reliability *float64
	ByResult    map[string]int `json:"executions_by_result"`
}

const unknownUUID = "01890a5d-ac96-4b5e-9a3e-6f2f6c1e0d11"

func TestListTestsOverMCP(t *testing.T) {
	e := newMCP(t)
	raw, _ := walk(e, "list_tests", suiteArgs(), 20)
	all := decodeAll[testItem](t, raw)
	if len(all) != buildkitetest.SeedSuiteTests {
		t.Fatalf("walked %d tests, want %d", len(all), buildkitetest.SeedSuiteTests)
	}
	var flaky struct{ Items []testItem }
	e.ok("list_tests", suiteArgs("sort_by", "reliability", "order", "asc", "per_page", 3), &flaky)
	for _, it := range flaky.Items {
		if it.Reliability == nil || *it.Reliability >= 1 || it.ByResult["failed"] == 0 {
			t.Errorf("least reliable = %+v", it)
		}
	}
	wantIn(t, "422", e.fail("list_tests", suiteArgs("period", "7weeks")), "Validation Failed", "period")
	wantIn(t, "bad sort", e.failNoRequest("list_tests", suiteArgs("sort_by", "name")), `"sort_by"`)
	wantIn(t, "404", e.fail("list_tests", suiteArgs("test_suite_slug", "no-such-suite")), "not found")

	var one testItem
	e.ok("get_test", suiteArgs("test_id", flaky.Items[0].ID), &one)
	if one.ID != flaky.Items[0].ID || one.Name == "" || one.Location == "" {
		t.Errorf("get_test = %+v", one)
	}
	wantIn(t, "404", e.fail("get_test", suiteArgs("test_id", unknownUUID)), "not found")
}

func TestBuildTestsAndRunsOverMCP(t *testing.T) {
	e := newMCP(t)
	fb := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild)
	var tests struct{ Items []testItem }
	e.ok("list_tests_for_build", map[string]any{"org_slug": "acme", "build_uuid": fb.ID, "sort_by": "reliability", "order": "asc", "per_page": 100}, &tests)
	failed := 0
	for _, it := range tests.Items {
		failed += it.ByResult["failed"]
	}
	if len(tests.Items) != buildkitetest.SeedSuiteTests || failed != 3 {
		t.Errorf("build tests: %d items, %d failed executions", len(tests.Items), failed)
	}
	wantIn(t, "404", e.fail("list_tests_for_build", map[string]any{"org_slug": "acme", "build_uuid": unknownUUID}), "not found")

	type run struct {
		ID, Result string
		BuildID    string `json:"build_id"`
	}
	raw, _ := walk(e, "list_test_runs", suiteArgs(), 10)
	runs := decodeAll[run](t, raw)
	var fbRun run
	for _, r := range runs {
		if r.BuildID == fb.ID {
			fbRun = r
		}
	}
	if len(runs) < 20 || fbRun.ID == "" || fbRun.Result != "failed" {
		t.Fatalf("walked %d runs; failed build's run %+v", len(runs), fbRun)
	}
	var got run
	e.ok("get_test_run", suiteArgs("run_id", fbRun.ID), &got)
	if got != fbRun {
		t.Errorf("get_test_run = %+v, want %+v", got, fbRun)
	}
	wantIn(t, "404", e.fail("get_test_run", suiteArgs("run_id", unknownUUID)), "not found")

	var fails struct {
		Items []struct {
			TestName      string `json:"test_name"`
			FailureReason string `json:"failure_reason"`
			Backtrace     []string
			Expanded      []string
		}
	}
	e.ok("get_failed_executions", suiteArgs("run_id", fbRun.ID, "include_failure_expanded", true), &fails)
	if len(fails.Items) != 3 || fails.Items[0].FailureReason != "expected CheckoutService::CouponExpired to be raised" || len(fails.Items[0].Backtrace) != 3 || len(fails.Items[0].Expanded) == 0 {
		t.Errorf("failed executions = %+v", fails.Items)
	}
	wantIn(t, "404", e.fail("get_failed_executions", suiteArgs("run_id", unknownUUID)), "not found")
	e.withoutScope("read_suites")
	wantIn(t, "403", e.fail("list_test_runs", suiteArgs()), "lacks the scope", "read_suites")
}
