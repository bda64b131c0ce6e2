package policy

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type fakeLoader struct {
	mu    sync.Mutex
	p     Policy
	err   error
	loads int
}

var _ Loader = (*fakeLoader)(nil)

func (f *fakeLoader) Load(context.Context) (Policy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads++
	return f.p.Clone(), f.err
}

func TestCacheReloadsAfterTTLAndFailsClosed(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	l := &fakeLoader{p: Policy{Version: 1}}
	c := NewCache(l, 5*time.Second, func() time.Time { return now })

	s1, err := c.Snapshot(ctx)
	if err != nil || s1.Version() != 1 {
		t.Fatalf("Snapshot = %v, %v", s1, err)
	}
	for range 10 {
		if s, _ := c.Snapshot(ctx); s != s1 {
			t.Fatal("fresh snapshot was not reused")
		}
	}
	if l.loads != 1 {
		t.Errorf("%d loads within the TTL, want 1", l.loads)
	}

	now = now.Add(6 * time.Second)
	if s, _ := c.Snapshot(ctx); s != s1 {
		t.Error("same version after TTL: snapshot should be kept")
	}

	l.p.Version = 2
	now = now.Add(6 * time.Second)
	if s, _ := c.Snapshot(ctx); s.Version() != 2 {
		t.Errorf("after TTL got version %d, want 2", s.Version())
	}

	l.err = errors.New("table unreachable")
	now = now.Add(6 * time.Second)
	if s, err := c.Snapshot(ctx); err == nil || s != nil {
		t.Errorf("stale and unloadable: got %v, %v; want fail closed", s, err)
	}
	var nilSnap *Snapshot
	if d := nilSnap.Decide(Subject{ID: "u"}, "list_builds"); d.Allowed {
		t.Error("nil snapshot allowed a call")
	}
}
