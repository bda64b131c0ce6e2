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
