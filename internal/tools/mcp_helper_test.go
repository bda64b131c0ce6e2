package tools_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/tools"
)

// mcpEnv is the one harness of the tool tests: the default catalog over a
// fresh Buildkite simulator (tools.SimCatalog), served by an MCP server
// over in-memory transports, and an SDK client session talking to it: the
// way a model reaches the tools.
type mcpEnv struct {
	t   testing.TB
	sim *buildkitetest.Server
	cat *tools.Catalog
	cs  *mcp.ClientSession
}

func newMCP(t testing.TB, opts ...buildkitetest.Option) *mcpEnv {
	t.Helper()
	cat, sim := tools.SimCatalog(t, opts...)
	srv := mcp.NewServer(&mcp.Implementation{Name: "kitegate-test", Version: "0"}, nil)
	for _, tool := range cat.Tools() {
		srv.AddTool(tool.Definition(), func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, _ := tool.Call(ctx, tools.ReadArguments(req.Params.Arguments)) // a failure is a tool error result
			return res, nil
		})
	}
	ctx := context.Background()
	ct, st := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "kitegate-test-client", Version: "0"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return &mcpEnv{t: t, sim: sim, cat: cat, cs: cs}
}

// call calls a tool through the MCP client, checks that the token is
// nowhere in the answer and that a result validates against the tool's
// output schema. args is a map, or the arguments' JSON text ("" for none).
func (e *mcpEnv) call(name string, args any) *mcp.CallToolResult {
	e.t.Helper()
	if s, ok := args.(string); ok {
		args = nil
		if s != "" {
			args = json.RawMessage(s)
		}
	}
	res, err := e.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	b, _ := json.Marshal(res)
	if strings.Contains(string(b), buildkitetest.DefaultToken) {
		e.t.Errorf("%s: the token is in the answer", name)
	}
	if tool, ok := e.cat.Lookup(name); ok {
		if err := tools.CheckResult(tool, res); err != nil {
			e.t.Error(err)
		}
	}
	return res
}

// ok calls a tool that must succeed, checks that its structured content
// and its text block agree, decodes the structured content into out (set
// to its zero value first: fields left out must read as unset) and
// returns the text.
func (e *mcpEnv) ok(name string, args, out any) string {
	e.t.Helper()
	res := e.call(name, args)
	text := tools.Text(res)
	if res.IsError {
		e.t.Fatalf("%s %v: tool error: %s", name, args, text)
	}
	if res.StructuredContent == nil {
		e.t.Fatalf("%s: no structured content", name)
	}
	sc, err := json.Marshal(res.StructuredContent)
	if err != nil {
		e.t.Fatal(err)
	}
	var a, b any
	if json.Unmarshal(sc, &a) != nil || json.Unmarshal([]byte(text), &b) != nil || !jsonEqual(a, b) {
		e.t.Errorf("%s: structured content and text differ", name)
	}
	reflect.ValueOf(out).Elem().SetZero()
	if err := json.Unmarshal(sc, out); err != nil {
		e.t.Fatalf("%s: decode %s: %v", name, sc, err)
	}
	return text
}

// fail calls a tool that must fail, checks that the message the model sees
// has every part, and returns it.
func (e *mcpEnv) fail(name string, args any, parts ...string) string {
	e.t.Helper()
	res := e.call(name, args)
	msg := tools.Text(res)
	if !res.IsError {
		e.t.Fatalf("%s %v: want a tool error, got %s", name, args, msg)
	}
	wantIn(e.t, name, msg, parts...)
	return msg
}

// failNoRequest is fail for arguments refused before any Buildkite call.
func (e *mcpEnv) failNoRequest(name string, args any, parts ...string) string {
	e.t.Helper()
	before := len(e.sim.Requests())
	msg := e.fail(name, args, parts...)
	if n := len(e.sim.Requests()) - before; n != 0 {
		e.t.Errorf("%s: %d Buildkite requests for refused arguments", name, n)
	}
	return msg
}

// walk pages through a list tool to the end, by next_page or by
// next_cursor (after), calling each page with per_page, and returns every
// page's raw items and how many pages there were.
func walk(e *mcpEnv, name string, a map[string]any, perPage int) (items []json.RawMessage, pages int) {
	e.t.Helper()
	a["per_page"] = perPage
	for more := true; more; pages++ {
		if pages >= 20 {
			e.t.Fatalf("%s: more than 20 pages", name)
		}
		var out struct {
			Items      []json.RawMessage `json:"items"`
			NextPage   int               `json:"next_page"`
			NextCursor string            `json:"next_cursor"`
		}
		e.ok(name, a, &out)
		if len(out.Items) > perPage {
			e.t.Fatalf("%s page %d: %d items, per_page %d", name, pages+1, len(out.Items), perPage)
		}
		items = append(items, out.Items...)
		switch more = true; {
		case out.NextCursor != "":
			a["after"] = out.NextCursor
		case out.NextPage != 0:
			a["page"] = out.NextPage
		default:
			more = false
		}
	}
	return items, pages
}

// decodeAll decodes each raw item (as walk returns them) into a T.
func decodeAll[T any](t testing.TB, raw []json.RawMessage) []T {
	t.Helper()
	out := make([]T, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// withoutScope takes scope away from the default token.
func (e *mcpEnv) withoutScope(scope string) {
	var keep []string
	for _, s := range buildkitetest.DefaultScopes {
		if s != scope {
			keep = append(keep, s)
		}
	}
	e.sim.AddToken(buildkitetest.DefaultToken, keep...)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func wantIn(t testing.TB, what, msg string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("%s: %q does not contain %q", what, msg, p)
		}
	}
}

// args builds arguments from key, value pairs, org_slug being SeedOrg.
func args(kv ...any) map[string]any {
	m := map[string]any{"org_slug": buildkitetest.SeedOrg}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// buildArgs are the arguments naming a web-app build.
func buildArgs(n int, extra ...any) map[string]any {
	return args(append([]any{"pipeline_slug", buildkitetest.SeedPipeline, "build_number", jsonInt(n)}, extra...)...)
}

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }
