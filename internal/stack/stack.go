// Package stack reads kitegate's SAM template (template.yaml) for the tests
// that hold it to the code: which functions it deploys and how, the
// environment each one gets, the IAM statements each one is granted, and
// the tables, alarms, parameters and outputs around them.
//
// The template is read twice. goformation parses it into CloudFormation's
// typed resources (so a misspelt or mistyped property fails here, offline),
// but it resolves no !Ref or !GetAtt without handlers, drops a DynamoDB
// stream event's FunctionResponseTypes, does not merge Globals and does not
// know AWS::Serverless::Function's LoggingConfig. Everything that needs
// those is read from the raw YAML, in which the short-form tags (!Ref,
// !GetAtt, !Sub, !If, ...) become their long forms ({"Ref": ...},
// {"Fn::GetAtt": [...]}).
package stack

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
	yaml "go.yaml.in/yaml/v3"
)

// Template is a parsed SAM template.
type Template struct {
	// Typed is goformation's view, with every !Ref and !GetAtt left empty.
	Typed *cloudformation.Template
	// Raw is the whole template as plain values (maps, lists, strings,
	// numbers, bools), intrinsic functions in their long form.
	Raw map[string]any
}

// unknownToGoformation are properties goformation v7 does not model; they
// are removed from the copy it parses and read from Raw instead.
var unknownToGoformation = map[string][]string{
	"AWS::Serverless::Function": {"LoggingConfig"},
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse parses a template's YAML.
func Parse(b []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 {
		return nil, fmt.Errorf("want one YAML document")
	}
	raw, err := plain(doc.Content[0])
	if err != nil {
		return nil, err
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the template is not a mapping")
	}
	typed, err := parseTyped(m)
	if err != nil {
		return nil, fmt.Errorf("goformation: %w", err)
	}
	return &Template{Typed: typed, Raw: m}, nil
}

// FromRaw builds a Template from Raw values (as a test's mutated copy of
// another template's Raw), parsing it again with goformation.
func FromRaw(raw map[string]any) (*Template, error) {
	typed, err := parseTyped(raw)
	if err != nil {
		return nil, fmt.Errorf("goformation: %w", err)
	}
	return &Template{Typed: typed, Raw: raw}, nil
}

func parseTyped(raw map[string]any) (*cloudformation.Template, error) {
	cp := Copy(raw).(map[string]any)
	for _, r := range Map(cp["Resources"]) {
		res := Map(r)
		for _, prop := range unknownToGoformation[String(res["Type"])] {
			delete(Map(res["Properties"]), prop)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(cp); err != nil {
		return nil, err
	}
	unresolved := func(string, any, any) any { return nil }
	return goformation.ParseYAMLWithOptions(buf.Bytes(), &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{"Ref": unresolved, "Fn::GetAtt": unresolved},
	})
}

// plain turns a YAML node into plain values, short-form intrinsic tags into
// their long forms.
func plain(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return plain(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := plain(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return wrap(n, m)
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := plain(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return wrap(n, l)
	case yaml.ScalarNode:
		if isIntrinsicTag(n.Tag) {
			if n.Tag == "!GetAtt" {
				// !GetAtt Resource.Attribute is the list [Resource, Attribute].
				res, attr, _ := strings.Cut(n.Value, ".")
				return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
			}
			return wrap(n, n.Value)
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
}

func isIntrinsicTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

func wrap(n *yaml.Node, v any) (any, error) {
	if !isIntrinsicTag(n.Tag) {
		return v, nil
	}
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	}
	return map[string]any{"Fn::" + name: v}, nil
}

// Copy deep-copies plain values.
func Copy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = Copy(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = Copy(e)
		}
		return l
	}
	return v
}

// Map is v as a mapping, or nil.
func Map(v any) map[string]any { m, _ := v.(map[string]any); return m }

// List is v as a list; a single value is a list of one, nothing is empty.
func List(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	}
	return []any{v}
}

// String is v as a string, or "".
func String(v any) string { s, _ := v.(string); return s }

// Ref is the name a {"Ref": name} refers to.
func Ref(v any) (string, bool) {
	m := Map(v)
	if len(m) != 1 {
		return "", false
	}
	s, ok := m["Ref"].(string)
	return s, ok
}

// GetAtt is the resource and attribute of a {"Fn::GetAtt": [resource, attribute]}.
func GetAtt(v any) (resource, attribute string, ok bool) {
	m := Map(v)
	if len(m) != 1 {
		return "", "", false
	}
	switch a := m["Fn::GetAtt"].(type) {
	case []any:
		if len(a) == 2 {
			return String(a[0]), String(a[1]), String(a[0]) != ""
		}
	case string:
		resource, attribute, ok = strings.Cut(a, ".")
		return resource, attribute, ok
	}
	return "", "", false
}

// Describe renders a value for messages and comparisons: "!Ref X",
// "!GetAtt X.Arn", "!Sub ...", or the literal.
func Describe(v any) string {
	if r, ok := Ref(v); ok {
		return "!Ref " + r
	}
	if r, a, ok := GetAtt(v); ok {
		return "!GetAtt " + r + "." + a
	}
	if m := Map(v); len(m) == 1 {
		for k, e := range m {
			if strings.HasPrefix(k, "Fn::") {
				return "!" + strings.TrimPrefix(k, "Fn::") + " " + Describe(e)
			}
		}
	}
	if l, ok := v.([]any); ok {
		parts := make([]string, len(l))
		for i, e := range l {
			parts[i] = Describe(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// Resource is one resource of the raw template.
type Resource struct {
	ID         string
	Type       string
	Properties map[string]any
	Metadata   map[string]any
	Condition  string
}

// Resources are the template's resources of the given type (all without
// one), sorted by logical ID.
func (t *Template) Resources(typ string) []Resource {
	res := Map(t.Raw["Resources"])
	var out []Resource
	for _, id := range slices.Sorted(maps.Keys(res)) {
		r := Map(res[id])
		if typ != "" && String(r["Type"]) != typ {
			continue
		}
		out = append(out, Resource{
			ID: id, Type: String(r["Type"]), Properties: Map(r["Properties"]),
			Metadata: Map(r["Metadata"]), Condition: String(r["Condition"]),
		})
	}
	return out
}

// Resource is the resource with logical ID id.
func (t *Template) Resource(id string) (Resource, bool) {
	for _, r := range t.Resources("") {
		if r.ID == id {
			return r, true
		}
	}
	return Resource{}, false
}

// Function is the resource id of type AWS::Serverless::Function with the
// template's Globals.Function merged in, as SAM merges them: the function's
// own values win, and maps (Environment.Variables) are merged key by key.
func (t *Template) Function(id string) (Resource, bool) {
	r, ok := t.Resource(id)
	if !ok || r.Type != "AWS::Serverless::Function" {
		return Resource{}, false
	}
	globals := Map(Map(t.Raw["Globals"])["Function"])
	r.Properties = merge(Copy(globals), Copy(r.Properties)).(map[string]any)
	return r, true
}

func merge(base, over any) any {
	bm, bok := base.(map[string]any)
	om, ook := over.(map[string]any)
	if !bok || !ook || isIntrinsic(om) || isIntrinsic(bm) {
		if over == nil {
			return base
		}
		return over
	}
	for k, v := range om {
		bm[k] = merge(bm[k], v)
	}
	return bm
}

func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// Env is a function's environment variables (Globals merged), rendered
// with Describe.
func (t *Template) Env(function string) map[string]string {
	f, ok := t.Function(function)
	if !ok {
		return nil
	}
	vars := Map(Map(f.Properties["Environment"])["Variables"])
	out := make(map[string]string, len(vars))
	for k, v := range vars {
		out[k] = Describe(v)
	}
	return out
}

// FunctionIDs are the logical IDs of the template's functions, sorted.
func (t *Template) FunctionIDs() []string {
	var ids []string
	for _, r := range t.Resources("AWS::Serverless::Function") {
		ids = append(ids, r.ID)
	}
	return ids
}
