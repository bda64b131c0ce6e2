package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// yamlPlain turns a YAML node into maps, lists and strings; a
// CloudFormation short form (!Ref X) becomes the string "!Ref X".
func yamlPlain(n *yaml.Node) any {
	switch n.Kind {
	case yaml.DocumentNode:
		return yamlPlain(n.Content[0])
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = yamlPlain(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, yamlPlain(c))
		}
		return l
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return n.Tag + " " + n.Value
	}
	return n.Value
}

func yamlAt(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// The template deploys the function this package builds: its runtime,
// build, schedule (whose input is the sample event), log group, and a role
// granting exactly the calls the store makes (storeCalls, counted against
// DynamoDB Local in TestRunByHandDynamoDB).
func TestTemplate(t *testing.T) {
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	tpl := yamlPlain(&doc)
	fn := yamlAt(tpl, "Resources", "DiscoveryFunction")
	props := yamlAt(fn, "Properties")
	for path, want := range map[string]string{
		"Metadata/BuildMethod":                                             "makefile",
		"Properties/Runtime":                                               "provided.al2023",
		"Properties/Handler":                                               "bootstrap",
		"Properties/Architectures":                                         "[arm64]",
		"Properties/LoggingConfig/LogGroup":                                "!Ref DiscoveryLogGroup",
		"Properties/Events/Schedule/Type":                                  "ScheduleV2",
		"Properties/Environment/Variables/KITEGATE_POLICY_TABLE":           "!Ref PolicyTable",
		"Properties/Environment/Variables/KITEGATE_BUILDKITE_SECRET_ID":    "!Ref BuildkiteToken",
		"Properties/Environment/Variables/KITEGATE_DEFAULT_CLASSIFICATION": "!Ref DefaultClassification",
	} {
		got := yamlAt(fn, strings.Split(path, "/")...)
		if l, ok := got.([]any); ok {
			got = "[" + strings.Join(func() []string {
				var s []string
				for _, v := range l {
					s = append(s, v.(string))
				}
				return s
			}(), ",") + "]"
		}
		if got != want {
			t.Errorf("DiscoveryFunction %s = %v, want %s", path, got, want)
		}
	}
	if got := yamlAt(tpl, "Resources", "DiscoveryLogGroup", "Properties", "RetentionInDays"); got != "!Ref LogRetentionDays" {
		t.Errorf("log group retention %v", got)
	}
	if got := yamlAt(tpl, "Parameters", "DefaultClassification", "Default"); got != "pending_review" {
		t.Errorf("DefaultClassification default %v", got)
	}

	sample, err := os.ReadFile(filepath.Join("testdata", "schedule-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := yamlAt(props, "Events", "Schedule", "Properties", "Input"); got != strings.TrimSpace(string(sample)) {
		t.Errorf("schedule input %q, want the sample event %q", got, sample)
	}

	var dynamoActions []string
	for _, st := range yamlAt(props, "Policies").([]any)[0].(map[string]any)["Statement"].([]any) {
		var actions []string
		switch a := yamlAt(st, "Action").(type) {
		case string:
			actions = []string{a}
		case []any:
			for _, v := range a {
				actions = append(actions, v.(string))
			}
		}
		for _, a := range actions {
			switch {
			case strings.HasPrefix(a, "dynamodb:"):
				if r := yamlAt(st, "Resource"); r != "!GetAtt PolicyTable.Arn" {
					t.Errorf("%s on %v, want the policy table only", a, r)
				}
				dynamoActions = append(dynamoActions, strings.TrimPrefix(a, "dynamodb:"))
			case a == "secretsmanager:GetSecretValue":
				if r := yamlAt(st, "Resource"); r != "!Ref BuildkiteToken" {
					t.Errorf("%s on %v", a, r)
				}
			default:
				t.Errorf("unexpected action %s", a)
			}
		}
	}
	slices.Sort(dynamoActions)
	if diff := cmp.Diff(iamActions(storeCalls), dynamoActions); diff != "" {
		t.Errorf("DynamoDB actions (-calls +granted):\n%s", diff)
	}

	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^build-DiscoveryFunction:\n\t.*-o \$\(ARTIFACTS_DIR\)/bootstrap \./functions/discovery$`).Match(mk) {
		t.Error("Makefile lacks a build-DiscoveryFunction target building ./functions/discovery")
	}
}

// storeCalls are the DynamoDB operations discovery makes (what
// TestRunByHandDynamoDB counts).
var storeCalls = []string{"PutItem", "Query", "TransactWriteItems"}

// iamActions maps operations to the IAM actions that govern them: a
// transaction's puts are governed by PutItem.
func iamActions(ops []string) []string {
	var out []string
	for _, op := range ops {
		if op == "TransactWriteItems" {
			op = "PutItem"
		}
		if !slices.Contains(out, op) {
			out = append(out, op)
		}
	}
	slices.Sort(out)
	return out
}
