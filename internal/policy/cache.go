package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	if p.Version == 0 {
		// Nothing was ever applied (a deleted policy file, an empty
		// table): that is no policy, not an empty one, so /healthz and
		// every denial say so.
		c.snap = nil
		return nil, ErrNoPolicy
	}
	// An unchanged policy keeps the snapshot, and with it every MCP server
	// built for it. The content is compared too: an item edited by hand in
	// the DynamoDB console changes the policy without bumping its version.
	if c.snap == nil || c.snap.Version() != p.Version || !samePolicy(c.snap.policy, p) {
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

// ErrNoPolicy says the store holds no policy at all.
var ErrNoPolicy = errors.New("no policy has been applied")

// samePolicy compares two policies by their JSON form, which ignores what
// reflect.DeepEqual would trip on (time zones, nil against empty maps).
func samePolicy(a, b Policy) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
