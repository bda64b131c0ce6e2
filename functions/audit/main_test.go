package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/audit/auditstream"
	"github.com/kitegate/kitegate/internal/dynamotest"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadConfig(t *testing.T) {
	c, err := loadConfig(env(map[string]string{"KITEGATE_AUDIT_TABLE": "a", "KITEGATE_POLICY_TABLE": "p"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.retention != 365*24*time.Hour || c.awsTimeout != 10*time.Second || c.onLambda {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range []map[string]string{
		{},
		{"KITEGATE_AUDIT_TABLE": "a"},
		{"KITEGATE_AUDIT_TABLE": "a", "KITEGATE_POLICY_TABLE": "p", "KITEGATE_AUDIT_RETENTION_DAYS": "forever"},
		{"KITEGATE_AUDIT_TABLE": "a", "KITEGATE_POLICY_TABLE": "p", "KITEGATE_AWS_TIMEOUT": "-1s"},
	} {
		if _, err := loadConfig(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func sample(t *testing.T, name string) events.DynamoDBEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// The sample batches are what the stack's streams deliver: they decode
// to the events they show.
func TestSampleEventsDecode(t *testing.T) {
	tabs := auditstream.StreamTables{Audit: "kitegate-dev-audit", Policy: "kitegate-dev-policy"}
	var got []string
	for _, name := range []string{"audit-insert.json", "policy-modify.json"} {
		for _, rec := range sample(t, name).Records {
			r, err := auditstream.DecodeRecord(rec, tabs)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			switch r.Kind {
			case auditstream.RecordToolCall:
				got = append(got, r.ToolCall.User.Subject+" "+r.ToolCall.Tool+" "+r.ToolCall.Decision)
			case auditstream.RecordPolicyChange:
				got = append(got, r.Policy.Kind+" "+r.Policy.Item+" by "+r.Policy.ChangedBy)
			}
		}
	}
	want := []string{
		"00u1alice list_builds allowed",
		"00u2bob create_build denied",
		"tool_approved TOOL#create_build by carol",
		"version_bumped VERSION by carol",
		"profile_bound PROFILE#builds-operator by " + auditstream.UnknownActor,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sample events (-want +got):\n%s", diff)
	}
}

// TestRunSampleBatches runs the wiring by hand (a batch on standard
// input) against DynamoDB Local: each sample batch is logged, and
// delivering it again logs nothing and reports nothing.
func TestRunSampleBatches(t *testing.T) {
	db := dynamotest.Client(t)
	tabs := dynamotest.NewTables(t, db)
	awsOptions = []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithBaseEndpoint(dynamotest.Endpoint(t)),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
	}
	t.Cleanup(func() { awsOptions = nil })
	lookup := env(map[string]string{"KITEGATE_AUDIT_TABLE": tabs.Audit, "KITEGATE_POLICY_TABLE": tabs.Policy})

	for _, tc := range []struct {
		file, table, kind string
		lines             int
	}{
		{"audit-insert.json", tabs.Audit, "tool_call", 2},
		{"policy-modify.json", tabs.Policy, "policy_change", 3},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ev := sample(t, tc.file)
			for i := range ev.Records {
				r := &ev.Records[i]
				r.EventSourceArn = strings.Replace(r.EventSourceArn, "table/"+auditstream.StreamTable(r.EventSourceArn), "table/"+tc.table, 1)
			}
			batch, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			for delivery, want := range []int{tc.lines, 0} {
				var stdout, stderr bytes.Buffer
				if err := run(t.Context(), lookup, bytes.NewReader(batch), &stdout, &stderr); err != nil {
					t.Fatalf("delivery %d: %v\n%s", delivery+1, err, stderr.String())
				}
				var resp events.DynamoDBEventResponse
				if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("delivery %d: response %s, %v", delivery+1, stdout.String(), err)
				}
				n := 0
				sc := bufio.NewScanner(&stderr)
				for sc.Scan() {
					var m map[string]any
					if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
						t.Fatalf("log line is not JSON: %s", sc.Text())
					}
					if m["audit"] == tc.kind {
						n++
					}
				}
				if n != want {
					t.Errorf("delivery %d: %d %s lines, want %d", delivery+1, n, tc.kind, want)
				}
			}
		})
	}
}
