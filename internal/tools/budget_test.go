package tools

import (
	"encoding/json"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// buildkiteToolListBytes is what Buildkite's own MCP server sends for its
// 54 tools (compact JSON of tools/list; shared/client-interop.md): every
// conversation pays for the tool list in its context window, and kitegate
// must cost no more than the server it stands in for.
const buildkiteToolListBytes = 44444

// toolList is the compact JSON of a tools/list result holding tools.
func toolList(tb testing.TB, tools []*Tool) []byte {
	tb.Helper()
	res := &mcp.ListToolsResult{Tools: []*mcp.Tool{}}
	for _, t := range tools {
		if err := t.Ready(); err != nil {
			tb.Fatal(err)
		}
		res.Tools = append(res.Tools, t.Definition())
	}
	b, err := json.Marshal(res)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestToolListBudget fails when the whole catalog's tool list costs more
// than Buildkite's own. A new argument or tool pays for itself: shorten a
// description, or drop what only restates a name.
func TestToolListBudget(t *testing.T) {
	cat, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	all := cat.Tools()
	got := len(toolList(t, all))
	t.Logf("tools/list with all %d tools: %d bytes, %d per tool (Buildkite's server: %d)", len(all), got, got/len(all), buildkiteToolListBytes)
	if got > buildkiteToolListBytes {
		t.Errorf("tools/list with all %d tools is %d bytes, over the budget of %d (Buildkite's own server)", len(all), got, buildkiteToolListBytes)
	}
}
