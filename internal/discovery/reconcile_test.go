package discovery

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/tools"
)

func TestReconcileCases(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d1 := policy.Digest{Description: "d1", InputSchema: "i1", OutputSchema: "o1", Annotations: "a1", Scopes: "s1"}
	d2 := d1
	d2.Description, d2.Scopes = "d2", "s2"
	cat := func(hash string, d policy.Digest, class policy.Class, scopes ...string) []policy.Tool {
		return []policy.Tool{{Name: "x", Hash: hash, Digest: d, Class: class, Scopes: scopes}}
	}
	all := newTokenScopes([]string{"read_builds", "write_builds"})
	none := newTokenScopes(nil)
	tests := []struct {
		name     string
		tool     *policy.Tool // stored; nil: none
		settings policy.State
		catalog  []policy.Tool
		cls      Classification
		scopes   tokenScopes
		want     policy.Tool
		changes  Changes
	}{
		{
			name:    "new sensitive tool is never approved by a default",
			catalog: cat("h1", d1, policy.ClassSensitive), cls: Approved, scopes: all,
			want:    policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassSensitive, State: policy.StatePendingReview},
			changes: Changes{Added: []string{"x"}},
		},
		{
			name:    "approve-read-only leaves a write tool pending",
			catalog: cat("h1", d1, policy.ClassWrite, "write_builds"), cls: ApproveReadOnly, scopes: all,
			want:    policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassWrite, Scopes: []string{"write_builds"}, State: policy.StatePendingReview},
			changes: Changes{Added: []string{"x"}},
		},
		{
			name:    "no classification: the policy's default_state",
			catalog: cat("h1", d1, policy.ClassWrite), settings: policy.StateDisabled, scopes: all,
			want:    policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassWrite, State: policy.StateDisabled},
			changes: Changes{Added: []string{"x"}},
		},
		{
			name:    "approved by hand (no pin) at the current hash: pinned, not demoted",
			tool:    &policy.Tool{Name: "x", Hash: "h1", Class: policy.ClassRead, State: policy.StateApproved, ChangedBy: "console"},
			catalog: cat("h1", d1, policy.ClassRead), scopes: all,
			want: policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassRead, State: policy.StateApproved, ApprovedHash: "h1", ApprovedDigest: d1, ChangedBy: "console"},
		},
		{
			name:    "approved by hand (no pin), then the definition changed: demoted, parts unknown",
			tool:    &policy.Tool{Name: "x", Hash: "h1", Class: policy.ClassRead, State: policy.StateApproved},
			catalog: cat("h2", d2, policy.ClassRead), scopes: all,
			want: policy.Tool{Name: "x", Hash: "h2", Digest: d2, Class: policy.ClassRead, State: policy.StatePendingReview,
				Change: policy.Change{FromHash: "h1", ToHash: "h2", Parts: []string{"definition"}, At: now}},
			changes: Changes{Changed: []string{"x"}, Demoted: []string{"x"}},
		},
		{
			name:    "unavailable and approved, definition changed: resumes pending_review",
			tool:    &policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassRead, Scopes: []string{"read_build_logs"}, State: policy.StateUnavailable, ResumeState: policy.StateApproved, ApprovedHash: "h1", ApprovedDigest: d1},
			catalog: cat("h2", d2, policy.ClassRead, "read_build_logs"), scopes: all,
			want: policy.Tool{Name: "x", Hash: "h2", Digest: d2, Class: policy.ClassRead, Scopes: []string{"read_build_logs"}, State: policy.StateUnavailable, ResumeState: policy.StatePendingReview,
				Change: policy.Change{FromHash: "h1", ToHash: "h2", Parts: []string{"description", "scopes"}, At: now}},
			changes: Changes{Changed: []string{"x"}, Demoted: []string{"x"}},
		},
		{
			name:    "disabled by an admin stays disabled when the token lacks its scope",
			tool:    &policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassWrite, Scopes: []string{"write_builds"}, State: policy.StateDisabled},
			catalog: cat("h1", d1, policy.ClassWrite, "write_builds"), scopes: none,
			want: policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassWrite, Scopes: []string{"write_builds"}, State: policy.StateDisabled},
		},
		{
			name:    "pending tool lacking a scope becomes unavailable",
			tool:    &policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassWrite, Scopes: []string{"write_builds"}, State: policy.StatePendingReview},
			catalog: cat("h1", d1, policy.ClassWrite, "write_builds"), scopes: none,
			want:    policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassWrite, Scopes: []string{"write_builds"}, State: policy.StateUnavailable, ResumeState: policy.StatePendingReview},
			changes: Changes{Unavailable: []string{"x"}},
		},
		{
			name:    "scopes unknown: an unavailable tool stays unavailable",
			tool:    &policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassRead, Scopes: []string{"read_builds"}, State: policy.StateUnavailable, ResumeState: policy.StateApproved, ApprovedHash: "h1", ApprovedDigest: d1},
			catalog: cat("h1", d1, policy.ClassRead, "read_builds"), scopes: nil,
			want: policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassRead, Scopes: []string{"read_builds"}, State: policy.StateUnavailable, ResumeState: policy.StateApproved, ApprovedHash: "h1", ApprovedDigest: d1},
		},
		{
			name:    "unavailable set by hand without a resume state comes back pending",
			tool:    &policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassRead, State: policy.StateUnavailable},
			catalog: cat("h1", d1, policy.ClassRead), scopes: all,
			want:    policy.Tool{Name: "x", Hash: "h1", Digest: d1, Class: policy.ClassRead, State: policy.StatePendingReview},
			changes: Changes{Restored: []string{"x"}},
		},
		{
			name:    "gone from the catalog",
			tool:    &policy.Tool{Name: "x", Hash: "h1", Class: policy.ClassRead, State: policy.StateUnavailable, ResumeState: policy.StateApproved},
			catalog: nil, scopes: all,
			want:    policy.Tool{Name: "x", Hash: "h1", Class: policy.ClassRead, State: policy.StateRemoved},
			changes: Changes{Removed: []string{"x"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := policy.Policy{Version: 4, Settings: policy.Settings{DefaultState: tc.settings}}
			if tc.tool != nil {
				p.Tools = map[string]policy.Tool{"x": *tc.tool}
			}
			next, ch := reconcile(p, tc.catalog, tc.cls, tc.scopes, now)
			if diff := cmp.Diff(tc.want, next.Tools["x"]); diff != "" {
				t.Errorf("tool (-want +got):\n%s", diff)
			}
			wantCh := tc.changes
			if tc.tool == nil || !sameJSON(*tc.tool, tc.want) {
				wantCh.Updated = []string{"x"}
			}
			if diff := cmp.Diff(wantCh, ch); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if next.Version != 4 {
				t.Errorf("version %d", next.Version)
			}
		})
	}
}

