package metrics_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/metrics"
	"github.com/kitegate/kitegate/internal/metrics/metricstest"
)

func TestEmit(t *testing.T) {
	var buf bytes.Buffer
	w := metrics.New(&buf, "kitegate-dev-McpFunction-abc")
	err := w.Emit([]metrics.Metric{
		{Name: "Calls", Unit: metrics.Count, Value: 1},
		{Name: "Denied", Unit: metrics.Count, Value: 1},
		{Name: "Latency", Unit: metrics.Milliseconds, Value: 2.5},
	}, &metrics.Split{Dimension: "Reason", Value: "not_in_toolset", Metrics: []string{"Denied"}},
		"audit_event_id", "ev-1", "user", "alice",
		"Calls", "a plain field never overwrites a metric", "FunctionName", "nor a dimension")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := metricstest.Parse(buf.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1: %s", len(lines), buf.String())
	}
	l := lines[0]
	if diff := cmp.Diff(map[string]float64{"Calls": 1, "Denied": 1, "Latency": 2.5}, l.Values); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	want := map[string][][]string{
		"Calls":   {{"FunctionName"}},
		"Latency": {{"FunctionName"}},
		"Denied":  {{"FunctionName"}, {"FunctionName", "Reason"}},
	}
	if diff := cmp.Diff(want, l.Dimensions); diff != "" {
		t.Errorf("dimensions (-want +got):\n%s", diff)
	}
	for k, v := range map[string]any{"FunctionName": "kitegate-dev-McpFunction-abc", "Reason": "not_in_toolset", "audit_event_id": "ev-1", "user": "alice"} {
		if l.Fields[k] != v {
			t.Errorf("field %s = %v, want %v", k, l.Fields[k], v)
		}
	}
	ts := int64(l.Fields["_aws"].(map[string]any)["Timestamp"].(float64))
	if d := time.Since(time.UnixMilli(ts)); d < 0 || d > time.Hour {
		t.Errorf("timestamp %d is not now", ts)
	}
}

func TestNoSplitWithoutItsMetrics(t *testing.T) {
	var buf bytes.Buffer
	err := metrics.New(&buf, "fn").Emit([]metrics.Metric{{Name: "Calls", Unit: metrics.Count, Value: 1}},
		&metrics.Split{Dimension: "Reason", Value: "x", Metrics: []string{"Denied"}})
	if err != nil {
		t.Fatal(err)
	}
	lines, err := metricstest.Parse(buf.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lines[0].Fields["Reason"]; ok || len(lines[0].Dimensions["Calls"]) != 1 {
		t.Errorf("a split of metrics the line lacks was published: %s", buf.String())
	}
}

func TestNilWriterWritesNothing(t *testing.T) {
	var w *metrics.Writer
	if err := w.Emit([]metrics.Metric{{Name: "Calls", Unit: metrics.Count, Value: 1}}, nil); err != nil {
		t.Fatal(err)
	}
	if metrics.Lambda(false, &bytes.Buffer{}) != nil {
		t.Error("off Lambda the writer is not nil")
	}
}

// TestParseRefusesBrokenLines: the checker bites (a line CloudWatch would
// not extract is an error, not a metric).
func TestParseRefusesBrokenLines(t *testing.T) {
	for name, line := range map[string]string{
		"seconds":           `{"_aws":{"Timestamp":1700000000,"CloudWatchMetrics":[{"Namespace":"k","Dimensions":[],"Metrics":[{"Name":"A"}]}]},"A":1}`,
		"missing value":     `{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"k","Dimensions":[],"Metrics":[{"Name":"A"}]}]}}`,
		"missing dimension": `{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"k","Dimensions":[["F"]],"Metrics":[{"Name":"A"}]}]},"A":1}`,
		"no namespace":      `{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Dimensions":[],"Metrics":[{"Name":"A"}]}]},"A":1}`,
	} {
		if _, err := metricstest.Parse(line); err == nil {
			t.Errorf("%s: accepted %s", name, line)
		}
	}
}
