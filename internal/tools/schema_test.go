package tools

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// checkResult validates a successful result's structured content against
// the tool's output schema with a JSON Schema validator (draft 2020-12),
// and checks that the text block carries the same JSON.
func checkResult(tool *Tool, res *mcp.CallToolResult) error {
	if res == nil || res.IsError {
		return nil
	}
	raw := tool.OutputSchema()
	if raw == nil {
		return nil
	}
	if res.StructuredContent == nil {
		return fmt.Errorf("%s: a typed tool returned no structured content", tool.Name())
	}
	schema := new(jsonschema.Schema)
	if err := json.Unmarshal(raw, schema); err != nil {
		return fmt.Errorf("%s: output schema: %w", tool.Name(), err)
	}
	resolved, err := schema.Resolve(nil)
	if err != nil {
		return fmt.Errorf("%s: output schema: %w", tool.Name(), err)
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if err := resolved.Validate(v); err != nil {
		return fmt.Errorf("%s: structured content does not match the output schema: %w", tool.Name(), err)
	}
	return nil
}

// TestSchemasArePortable walks every tool's input and output schema for
// what real clients refuse or warn about (shared/client-interop.md, the MCP
// Inspector's --strict lint): a boolean schema (the TypeScript SDK rejects
// the whole tools/list), a type array, a schema that constrains nothing, a
// $ref, and additionalProperties.
func TestSchemasArePortable(t *testing.T) {
	cat, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range cat.Tools() {
		def := tool.Definition()
		for _, s := range []struct {
			name string
			raw  json.RawMessage
		}{{"inputSchema", def.InputSchema.(json.RawMessage)}, {"outputSchema", tool.OutputSchema()}} {
			if s.raw == nil {
				continue
			}
			var v any
			if err := json.Unmarshal(s.raw, &v); err != nil {
				t.Fatalf("%s %s: %v", tool.Name(), s.name, err)
			}
			for _, problem := range unportable(v, s.name, "") {
				t.Errorf("%s: %s", tool.Name(), problem)
			}
		}
	}
}

func TestUnportableFindsEachProblem(t *testing.T) {
	tests := map[string]string{
		`{"type":"object","properties":{"a":true}}`:                               "boolean schema",
		`{"type":"object","properties":{"a":{"type":["null","string"]}}}`:         "type array",
		`{"type":"object","properties":{"a":{"description":"anything"}}}`:         "constrains nothing",
		`{"type":"object","additionalProperties":false}`:                          "additionalProperties",
		`{"type":"array","items":{"$ref":"#/$defs/x"}}`:                           "$ref",
		`{"type":"object","properties":{"a":{"anyOf":[{"type":"string"},true]}}}`: "boolean schema",
	}
	for schema, want := range tests {
		var v any
		if err := json.Unmarshal([]byte(schema), &v); err != nil {
			t.Fatal(err)
		}
		got := unportable(v, "s", "")
		if len(got) != 1 || !strings.Contains(got[0], want) {
			t.Errorf("%s: got %q, want one problem naming %q", schema, got, want)
		}
	}
	var ok any
	_ = json.Unmarshal([]byte(`{"type":"object","properties":{"n":{"anyOf":[{"type":"integer"},{"type":"string"}]},"m":{"type":"object","additionalProperties":{"type":"string"}}}}`), &ok)
	if got := unportable(ok, "s", ""); len(got) != 0 {
		t.Errorf("portable schema flagged: %q", got)
	}
}

// unportable lists the problems of the schema v at path.
func unportable(v any, schema, path string) []string {
	at := schema + path
	m, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: boolean schema %v", at, v)}
	}
	var problems []string
	if _, ok := m["type"].([]any); ok {
		problems = append(problems, fmt.Sprintf("%s: type array %v", at, m["type"]))
	}
	constrains := false
	for _, k := range []string{"type", "enum", "const", "anyOf", "oneOf", "allOf", "not", "properties", "items", "pattern", "format", "required", "minimum", "maximum", "maxLength", "minLength", "$ref"} {
		if _, ok := m[k]; ok {
			constrains = true
		}
	}
	if !constrains {
		problems = append(problems, fmt.Sprintf("%s: schema constrains nothing (accepts any value)", at))
	}
	if _, ok := m["$ref"]; ok {
		problems = append(problems, fmt.Sprintf("%s: $ref (clients do not resolve references)", at))
	}
	if ap, ok := m["additionalProperties"]; ok {
		if _, isBool := ap.(bool); isBool {
			problems = append(problems, fmt.Sprintf("%s: additionalProperties %v (a boolean schema)", at, ap))
		} else {
			problems = append(problems, unportable(ap, schema, path+".additionalProperties")...)
		}
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for name, p := range props {
			problems = append(problems, unportable(p, schema, path+".properties."+name)...)
		}
	}
	if items, ok := m["items"]; ok {
		problems = append(problems, unportable(items, schema, path+".items")...)
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if subs, ok := m[k].([]any); ok {
			for i, sub := range subs {
				problems = append(problems, unportable(sub, schema, fmt.Sprintf("%s.%s[%d]", path, k, i))...)
			}
		}
	}
	return problems
}

// CheckResult is checkResult for the tests of package tools_test.
var CheckResult = checkResult
