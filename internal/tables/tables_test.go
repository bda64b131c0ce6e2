package tables

import (
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// cfnTable is the part of an AWS::DynamoDB::Table that must match the Go definition.
type cfnTable struct {
	AttributeDefinitions []struct {
		AttributeName string `yaml:"AttributeName"`
		AttributeType string `yaml:"AttributeType"`
	} `yaml:"AttributeDefinitions"`
	KeySchema              []cfnKey `yaml:"KeySchema"`
	GlobalSecondaryIndexes []struct {
		IndexName string   `yaml:"IndexName"`
		KeySchema []cfnKey `yaml:"KeySchema"`
	} `yaml:"GlobalSecondaryIndexes"`
	StreamSpecification *struct {
		StreamViewType string `yaml:"StreamViewType"`
	} `yaml:"StreamSpecification"`
	TimeToLiveSpecification *struct {
		AttributeName string `yaml:"AttributeName"`
		Enabled       bool   `yaml:"Enabled"`
	} `yaml:"TimeToLiveSpecification"`
}

type cfnKey struct {
	AttributeName string `yaml:"AttributeName"`
	KeyType       string `yaml:"KeyType"`
}

func fromGo(in *dynamodb.CreateTableInput) map[string]any {
	out := map[string]any{}
	var attrs, keys, gsis []string
	for _, a := range in.AttributeDefinitions {
		attrs = append(attrs, aws.ToString(a.AttributeName)+":"+string(a.AttributeType))
	}
	for _, k := range in.KeySchema {
		keys = append(keys, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
	}
	for _, g := range in.GlobalSecondaryIndexes {
		s := aws.ToString(g.IndexName)
		for _, k := range g.KeySchema {
			s += " " + aws.ToString(k.AttributeName) + ":" + string(k.KeyType)
		}
		gsis = append(gsis, s)
	}
	out["attrs"], out["keys"], out["gsis"] = attrs, keys, gsis
	if in.StreamSpecification != nil {
		out["stream"] = string(in.StreamSpecification.StreamViewType)
	}
	if ttl := TTLAttribute(in); ttl != "" {
		out["ttl"] = ttl
	}
	return out
}

func fromTemplate(t cfnTable) map[string]any {
	out := map[string]any{}
	var attrs, keys, gsis []string
	for _, a := range t.AttributeDefinitions {
		attrs = append(attrs, a.AttributeName+":"+a.AttributeType)
	}
	for _, k := range t.KeySchema {
		keys = append(keys, k.AttributeName+":"+k.KeyType)
	}
	for _, g := range t.GlobalSecondaryIndexes {
		s := g.IndexName
		for _, k := range g.KeySchema {
			s += " " + k.AttributeName + ":" + k.KeyType
		}
		gsis = append(gsis, s)
	}
	out["attrs"], out["keys"], out["gsis"] = attrs, keys, gsis
	if t.StreamSpecification != nil {
		out["stream"] = t.StreamSpecification.StreamViewType
	}
	if t.TimeToLiveSpecification != nil && t.TimeToLiveSpecification.Enabled {
		out["ttl"] = t.TimeToLiveSpecification.AttributeName
	}
	return out
}

// template.yaml declares the tables exactly as this package defines them.
func TestTemplateMatches(t *testing.T) {
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]struct {
			Type       string    `yaml:"Type"`
			Properties yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for logicalID, def := range map[string]func(string) *dynamodb.CreateTableInput{
		"PolicyTable": Policy, "AuditTable": Audit, "RateLimitTable": RateLimit, "AuthTable": Auth,
	} {
		t.Run(logicalID, func(t *testing.T) {
			r, ok := doc.Resources[logicalID]
			if !ok || r.Type != "AWS::DynamoDB::Table" {
				t.Fatalf("template.yaml has no table %s", logicalID)
			}
			var ct cfnTable
			if err := r.Properties.Decode(&ct); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fromGo(def("x")), fromTemplate(ct)); diff != "" {
				t.Errorf("template.yaml %s differs from internal/tables (-go +template):\n%s", logicalID, diff)
			}
		})
	}
}
