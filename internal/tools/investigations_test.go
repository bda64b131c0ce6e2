package tools

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFitSummaryStaysUnderTheCap(t *testing.T) {
	line := strings.Repeat("x", 1900)
	var out failureSummaryOut
	for range 30 {
		j := failedJobOut{ID: "job", Name: "job", State: "failed"}
		for rn := range 200 {
			j.LogTail = append(j.LogTail, logRow{RN: rn, C: line})
		}
		out.FailedJobs = append(out.FailedJobs, j)
		out.FailedTests = append(out.FailedTests, failedTestOut{RunID: "run", failedExecutionOut: failedExecutionOut{TestName: "t", Backtrace: []string{line}}})
	}
	got := fitSummary(out)
	b, _ := json.Marshal(got)
	if len(b) > maxSummaryBytes || !got.Truncated {
		t.Fatalf("fitted summary is %d bytes, truncated %v", len(b), got.Truncated)
	}
	j := got.FailedJobs[0]
	if len(j.LogTail) == 0 || len(j.LogTail) == 200 || j.LogTail[0].RN != 200-len(j.LogTail) || !j.LogTruncated {
		t.Errorf("first job keeps %d rows from %d, truncated %v", len(j.LogTail), j.LogTail[0].RN, j.LogTruncated)
	}
}

func TestFitSummaryTrimsJobsOfAHugeBuild(t *testing.T) {
	var out failureSummaryOut
	for range 5000 {
		out.FailedJobs = append(out.FailedJobs, failedJobOut{ID: "0190e1a4-7c4f-4d5e-9a3e-6f2f6c1e0d11", Name: strings.Repeat("n", 80), State: "failed",
			Command: strings.Repeat("c", 200), LogTail: []logRow{{RN: 1, C: "x"}}})
	}
	got := fitSummary(out)
	b, _ := json.Marshal(got)
	if len(b) > maxSummaryBytes || !got.Truncated || got.JobsOmitted == 0 || len(got.FailedJobs)+got.JobsOmitted != 5000 {
		t.Fatalf("fitted summary is %d bytes, %d jobs kept, %d omitted", len(b), len(got.FailedJobs), got.JobsOmitted)
	}
}
