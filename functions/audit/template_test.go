package main

import (
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/audit/auditstream"
	"github.com/kitegate/kitegate/internal/dynamotest"
)

// plain turns a YAML node into maps, lists and strings; a CloudFormation
// short form (!Ref X, !GetAtt X.Y) becomes the string "!Ref X".
func plain(n *yaml.Node) any {
	switch n.Kind {
	case yaml.DocumentNode:
		return plain(n.Content[0])
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = plain(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, plain(c))
		}
		return l
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return n.Tag + " " + n.Value
	}
	return n.Value
}

func at(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func resources(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return at(plain(&doc), "Resources").(map[string]any)
}

// template.yaml deploys the audit function as the stream processor needs:
// both streams mapped with partial batch responses, bounded retries,
// bisection and an on-failure queue; a log group with retention; a
// Makefile target for sam build.
func TestTemplateAuditFunction(t *testing.T) {
	res := resources(t)
	fn := res["AuditFunction"]
	for path, want := range map[string]string{
		"Type": "AWS::Serverless::Function", "Metadata.BuildMethod": "makefile",
		"Properties.Runtime": "provided.al2023", "Properties.Handler": "bootstrap",
		"Properties.LoggingConfig.LogGroup": "!Ref AuditLogGroup", "Properties.LoggingConfig.LogFormat": "JSON",
		"Properties.Environment.Variables.KITEGATE_AUDIT_TABLE":  "!Ref AuditTable",
		"Properties.Environment.Variables.KITEGATE_POLICY_TABLE": "!Ref PolicyTable",
	} {
		if got := at(fn, strings.Split(path, ".")...); got != want {
			t.Errorf("AuditFunction %s = %v, want %s", path, got, want)
		}
	}
	if got := at(fn, "Properties", "Architectures"); !cmp.Equal(got, []any{"arm64"}) {
		t.Errorf("AuditFunction architectures %v", got)
	}
	if at(res["AuditLogGroup"], "Properties", "RetentionInDays") == nil {
		t.Error("AuditLogGroup has no retention")
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil || !strings.Contains(string(mk), "\nbuild-AuditFunction:") {
		t.Errorf("Makefile has no build-AuditFunction target (%v)", err)
	}

	streams := map[string]bool{}
	for id, r := range res {
		if at(r, "Type") != "AWS::Lambda::EventSourceMapping" || at(r, "Properties", "FunctionName") != "!Ref AuditFunction" {
			continue
		}
		p := at(r, "Properties")
		streams[at(p, "EventSourceArn").(string)] = true
		if !slices.Contains(at(p, "FunctionResponseTypes").([]any), any("ReportBatchItemFailures")) {
			t.Errorf("%s does not report batch item failures", id)
		}
		if at(p, "BisectBatchOnFunctionError") != "true" {
			t.Errorf("%s does not bisect", id)
		}
		if n, err := strconv.Atoi(at(p, "MaximumRetryAttempts").(string)); err != nil || n < 1 || n > 10 {
			t.Errorf("%s MaximumRetryAttempts %v: want a small bound", id, at(p, "MaximumRetryAttempts"))
		}
		if n, err := strconv.Atoi(at(p, "MaximumRecordAgeInSeconds").(string)); err != nil || n < 60 || n > 86400 {
			t.Errorf("%s MaximumRecordAgeInSeconds %v: want at most the stream's 24 hours", id, at(p, "MaximumRecordAgeInSeconds"))
		}
		if n, err := strconv.Atoi(at(p, "BatchSize").(string)); err != nil || n < 1 || n > 1000 {
			t.Errorf("%s BatchSize %v", id, at(p, "BatchSize"))
		}
		dest, _ := at(p, "DestinationConfig", "OnFailure", "Destination").(string)
		q, ok := strings.CutPrefix(dest, "!GetAtt ")
		q, _ = strings.CutSuffix(q, ".Arn")
		if !ok || at(res[q], "Type") != "AWS::SQS::Queue" {
			t.Errorf("%s on-failure destination %q is not a queue of the template", id, dest)
		}
	}
	if diff := cmp.Diff(map[string]bool{"!GetAtt AuditTable.StreamArn": true, "!GetAtt PolicyTable.StreamArn": true}, streams); diff != "" {
		t.Errorf("streams mapped to the audit function (-want +got):\n%s", diff)
	}
}

// The function's role grants exactly the DynamoDB calls the processor
// makes on the audit table (counted against DynamoDB Local, a transaction
// counting as the PutItem and UpdateItem inside it), only on its own
// items, and nothing on the policy table but its stream.
func TestTemplateGrantsWhatTheProcessorCalls(t *testing.T) {
	db, counter := dynamotest.CountingClient(t)
	tabs := dynamotest.NewTables(t, db)
	proc, err := auditstream.NewProcessor(db, auditstream.ProcessorOptions{Tables: auditstream.StreamTables{Audit: tabs.Audit, Policy: tabs.Policy}, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	w, err := audit.NewDynamoDB(db, tabs.Audit, audit.DynamoDBOptions{Fallback: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	auditStream := dynamotest.NewStream(t, db, tabs.Audit)
	policyStream := dynamotest.NewStream(t, db, tabs.Policy)
	e := audit.Event{ID: audit.NewID(), Time: time.Now().UTC(), User: audit.User{Subject: "alice"}, Tool: "list_builds", Decision: audit.Allowed, Outcome: audit.OutcomeOK}
	if err := w.Write(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	_, err = db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(tabs.Policy), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "POLICY"}, "sk": &types.AttributeValueMemberS{Value: "SETTINGS"},
		"server_disabled": &types.AttributeValueMemberBOOL{Value: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	for _, s := range []*dynamotest.Stream{auditStream, policyStream} {
		batch := s.NextEvent(t)
		for range 2 { // the redelivery reads the marker
			if resp, err := proc.Handle(t.Context(), batch); err != nil || len(resp.BatchItemFailures) > 0 {
				t.Fatalf("handle: %v %v", err, resp)
			}
		}
	}
	iam := map[string]bool{}
	for op := range counter.Counts() {
		if op == "TransactWriteItems" { // IAM authorizes each action inside
			iam["dynamodb:PutItem"], iam["dynamodb:UpdateItem"] = true, true
			continue
		}
		iam["dynamodb:"+op] = true
	}

	granted := map[string]bool{}
	var leading any
	for _, st := range at(resources(t)["AuditFunction"], "Properties", "Policies").([]any) {
		for _, s := range at(st, "Statement").([]any) {
			res := at(s, "Resource")
			if res != "!GetAtt AuditTable.Arn" {
				if res == "!GetAtt PolicyTable.Arn" {
					t.Errorf("the audit function is granted %v on the policy table", at(s, "Action"))
				}
				continue
			}
			leading = at(s, "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys")
			actions, ok := at(s, "Action").([]any)
			if !ok {
				actions = []any{at(s, "Action")}
			}
			for _, a := range actions {
				granted[a.(string)] = true
			}
		}
	}
	if diff := cmp.Diff(iam, granted); diff != "" {
		t.Errorf("granted on the audit table vs called (-called +granted):\n%s", diff)
	}
	if !cmp.Equal(leading, []any{auditstream.SeenPrefix + "*", auditstream.UsagePrefix + "*"}) {
		t.Errorf("audit table grant limited to %v, want the processor's own items", leading)
	}
}
