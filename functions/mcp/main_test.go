package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	// The tests run the function by hand, with its stand-ins for AWS
	// and Buildkite, whatever the build tags.
	_ "github.com/kitegate/kitegate/internal/local"
)

// TestRunLocalDefault starts the function as `make run` does — no token, no
// AWS, the built-in policy — and drives it with the MCP SDK client.
func TestRunLocalDefault(t *testing.T) {
	env := map[string]string{"KITEGATE_AUDIT_FILE": filepath.Join(t.TempDir(), "audit.jsonl"), "KITEGATE_LOG_LEVEL": "info"}
	url := startServer(t, env)
	ctx := t.Context()
	c := mcp.NewClient(&mcp.Implementation{Name: "newcomer", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Timeout: 10 * time.Second}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "list_builds") || strings.Contains(strings.Join(names, ","), "create_build") {
		t.Errorf("dev user's tools %v: want the approved read tools and no pending write tool", names)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_builds", Arguments: map[string]any{"org_slug": "acme"}})
	if err != nil || res.IsError {
		t.Fatalf("list_builds: %v %+v", err, res)
	}
	audit, err := os.ReadFile(env["KITEGATE_AUDIT_FILE"])
	if err != nil || !strings.Contains(string(audit), `"tool":"list_builds"`) {
		t.Errorf("audit file %q, %v", audit, err)
	}
}

func waitReady(t testing.TB, url string) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", url)
}

func TestRunRefusesBadConfig(t *testing.T) {
	err := run(context.Background(), func(k string) (string, bool) {
		if k == "AWS_LAMBDA_RUNTIME_API" {
			return "127.0.0.1:9001", true
		}
		return "", false
	})
	if err == nil || !strings.Contains(err.Error(), "KITEGATE_OIDC_ISSUER") {
		t.Errorf("run on Lambda without OIDC: %v", err)
	}
}
