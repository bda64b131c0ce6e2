package tools

import (
	"context"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
)

var _ Buildkite = (*buildkite.Client)(nil)

// simTokens always hands out the simulator's default token.
type simTokens struct{}

var _ buildkite.TokenSource = simTokens{}

func (simTokens) Token(context.Context) (string, error) { return buildkitetest.DefaultToken, nil }
func (simTokens) Refresh(context.Context, string) (string, error) {
	return buildkitetest.DefaultToken, nil
}

// SimCatalog is the default catalog over a real Buildkite client of a
// fresh simulator, which is closed when the test ends. The tests that call
// tools against Buildkite start here: the MCP harness of package
// tools_test (newMCP) and the fuzz target.
func SimCatalog(tb testing.TB, opts ...buildkitetest.Option) (*Catalog, *buildkitetest.Server) {
	tb.Helper()
	sim := buildkitetest.New(opts...)
	tb.Cleanup(sim.Close)
	// A generous timeout: under the race detector a 50 MB log takes a while.
	bk, err := buildkite.New(buildkite.Config{BaseURL: sim.URL, Tokens: simTokens{}, Timeout: time.Minute, Downloads: sim.Downloads()})
	if err != nil {
		tb.Fatal(err)
	}
	cat, err := Default(bk)
	if err != nil {
		tb.Fatal(err)
	}
	return cat, sim
}

// text is a result's first content block's text ("" when there is none).
func text(res *mcp.CallToolResult) string {
	if res == nil || len(res.Content) == 0 {
		return ""
	}
	if t, ok := res.Content[0].(*mcp.TextContent); ok {
		return t.Text
	}
	return ""
}

// Text is text for the tests of package tools_test.
var Text = text
