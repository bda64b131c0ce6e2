package discovery

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/kitegate/kitegate/internal/policy"
)

// Classification decides the first state of a tool discovery has not seen
// before.
type Classification string

// The default classifications (KITEGATE_DEFAULT_CLASSIFICATION). Whatever
// the classification, a sensitive tool (one that reads secrets) starts in
// pending_review.
const (
	// PendingReview: every new tool waits for an admin.
	PendingReview Classification = "pending_review"
	// Approved: every new tool is approved at once.
	Approved Classification = "approved"
	// ApproveReadOnly: new read tools are approved; write, destructive and
	// sensitive tools wait for an admin.
	ApproveReadOnly Classification = "approve-read-only"
)

// ParseClassification parses a classification; empty means "the policy's
// default_state decides".
func ParseClassification(s string) (Classification, error) {
	switch c := Classification(s); c {
	case "", PendingReview, Approved, ApproveReadOnly:
		return c, nil
	}
	return "", fmt.Errorf("default classification %q is not one of pending_review, approved, approve-read-only", s)
}

// initialState is the state a new tool of class gets. An empty
// classification falls back to the policy's default_state.
func (c Classification) initialState(class policy.Class, fallback policy.State) policy.State {
	var s policy.State
	switch c {
	case Approved:
		s = policy.StateApproved
	case ApproveReadOnly:
		s = policy.StatePendingReview
		if class == policy.ClassRead {
			s = policy.StateApproved
		}
	case PendingReview:
		s = policy.StatePendingReview
	default:
		switch fallback {
		case policy.StateApproved, policy.StateDisabled:
			s = fallback
		default:
			s = policy.StatePendingReview
		}
	}
	if s == policy.StateApproved && class != policy.ClassRead && class != policy.ClassWrite && class != policy.ClassDestructive {
		// Sensitive (or unknown) tools are never approved by a default.
		s = policy.StatePendingReview
	}
	return s
}

