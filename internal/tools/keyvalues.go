package tools

import (
	"bytes"
	"encoding/json"
	"reflect"

	"github.com/google/jsonschema-go/jsonschema"
)

// keyValues is a name-to-value argument (environment variables, meta-data)
// given either as Buildkite's own MCP server takes it, a list of
// {"key", "value"} pairs, or as an object of names to values.
type keyValues map[string]string

// UnmarshalJSON accepts a list of {key, value} pairs, an object, or null.
func (kv *keyValues) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*kv = nil
		return nil
	case len(b) > 0 && b[0] == '[':
		var pairs []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		}
		if err := json.Unmarshal(b, &pairs); err != nil {
			return err
		}
		m := make(keyValues, len(pairs))
		for _, p := range pairs {
			m[p.Key] = p.Value // a repeated key: the last one wins
		}
		*kv = m
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*kv = m
	return nil
}

// argumentSchemaOptions describe argument types whose schema inference
// cannot see from their Go type.
var argumentSchemaOptions = &jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
	reflect.TypeFor[keyValues](): {
		Types: []string{"null", "array", "object"},
		Items: &jsonschema.Schema{
			Type:                 "object",
			Properties:           map[string]*jsonschema.Schema{"key": {Type: "string", MinLength: jsonschema.Ptr(1)}, "value": {Type: "string"}},
			Required:             []string{"key", "value"},
			AdditionalProperties: &jsonschema.Schema{Not: &jsonschema.Schema{}},
		},
		AdditionalProperties: &jsonschema.Schema{Type: "string"},
	},
}}
