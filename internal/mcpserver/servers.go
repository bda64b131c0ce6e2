package mcpserver

import (
	"context"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/tools"
)

// offer is what one profile set may call under one policy snapshot,
// decided once, when a caller with that set first comes: each granted
// tool's decision, and the MCP server holding exactly those tools. A
// tools/call is then decided by a lookup in grants (call.go).
type offer struct {
	server *mcp.Server
	grants map[string]grant
}

// grant is what a call of one offered tool gets: policy's decision and the
// per-profile rate limit that applies.
type grant struct {
	decision policy.Decision
	// profile and limit are the most generous limit of the granting
	// profiles; none ("" and 0) when one of them has no limit.
	profile string
	limit   int
}

// offerCache keeps one offer per (policy snapshot, profile set): callers
// with the same profiles share it, so decisions, tool definitions and
// schemas are made once per snapshot, never per request. Snapshots are
// keyed by identity, not version: the policy cache makes a new snapshot
// whenever the content changes, including a hand edit that left the version
// alone.
type offerCache struct {
	max   int
	build func(*policy.Snapshot, []string) *offer

	mu     sync.RWMutex
	offers map[offerKey]*offer
}

type offerKey struct {
	snap     *policy.Snapshot // nil: no policy, no tools
	profiles string
}

func newOfferCache(max int, build func(*policy.Snapshot, []string) *offer) *offerCache {
	return &offerCache{max: max, build: build, offers: map[offerKey]*offer{}}
}

func (c *offerCache) get(snap *policy.Snapshot, profiles []string) *offer {
	key := offerKey{snap, strings.Join(profiles, "\x00")}
	c.mu.RLock()
	o, ok := c.offers[key]
	c.mu.RUnlock()
	if ok {
		return o
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.offers[key]; ok {
		return o
	}
	if len(c.offers) >= c.max {
		// Offers of older snapshots are never asked for again; starting
		// over is simpler than tracking them and just as cheap.
		clear(c.offers)
	}
	o = c.build(snap, profiles)
	c.offers[key] = o
	return o
}

// buildOffer decides what these profiles may call under snap (nothing when
// snap is nil) and makes the MCP server holding exactly those tools.
func (h *Handler) buildOffer(snap *policy.Snapshot, profiles []string) *offer {
	o := &offer{grants: map[string]grant{}}
	var offered []*tools.Tool
	var names []string
	for _, pg := range snap.Grants(profiles) {
		t, d := h.inBuild(snap, pg.Decision(), pg.Tool)
		if !d.Allowed {
			continue // a call of it is refused with this reason (refusal)
		}
		g := grant{decision: d}
		for i, name := range pg.Profiles {
			p, _ := snap.Profile(name)
			if p.CallsPerMinute <= 0 { // a granting profile without a limit: none applies
				g.profile, g.limit = "", 0
				break
			}
			if i == 0 || p.CallsPerMinute > g.limit {
				g.profile, g.limit = name, p.CallsPerMinute
			}
		}
		o.grants[pg.Tool] = g
		offered, names = append(offered, t), append(names, pg.Tool)
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
	o.server = srv
	return o
}