// Changes are the tool names a reconciliation changed, each list sorted.
type Changes struct {
	// Added tools are new to the policy (or back after being removed).
	Added []string `json:"added,omitempty"`
	// Changed tools have a new definition hash; Demoted are those of them
	// that were approved and went back to pending_review.
	Changed []string `json:"changed,omitempty"`
	Demoted []string `json:"demoted,omitempty"`
	// Removed tools left the catalog.
	Removed []string `json:"removed,omitempty"`
	// Unavailable tools were just hidden because the token lacks a scope
	// they need; Restored ones got their scopes back.
	Unavailable []string `json:"unavailable,omitempty"`
	Restored    []string `json:"restored,omitempty"`
	// Updated lists every tool whose item differs, for whatever reason.
	Updated []string `json:"-"`
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool { return len(c.Updated) == 0 }

// tokenScopes is what the token can do: nil when unknown (the token could
// not be read), in which case availability is left as it is.
type tokenScopes map[string]bool

func newTokenScopes(scopes []string) tokenScopes {
	s := make(tokenScopes, len(scopes))
	for _, sc := range scopes {
		s[sc] = true
	}
	return s
}

func (s tokenScopes) lacks(need []string) bool {
	for _, n := range need {
		if !s[n] {
			return true
		}
	}
	return false
}

// Reconcile is the one catalog-to-policy reconciliation (below), with the
// token's scopes unknown, so availability is left as it is. `make
// policy-apply` reconciles the policy file with it, the local start runs a
// discovery pass, and the discovery function runs it with the token's
// scopes: a new, changed or removed tool is treated alike everywhere.
func Reconcile(p policy.Policy, catalog []policy.Tool, cls Classification, now time.Time) (policy.Policy, Changes) {
	return reconcile(p, catalog, cls, nil, now)
}

// reconcile brings p in line with the catalog and the token's scopes and
// returns the result (p is not modified) and what changed:
//
//   - a catalog tool the policy lacks (or holds as removed) is added in
//     its initial state (cls);
//   - an approved tool whose catalog hash differs from the hash it was
//     approved at goes back to pending_review, and Change records both
//     hashes and which parts changed;
//   - a policy tool the catalog lacks becomes removed;
//   - while the token lacks a scope a pending_review or approved tool
//     needs, the tool is unavailable and ResumeState remembers its state;
//     once the token has the scopes it returns to that state. Unknown
//     scopes (token unreadable) leave availability as it is;
//   - every other state (an admin's approve, disable, review) is kept.
func reconcile(p policy.Policy, catalog []policy.Tool, cls Classification, scopes tokenScopes, now time.Time) (policy.Policy, Changes) {
	next := p
	next.Tools = make(map[string]policy.Tool, len(p.Tools)+len(catalog))
	for name, t := range p.Tools {
		next.Tools[name] = t
	}
	var ch Changes
	inCatalog := make(map[string]bool, len(catalog))
	for _, c := range catalog {
		inCatalog[c.Name] = true
		old, exists := p.Tools[c.Name]
		t := old
		if !exists || old.State == policy.StateRemoved {
			t = policy.Tool{Name: c.Name, State: cls.initialState(c.Class, p.Settings.DefaultState), Note: old.Note}
			if t.State == policy.StateApproved {
				t.ApprovedHash, t.ApprovedDigest = c.Hash, c.Digest
			}
			ch.Added = append(ch.Added, c.Name)
		} else if old.Hash != "" && old.Hash != c.Hash {
			ch.Changed = append(ch.Changed, c.Name)
		}
		t.Hash, t.Digest, t.Class, t.Scopes = c.Hash, c.Digest, c.Class, slices.Clone(c.Scopes)

		// The state the tool has, availability aside.
		state := t.State
		if state == policy.StateUnavailable {
			state = t.ResumeState
			if state == "" {
				state = policy.StatePendingReview
			}
		}
		if state == policy.StateApproved {
			// The pin: the hash the tool was approved at. A tool approved by
			// hand (console) has none yet: it was approved as the policy
			// held it.
			pin, pinDigest := t.ApprovedHash, t.ApprovedDigest
			if pin == "" {
				pin, pinDigest = old.Hash, old.Digest
			}
			if pin != "" && pin != c.Hash {
				parts := pinDigest.Parts(c.Digest)
				if pinDigest == (policy.Digest{}) || len(parts) == 0 {
					parts = []string{"definition"}
				}
				t.Change = policy.Change{FromHash: pin, ToHash: c.Hash, Parts: parts, At: now}
				t.ApprovedHash, t.ApprovedDigest = "", policy.Digest{}
				state = policy.StatePendingReview
				ch.Demoted = append(ch.Demoted, c.Name)
			} else {
				t.ApprovedHash, t.ApprovedDigest = c.Hash, c.Digest
			}
		}

		switch {
		case scopes == nil && t.State == policy.StateUnavailable:
			t.ResumeState = state
		case scopes != nil && scopes.lacks(c.Scopes) && (state == policy.StateApproved || state == policy.StatePendingReview):
			if t.State != policy.StateUnavailable {
				ch.Unavailable = append(ch.Unavailable, c.Name)
			}
			t.State, t.ResumeState = policy.StateUnavailable, state
		default:
			if t.State == policy.StateUnavailable {
				ch.Restored = append(ch.Restored, c.Name)
			}
			t.State, t.ResumeState = state, ""
		}
		next.Tools[c.Name] = t
	}
	for _, name := range sortedNames(p.Tools) {
		t := p.Tools[name]
		if inCatalog[name] || t.State == policy.StateRemoved {
			continue
		}
		t.State, t.ResumeState = policy.StateRemoved, ""
		next.Tools[name] = t
		ch.Removed = append(ch.Removed, name)
	}
	for _, name := range sortedNames(next.Tools) {
		if old, ok := p.Tools[name]; !ok || !sameJSON(old, next.Tools[name]) {
			ch.Updated = append(ch.Updated, name)
		}
	}
	for _, l := range [][]string{ch.Added, ch.Changed, ch.Demoted, ch.Unavailable, ch.Restored} {
		slices.Sort(l)
	}
	return next, ch
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// sameJSON compares two values by their JSON form, which ignores what
// reflect.DeepEqual trips on (nil against empty lists, time zones).
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
