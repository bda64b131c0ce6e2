package mcpserver

import (
	"context"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/tools"
)

// serverCache keeps one MCP server per (policy snapshot, profile set):
// callers with the same profiles share a server, so tool definitions and
// schemas are built once per snapshot, never per request. Snapshots are
// keyed by identity, not version: the policy cache makes a new snapshot
// whenever the content changes, including a hand edit that left the version
// alone.
type serverCache struct {
	max   int
	build func(*policy.Snapshot, []string) *mcp.Server

	mu      sync.RWMutex
	servers map[serverKey]*mcp.Server
}

type serverKey struct {
	snap     *policy.Snapshot // nil: no policy, no tools
	profiles string
}

func newServerCache(max int, build func(*policy.Snapshot, []string) *mcp.Server) *serverCache {
	return &serverCache{max: max, build: build, servers: map[serverKey]*mcp.Server{}}
}

func cacheKey(snap *policy.Snapshot, profiles []string) serverKey {
	return serverKey{snap, strings.Join(profiles, "\x00")}
}

func (c *serverCache) get(snap *policy.Snapshot, profiles []string) *mcp.Server {
	key := cacheKey(snap, profiles)
	c.mu.RLock()
	s, ok := c.servers[key]
	c.mu.RUnlock()
	if ok {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.servers[key]; ok {
		return s
	}
	if len(c.servers) >= c.max {
		// Servers of older snapshots are never asked for again;
		// starting over is simpler than tracking them and just as cheap.
		clear(c.servers)
	}
	s = c.build(snap, profiles)
	c.servers[key] = s
	return s
}

// buildServer makes an MCP server holding exactly the tools these profiles
// may call under snap (none when snap is nil).
func (h *Handler) buildServer(snap *policy.Snapshot, profiles []string) *mcp.Server {
	var offered []*tools.Tool
	var names []string
	for _, name := range snap.Allowed(profiles) {
		t, ok := h.cfg.Catalog.Lookup(name)
		if !ok {
			continue
		}
		if err := t.Ready(); err != nil {
			h.logger.Error("mcp: tool definition failed; tool not offered", "tool", name, "err", err)
			continue
		}
		if pt, _ := snap.Tool(name); pt.ApprovedHash != "" && pt.ApprovedHash != t.Hash() {
			continue // changed since approval: see decide
		}
		offered, names = append(offered, t), append(names, name)
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "kitegate", Title: "kitegate — governed Buildkite", Version: h.cfg.Version}, &mcp.ServerOptions{
		// Written for exactly the tools this caller gets (guidance.go).
		Instructions: instructionsFor(names),
		Logger:       h.sdkLogger,
		// Tools, prompts and resources, and no listChanged: the lists are
		// per request anyway.
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}, Prompts: &mcp.PromptCapabilities{}, Resources: &mcp.ResourceCapabilities{}},
		// A tool list is this caller's alone and may change with any policy
		// edit: no shared caches, no staleness.
		SetCacheable: func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) {
			c.TTLMs, c.CacheScope = 0, "private"
		},
	})
	for _, t := range offered {
		srv.AddTool(t.Definition(), h.toolHandler(t))
	}
	addGuidance(srv, names, h.cfg.Version)
	srv.AddReceivingMiddleware(h.guard)
	return srv
}
