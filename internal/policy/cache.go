package policy

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Loader is what Cache reads policy from: any Store.
type Loader interface {
	Load(ctx context.Context) (Policy, error)
}

// Cache serves the policy snapshot from memory and reloads it once it is
// older than its TTL, so the TTL is the longest a change — a revocation
// above all — takes to bite. When a reload fails the stale snapshot is not
// used: Snapshot returns the error and callers deny (fail closed).
type Cache struct {
	loader Loader
	ttl    time.Duration
	now    func() time.Time

	mu       sync.Mutex
	snap     *Snapshot
	loadedAt time.Time
}

// NewCache returns a cache over loader; now may be nil (time.Now).
func NewCache(loader Loader, ttl time.Duration, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{loader: loader, ttl: ttl, now: now}
}

// Snapshot returns the current snapshot, reloading it when stale. One caller
// reloads while the others wait for its result.
func (c *Cache) Snapshot(ctx context.Context) (*Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != nil && c.now().Sub(c.loadedAt) < c.ttl {
		return c.snap, nil
	}
	p, err := c.loader.Load(ctx)
	if err != nil {
		c.snap = nil
		return nil, fmt.Errorf("load policy: %w", err)
	}
	// An unchanged version keeps the snapshot, and with it every MCP server
	// built for it.
	if c.snap == nil || c.snap.Version() != p.Version {
		snap, err := NewSnapshot(p)
		if err != nil {
			c.snap = nil
			return nil, fmt.Errorf("load policy version %d: %w", p.Version, err)
		}
		c.snap = snap
	}
	c.loadedAt = c.now()
	return c.snap, nil
}
