// Package policystore holds the stores of the policy: the DynamoDB policy
// table (what AWS runs) and Embedded, one JSON file in a folder (local mode
// and tests).
package policystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kitegate/kitegate/internal/policy"
)

// Embedded is the local-mode Store: one JSON file in a folder. It is safe
// for concurrent use within one process (not across processes) and writes
// atomically (temporary file, fsync, rename), so a crash leaves either the
// old or the new policy.
type Embedded struct {
	path string
	now  func() time.Time

	mu sync.Mutex
}

var _ policy.Store = (*Embedded)(nil)

const embeddedFile = "policy.json"

// NewEmbedded opens the store in dir, creating the folder if missing. If
// the folder holds no policy yet and seed is not nil, the seed's policy is
// stored as version 1 (the seed's own Version is ignored).
func NewEmbedded(dir string, seed func() (policy.Policy, error)) (*Embedded, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("policy store: %w", err)
	}
	e := &Embedded{path: filepath.Join(dir, embeddedFile), now: time.Now}
	if seed == nil {
		return e, nil
	}
	if _, err := os.Stat(e.path); err == nil {
		return e, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("policy store: %w", err)
	}
	p, err := seed()
	if err != nil {
		return nil, fmt.Errorf("policy store seed: %w", err)
	}
	p.Version = 0
	if _, err := e.Apply(context.Background(), p, "seed"); err != nil {
		return nil, fmt.Errorf("policy store seed: %w", err)
	}
	return e, nil
}

// Load returns the stored policy, or an empty Policy with Version 0.
func (e *Embedded) Load(ctx context.Context) (policy.Policy, error) {
	if err := ctx.Err(); err != nil {
		return policy.Policy{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.read()
}

// Apply implements Store.
func (e *Embedded) Apply(ctx context.Context, p policy.Policy, actor string) (policy.Policy, error) {
	if err := ctx.Err(); err != nil {
		return policy.Policy{}, err
	}
	if _, err := policy.NewSnapshot(p); err != nil {
		return policy.Policy{}, fmt.Errorf("apply: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur, err := e.read()
	if err != nil {
		return policy.Policy{}, err
	}
	if cur.Version != p.Version {
		return policy.Policy{}, fmt.Errorf("apply version %d over version %d: %w", p.Version, cur.Version, policy.ErrConflict)
	}
	next := stamp(cur, p.Clone(), actor, e.now().UTC())
	next.Version = cur.Version + 1
	if err := e.write(next); err != nil {
		return policy.Policy{}, err
	}
	return next.Clone(), nil
}

func (e *Embedded) read() (policy.Policy, error) {
	data, err := os.ReadFile(e.path)
	if errors.Is(err, fs.ErrNotExist) {
		return policy.Policy{}, nil
	}
	if err != nil {
		return policy.Policy{}, fmt.Errorf("policy store: %w", err)
	}
	var p policy.Policy
	if err := json.Unmarshal(data, &p); err != nil {
		return policy.Policy{}, fmt.Errorf("policy store %s: %w", e.path, err)
	}
	return p, nil
}

func (e *Embedded) write(p policy.Policy) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("policy store: %w", err)
	}
	return WriteFileAtomic(e.path, append(data, '\n'))
}

// WriteFileAtomic replaces path with data: temporary file, fsync, rename,
// so a crash leaves either the old or the new content.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("policy store: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("policy store: %w", err)
	}
	// Make the rename itself durable; not every platform can sync a folder.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// stamp sets ChangedBy and ChangedAt on every tool of next that is new or
// whose state, definition or note differs from prev, unless the caller set
// its own stamp. Unchanged tools keep prev's stamps. A tool that becomes
// approved is pinned to its current definition (ApprovedHash,
// ApprovedDigest) unless the caller set a new pin itself: whoever approves,
// approves the definition the policy holds at that moment.
func stamp(prev, next policy.Policy, actor string, now time.Time) policy.Policy {
	for name, t := range next.Tools {
		old, existed := prev.Tools[name]
		if t.State == policy.StateApproved && old.State != policy.StateApproved && (t.ApprovedHash == "" || t.ApprovedHash == old.ApprovedHash) {
			t.ApprovedHash, t.ApprovedDigest = t.Hash, t.Digest
		}
		changed := !existed || old.State != t.State || old.Hash != t.Hash ||
			old.Class != t.Class || !slices.Equal(old.Scopes, t.Scopes) || old.Note != t.Note
		switch {
		case !changed:
			t.ChangedBy, t.ChangedAt = old.ChangedBy, old.ChangedAt
		case existed && (t.ChangedBy != old.ChangedBy || !t.ChangedAt.Equal(old.ChangedAt)):
			// The caller stamped the change itself.
		case !existed && t.ChangedBy != "":
		default:
			t.ChangedBy, t.ChangedAt = actor, now
		}
		next.Tools[name] = t
	}
	return next
}
