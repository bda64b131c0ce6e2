package mcpserver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/mcpserver"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/tools"
)

type discardAudit struct{}

func (discardAudit) Write(context.Context, audit.Event) error { return nil }

// benchConfig is production-like: the policy cached for its default TTL, the
// audit write (a network call in production) discarded.
func benchConfig(s *stack, c *mcpserver.Config) {
	c.Audit = discardAudit{}
	c.Policy = policy.NewCache(s.store, 5*time.Second, nil)
}

const benchCall = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_build","arguments":{"org_slug":"acme","pipeline_slug":"web-app","build_number":"37"}}}`

// plainServer serves the same catalog tools with no governance at all: the
// baseline a governed call is compared with.
func plainServer(t testing.TB, s *stack, cfg mcpserver.Config) string {
	srv := mcp.NewServer(&mcp.Implementation{Name: "plain", Version: "1"}, &mcp.ServerOptions{Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}}})
	for _, tl := range cfg.Catalog.Tools() {
		tool := tl
		srv.AddTool(tool.Definition(), func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, _ := tool.Call(ctx, tools.ReadArguments(req.Params.Arguments))
			return res, nil
		})
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL + "/mcp"
}

func callOnce(b testing.TB, c *http.Client, url, token string) time.Duration {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(benchCall))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"number":37`) {
		b.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	return d
}

// BenchmarkGovernanceOverhead runs the same tools/call through kitegate and
// through a plain SDK server over the same simulator, interleaved so both
// see the same machine, and reports the median and p99 of the difference and
// the ratio of the medians. The audit writer discards: its network write is
// not governance CPU and is counted separately (AWS calls per request).
func BenchmarkGovernanceOverhead(b *testing.B) {
	var cfg mcpserver.Config
	s := newStack(b, func(s *stack, c *mcpserver.Config) { benchConfig(s, c); cfg = *c },
		buildkitetest.WithUserRateLimit(1<<30), buildkitetest.WithOrgRateLimit(1<<30))
	plainURL := plainServer(b, s, cfg)
	c := &http.Client{Timeout: 10 * time.Second}
	for range 50 { // warm connections, caches and the per-profile server
		callOnce(b, c, s.url, "alice-token")
		callOnce(b, c, plainURL, "")
	}
	plain := make([]time.Duration, 0, b.N)
	governed := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		plain = append(plain, callOnce(b, c, plainURL, ""))
		governed = append(governed, callOnce(b, c, s.url, "alice-token"))
	}
	b.StopTimer()
	slices.Sort(plain)
	slices.Sort(governed)
	q := func(d []time.Duration, p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) }
	b.ReportMetric(q(plain, 0.5), "plain-p50-µs")
	b.ReportMetric(q(governed, 0.5), "governed-p50-µs")
	b.ReportMetric(q(plain, 0.99), "plain-p99-µs")
	b.ReportMetric(q(governed, 0.99), "governed-p99-µs")
	b.ReportMetric(q(governed, 0.5)-q(plain, 0.5), "overhead-p50-µs")
	b.ReportMetric(q(governed, 0.99)-q(plain, 0.99), "overhead-p99-µs")
	b.ReportMetric(q(governed, 0.5)/q(plain, 0.5), "ratio-p50")
	b.ReportMetric(q(governed, 0.99)/q(plain, 0.99), "ratio-p99")
}

// plainHandler is plainServer's handler, for in-process calls.
func plainHandler(cfg mcpserver.Config) http.Handler {
	srv := mcp.NewServer(&mcp.Implementation{Name: "plain", Version: "1"}, &mcp.ServerOptions{Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}}})
	for _, tl := range cfg.Catalog.Tools() {
		tool := tl
		srv.AddTool(tool.Definition(), func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, _ := tool.Call(ctx, tools.ReadArguments(req.Params.Arguments))
			return res, nil
		})
	}
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
}

// BenchmarkToolsCall serves the same warm tools/call in process (no HTTP
// client, no listener on the MCP side) through kitegate and through the
// plain SDK server; the Buildkite call still goes over loopback to the
// simulator. The difference of their allocs/op is what governance
// allocates per call (policy decision, audit event, per-request state).
func BenchmarkToolsCall(b *testing.B) {
	var cfg mcpserver.Config
	s := newStack(b, func(s *stack, c *mcpserver.Config) { benchConfig(s, c); cfg = *c },
		buildkitetest.WithUserRateLimit(1<<30), buildkitetest.WithOrgRateLimit(1<<30))
	for _, bc := range []struct {
		name  string
		h     http.Handler
		token string
	}{{"governed", s.handler, "alice-token"}, {"plain", plainHandler(cfg), ""}} {
		b.Run(bc.name, func(b *testing.B) {
			serve := func() {
				req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(benchCall))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
				if bc.token != "" {
					req.Header.Set("Authorization", "Bearer "+bc.token)
				}
				rec := httptest.NewRecorder()
				bc.h.ServeHTTP(rec, req)
				if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"number":37`) {
					b.Fatal(rec.Code, rec.Body)
				}
			}
			for range 20 { // warm the per-profile server and the connections
				serve()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				serve()
			}
		})
	}
}

// BenchmarkThroughput drives warm tools/calls over loopback HTTP from
// 4×GOMAXPROCS concurrent callers, against kitegate and against the plain
// SDK server. Client, server and simulator share the process and its
// GOMAXPROCS cores (run with -cpu 1,2), so calls/s/core counts all three.
func BenchmarkThroughput(b *testing.B) {
	var cfg mcpserver.Config
	s := newStack(b, func(s *stack, c *mcpserver.Config) { benchConfig(s, c); cfg = *c },
		buildkitetest.WithUserRateLimit(1<<30), buildkitetest.WithOrgRateLimit(1<<30))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
	for _, bc := range []struct{ name, url, token string }{
		{"governed", s.url, "alice-token"},
		{"plain", plainServer(b, s, cfg), ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range 20 {
				callOnce(b, c, bc.url, bc.token)
			}
			b.ReportAllocs()
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					callOnce(b, c, bc.url, bc.token)
				}
			})
			elapsed := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/elapsed, "calls/s")
			b.ReportMetric(float64(b.N)/elapsed/float64(runtime.GOMAXPROCS(0)), "calls/s/core")
		})
	}
}

// BenchmarkToolsList measures a warm tools/list for a caller.
func BenchmarkToolsList(b *testing.B) {
	s := newStack(b, benchConfig)
	h := s.handler
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(listTools))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		req.Header.Set("Authorization", "Bearer alice-token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}