// Each reviewable part of a real tool definition has its own digest.
func TestDigestOfParts(t *testing.T) {
	type in struct {
		OrgSlug string `json:"org_slug"`
	}
	type in2 struct {
		OrgSlug string `json:"org_slug"`
		Branch  string `json:"branch,omitempty"`
	}
	type out struct {
		N int `json:"n"`
	}
	fn := func(context.Context, in) (out, error) { return out{}, nil }
	base := tools.Spec{Name: "x", Description: "lists things", Kind: tools.Read, Scopes: []string{"read_builds"}}
	define := func(t *testing.T, s tools.Spec) *tools.Tool {
		tl, err := tools.Define(s, fn)
		if err != nil {
			t.Fatal(err)
		}
		return tl
	}
	a := define(t, base)
	cases := []struct {
		name string
		tool func(t *testing.T) *tools.Tool
		want []string
	}{
		{"same", func(t *testing.T) *tools.Tool { return define(t, base) }, nil},
		{"description", func(t *testing.T) *tools.Tool { s := base; s.Description = "lists more things"; return define(t, s) }, []string{"description"}},
		{"scopes", func(t *testing.T) *tools.Tool {
			s := base
			s.Scopes = []string{"read_builds", "read_suites"}
			return define(t, s)
		}, []string{"scopes"}},
		{"kind", func(t *testing.T) *tools.Tool { s := base; s.Kind = tools.Destructive; return define(t, s) }, []string{"annotations"}},
		{"sensitive has read annotations but another kind", func(t *testing.T) *tools.Tool { s := base; s.Kind = tools.Sensitive; return define(t, s) }, []string{"annotations"}},
		{"input schema", func(t *testing.T) *tools.Tool {
			tl, err := tools.Define(base, func(context.Context, in2) (out, error) { return out{}, nil })
			if err != nil {
				t.Fatal(err)
			}
			return tl
		}, []string{"input_schema"}},
		{"output schema", func(t *testing.T) *tools.Tool {
			tl, err := tools.Define(base, func(context.Context, in) (any, error) { return nil, nil })
			if err != nil {
				t.Fatal(err)
			}
			return tl
		}, []string{"output_schema"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.tool(t)
			if got := DigestOf(a).Parts(DigestOf(b)); !cmp.Equal(tc.want, got) {
				t.Errorf("parts %v, want %v", got, tc.want)
			}
			if (a.Hash() == b.Hash()) != (tc.want == nil) {
				t.Errorf("hash equal %v, parts %v", a.Hash() == b.Hash(), tc.want)
			}
		})
	}
}

func TestParseClassification(t *testing.T) {
	for _, ok := range []string{"", "pending_review", "approved", "approve-read-only"} {
		if _, err := ParseClassification(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"approve_read_only", "disabled", "removed"} {
		if _, err := ParseClassification(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
