package tools_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/tools"
)

// simTokens always hands out the simulator's default token.
type simTokens struct{}

var _ buildkite.TokenSource = simTokens{}

func (simTokens) Token(context.Context) (string, error) { return buildkitetest.DefaultToken, nil }
func (simTokens) Refresh(context.Context, string) (string, error) {
	return buildkitetest.DefaultToken, nil
}

// mcpEnv is the default catalog served by an MCP server over in-memory
// transports, its tools calling a fresh Buildkite simulator, and an SDK
// client session talking to it: the way a model reaches the tools.
type mcpEnv struct {
	t   testing.TB
	sim *buildkitetest.Server
	cat *tools.Catalog
	cs  *mcp.ClientSession
}

func newMCP(t testing.TB, opts ...buildkitetest.Option) *mcpEnv {
	t.Helper()
	sim := buildkitetest.New(opts...)
	t.Cleanup(sim.Close)
	// A generous timeout: under the race detector a 50 MB log takes a while.
	bk, err := buildkite.New(buildkite.Config{BaseURL: sim.URL, Tokens: simTokens{}, Timeout: time.Minute, Downloads: sim.Downloads()})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := tools.Default(bk)
	if err != nil {
		t.Fatal(err)
	}
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
// output schema.
func (e *mcpEnv) call(name string, args map[string]any) *mcp.CallToolResult {
	e.t.Helper()
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
// and its text block agree, and decodes the structured content into out.
func (e *mcpEnv) ok(name string, args map[string]any, out any) {
	e.t.Helper()
	res := e.call(name, args)
	if res.IsError {
		e.t.Fatalf("%s %v: tool error: %s", name, args, textOf(res))
	}
	if res.StructuredContent == nil {
		e.t.Fatalf("%s: no structured content", name)
	}
	sc, err := json.Marshal(res.StructuredContent)
	if err != nil {
		e.t.Fatal(err)
	}
	var a, b any
	if json.Unmarshal(sc, &a) != nil || json.Unmarshal([]byte(textOf(res)), &b) != nil || !jsonEqual(a, b) {
		e.t.Errorf("%s: structured content and text differ", name)
	}
	if err := json.Unmarshal(sc, out); err != nil {
		e.t.Fatalf("%s: decode %s: %v", name, sc, err)
	}
}

// fail calls a tool that must fail and returns the message the model sees.
func (e *mcpEnv) fail(name string, args map[string]any) string {
	e.t.Helper()
	res := e.call(name, args)
	if !res.IsError {
		e.t.Fatalf("%s %v: want a tool error, got %s", name, args, textOf(res))
	}
	return textOf(res)
}

// failNoRequest is fail for arguments refused before any Buildkite call.
func (e *mcpEnv) failNoRequest(name string, args map[string]any) string {
	e.t.Helper()
	before := len(e.sim.Requests())
	msg := e.fail(name, args)
	if n := len(e.sim.Requests()) - before; n != 0 {
		e.t.Errorf("%s: %d Buildkite requests for refused arguments", name, n)
	}
	return msg
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

func textOf(res *mcp.CallToolResult) string {
	if res == nil || len(res.Content) == 0 {
		return ""
	}
	if t, ok := res.Content[0].(*mcp.TextContent); ok {
		return t.Text
	}
	return ""
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

// buildArgs are the arguments naming a web-app build.
func buildArgs(n int, extra ...any) map[string]any {
	m := map[string]any{"org_slug": buildkitetest.SeedOrg, "pipeline_slug": buildkitetest.SeedPipeline, "build_number": itoa(n)}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func itoa(n int) string { return jsonInt(n) }

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }
