package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoArgs struct {
	OrgSlug     string `json:"org_slug" jsonschema:"the organization slug"`
	BuildNumber string `json:"build_number,omitempty"`
	PerPage     int    `json:"per_page,omitempty"`
}

func echoTool(t *testing.T, calls *int) *Tool {
	t.Helper()
	tool, err := Define(Spec{Name: "echo", Description: "echoes", Kind: Read, Scopes: []string{"read_builds"}},
		func(_ context.Context, in echoArgs) (any, error) {
			*calls++
			return in, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return tool
}

func TestCallValidatesEachArgument(t *testing.T) {
	tests := []struct {
		name, args   string
		wantArgument string
		wantReason   string
	}{
		{"missing required", `{}`, "org_slug", "is required"},
		{"unknown argument", `{"org_slug":"acme","orgslug":"x"}`, "orgslug", "is not an argument of echo"},
		{"wrong type", `{"org_slug":42}`, "org_slug", "type"},
		{"path traversal", `{"org_slug":"../admin"}`, "org_slug", "does not match"},
		{"encoded slash", `{"org_slug":"acme%2Fother"}`, "org_slug", "does not match"},
		{"overlong slug", `{"org_slug":"` + strings.Repeat("a", 101) + `"}`, "org_slug", "more than 100"},
		{"bad build number", `{"org_slug":"acme","build_number":"1/../2"}`, "build_number", "does not match"},
		{"not an object", `[1,2]`, "", "JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			tool := echoTool(t, &calls)
			res, err := tool.Call(context.Background(), ReadArguments(json.RawMessage(tt.args)))
			var ae *ArgumentError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *ArgumentError", err)
			}
			if ae.Argument != tt.wantArgument || !strings.Contains(ae.Reason, tt.wantReason) {
				t.Errorf("got %q / %q, want argument %q with reason containing %q", ae.Argument, ae.Reason, tt.wantArgument, tt.wantReason)
			}
			if !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, tt.wantArgument) {
				t.Errorf("result = %+v, want a tool error naming %q", res, tt.wantArgument)
			}
			if calls != 0 {
				t.Errorf("handler ran %d times on invalid arguments", calls)
			}
		})
	}
}

// TestIntegerIDs: a build number is accepted as the integer outputs give it,
// as well as the string, and decoded as the same string.
func TestIntegerIDs(t *testing.T) {
	for _, args := range []string{`{"org_slug":"acme","build_number":42}`, `{"org_slug":"acme","build_number":"42"}`, `{"build_number":42.0,"org_slug":"acme"}`} {
		calls := 0
		a := ReadArguments(json.RawMessage(args))
		before, _ := a.Value()
		want := fmt.Sprintf("%#v", before)
		res, err := echoTool(t, &calls).Call(context.Background(), a)
		if err != nil {
			t.Fatalf("%s: %v", args, err)
		}
		var got echoArgs
		if err := json.Unmarshal(res.StructuredContent.(json.RawMessage), &got); err != nil || got.BuildNumber != "42" || got.OrgSlug != "acme" {
			t.Errorf("%s decoded as %+v, %v", args, got, err)
		}
		// The audit reads the same Arguments after the call: the number
		// the caller sent stays a number there.
		if after, _ := a.Value(); fmt.Sprintf("%#v", after) != want {
			t.Errorf("%s: the call changed its Arguments from %s to %v", args, want, after)
		}
	}
	for _, args := range []string{`{"org_slug":"acme","build_number":-4}`, `{"org_slug":"acme","build_number":4.5}`, `{"org_slug":"acme","build_number":1e300}`, `{"org_slug":"acme","build_number":0}`} {
		calls := 0
		if _, err := echoTool(t, &calls).Call(context.Background(), ReadArguments(json.RawMessage(args))); err == nil || calls != 0 {
			t.Errorf("%s accepted", args)
		}
	}
}

// TestNullsAreLeftOut: a portable schema has no null type, so a result
// leaves out what Go would encode as null, and gives [] for a list.
func TestNullsAreLeftOut(t *testing.T) {
	tool, err := Define(Spec{Name: "get_thing", Description: "d", Kind: Read},
		func(_ context.Context, in echoArgs) (buildOut, error) {
			return buildOut{Number: 7, State: "<b>&"}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tool.Call(context.Background(), ReadArguments(json.RawMessage(`{"org_slug":"acme"}`)))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkResult(tool, res); err != nil {
		t.Error(err)
	}
	want := `{"number":7,"state":"<b>&","items":[]}`
	if got := res.Content[0].(*mcp.TextContent).Text; got != want {
		t.Errorf("text %s, want %s", got, want)
	}
}

func TestCallReturnsStructuredResult(t *testing.T) {
	calls := 0
	tool := echoTool(t, &calls)
	res, err := tool.Call(context.Background(), ReadArguments(json.RawMessage(`{"org_slug":"acme","per_page":5}`)))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"org_slug":"acme","per_page":5}`
	if diff := cmp.Diff(want, res.Content[0].(*mcp.TextContent).Text); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, string(res.StructuredContent.(json.RawMessage))); diff != "" {
		t.Errorf("structured (-want +got):\n%s", diff)
	}
}

func TestHashIsStableAndSensitive(t *testing.T) {
	calls := 0
	a, b := echoTool(t, &calls), echoTool(t, &calls)
	if a.Hash() != b.Hash() {
		t.Fatalf("same definition, different hashes: %s %s", a.Hash(), b.Hash())
	}
	c, err := Define(Spec{Name: "echo", Description: "echoes more", Kind: Read, Scopes: []string{"read_builds"}},
		func(_ context.Context, in echoArgs) (any, error) { return in, nil })
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash() == a.Hash() {
		t.Error("a changed description kept the same hash")
	}
}

func TestAnnotationsFollowKind(t *testing.T) {
	// Only what differs from the MCP defaults (not read-only, destructive,
	// open world) is announced.
	tests := []struct {
		kind  Kind
		local bool
		want  string
	}{
		{Read, false, `{"idempotentHint":false,"readOnlyHint":true}`},
		{Sensitive, false, `{"idempotentHint":false,"readOnlyHint":true}`},
		{Write, false, `{"destructiveHint":false,"idempotentHint":false,"readOnlyHint":false}`},
		{Destructive, false, `null`},
		{Read, true, `{"idempotentHint":false,"openWorldHint":false,"readOnlyHint":true}`},
	}
	for _, tt := range tests {
		tool, err := Define(Spec{Name: "t", Title: "T", Description: "d", Kind: tt.kind, Local: tt.local}, func(context.Context, echoArgs) (any, error) { return nil, nil })
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(tool.Definition().Annotations)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s local=%v: annotations %s, want %s", tt.kind, tt.local, got, tt.want)
		}
	}
}

func TestCatalogRefusesDuplicates(t *testing.T) {
	calls := 0
	if _, err := NewCatalog(echoTool(t, &calls), echoTool(t, &calls)); err == nil {
		t.Error("duplicate tool names accepted")
	}
}

type buildOut struct {
	Number   int        `json:"number"`
	State    string     `json:"state"`
	Finished *time.Time `json:"finished_at,omitempty"`
	Items    []string   `json:"items"`
}

func TestOutputSchemaDescribesStructuredContent(t *testing.T) {
	finished := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tool, err := Define(Spec{Name: "get_thing", Description: "d", Kind: Read},
		func(_ context.Context, in echoArgs) (buildOut, error) {
			return buildOut{Number: 7, State: "passed", Finished: &finished, Items: []string{"a"}}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	raw := tool.OutputSchema()
	if raw == nil || tool.Definition().OutputSchema != nil {
		t.Fatalf("output schema %s, announced %v: want one, not announced", raw, tool.Definition().OutputSchema)
	}
	schema := new(jsonschema.Schema)
	if err := json.Unmarshal(raw, schema); err != nil {
		t.Fatal(err)
	}
	resolved, err := schema.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tool.Call(context.Background(), ReadArguments(json.RawMessage(`{"org_slug":"acme"}`)))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(res.StructuredContent.(json.RawMessage), &v); err != nil {
		t.Fatal(err)
	}
	if err := resolved.Validate(v); err != nil {
		t.Errorf("structured content does not match the output schema: %v", err)
	}
	if err := resolved.Validate(map[string]any{"number": "seven", "state": "x", "items": nil}); err == nil {
		t.Error("schema accepts a string number: it describes nothing")
	}

	untyped, err := Define(Spec{Name: "u", Description: "d", Kind: Sensitive}, func(context.Context, echoArgs) (any, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	if untyped.OutputSchema() != nil {
		t.Error("an any result announced an output schema")
	}
	if a := untyped.Definition().Annotations; a == nil || !a.ReadOnlyHint {
		t.Error("a sensitive tool must still be annotated read-only")
	}
}

func TestEveryCatalogToolIsReady(t *testing.T) {
	cat, err := Default(nil) // handlers are not run: definitions only
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range cat.Tools() {
		if err := tool.Ready(); err != nil {
			t.Errorf("%s: %v", tool.Name(), err)
		}
		if tool.Definition() == nil || !strings.HasPrefix(tool.Hash(), "sha256:") {
			t.Errorf("%s: no definition or hash", tool.Name())
		}
	}
}

func TestBrokenDefinitionIsNotServed(t *testing.T) {
	tool, err := Define(Spec{Name: "broken", Description: "d", Kind: Read}, func(context.Context, int) (any, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	if tool.Ready() == nil || tool.Definition() != nil || tool.Hash() != "" {
		t.Fatal("a tool whose arguments are not an object was built")
	}
	res, err := tool.Call(context.Background(), ReadArguments(json.RawMessage(`{}`)))
	if err == nil || !res.IsError {
		t.Errorf("calling a broken tool: %v %+v", err, res)
	}
}
