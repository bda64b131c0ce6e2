package main

import (
	"testing"
)

// BenchmarkAWSCallsPerRequest runs the function against DynamoDB Local and
// reports the AWS calls of each warm request, counted by middleware inside
// the SDK clients (every attempt once), per operation. The design's budget:
// tools/list none; tools/call one audit PutItem, plus one rate-limit
// UpdateItem when the rate-limit table is set. ns/op is the warm request's
// time with DynamoDB Local on loopback.
func BenchmarkAWSCallsPerRequest(b *testing.B) {
	for _, bc := range []struct {
		name string
		env  map[string]string
	}{
		{"ratelimit-table", map[string]string{
			"KITEGATE_BUILDKITE_CALLS_PER_MINUTE":     "100000",
			"KITEGATE_BUILDKITE_ORG_CALLS_PER_MINUTE": "100000",
			"KITEGATE_CALLER_CALLS_PER_MINUTE":        "100000",
		}},
		{"no-ratelimit-table", map[string]string{"KITEGATE_RATE_LIMIT_TABLE": ""}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := startWithDynamoDB(b, "", bc.env)
			cs := e.connect(b, "dev-token")
			if _, err := listBuilds(b.Context(), cs); err != nil { // warm
				b.Fatal(err)
			}
			report := func(b *testing.B) {
				counts := e.calls.Counts()
				total := 0
				for _, op := range []string{"Query", "PutItem", "UpdateItem", "GetItem", "GetSecretValue"} {
					if n := counts[op]; n > 0 {
						b.ReportMetric(float64(n)/float64(b.N), op+"/op")
					}
				}
				for _, n := range counts {
					total += n
				}
				b.ReportMetric(float64(total)/float64(b.N), "aws-calls/op")
			}
			b.Run("tools-list", func(b *testing.B) {
				e.calls.Reset()
				for range b.N {
					if _, err := cs.ListTools(b.Context(), nil); err != nil {
						b.Fatal(err)
					}
				}
				report(b)
			})
			b.Run("tools-call", func(b *testing.B) {
				e.calls.Reset()
				for range b.N {
					res, err := listBuilds(b.Context(), cs)
					if err != nil || res.IsError {
						b.Fatal(err, res)
					}
				}
				report(b)
			})
		})
	}
}
