package policy_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policyfile"
)

// The example policy file (infra/policy.yaml) through the policy model: its
// YAML is read by policyfile, which this package's own tests cannot import.

func TestInfraPolicy(t *testing.T) {
	p, err := policyfile.Load("../../infra/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := policy.MustSnapshot(t, policy.WithCatalog(p, policy.StatePendingReview))
	// The example policy approves every read tool of the catalog for
	// everyone, and no write or sensitive one.
	var wantRead []string
	for _, c := range policy.TestCatalog() {
		if c.Class == policy.ClassRead {
			wantRead = append(wantRead, c.Name)
		}
	}
	slices.Sort(wantRead)
	if len(wantRead) != 37 {
		t.Fatalf("the test catalog has %d read tools, want 37 (38 read-only tools, get_job_env sensitive)", len(wantRead))
	}
	tests := []struct {
		name string
		sub  policy.Subject
		want []string
	}{
		{"any authenticated user", policy.Subject{ID: "someone"}, wantRead},
		{"engineering without a sub", policy.Subject{Groups: []string{"engineering"}}, wantRead},
		{"on-call: build operations are still pending review", policy.Subject{ID: "x", Groups: []string{"platform-oncall"}}, wantRead},
		{"unauthenticated", policy.Subject{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, s.Allowed(s.Profiles(tt.sub))); diff != "" {
				t.Errorf("Allowed mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if d := s.Decide(policy.Subject{ID: "x", Groups: []string{"platform-oncall"}}, "create_build"); d.Reason != policy.ReasonToolPendingReview {
		t.Errorf("create_build: %+v, want pending review", d)
	}
	if d := s.Decide(policy.Subject{ID: "x", Groups: []string{"platform-oncall"}}, "cancel_build"); d.Reason != policy.ReasonToolPendingReview {
		t.Errorf("cancel_build (not in the file, default state): %+v, want pending review", d)
	}

	// Once an admin approves the build operations, on-call gets them and nobody else does.
	p2 := s.Policy()
	for _, name := range []string{"create_build", "cancel_build", "retry_job"} {
		tool := p2.Tools[name]
		tool.State = policy.StateApproved
		p2.Tools[name] = tool
	}
	s2 := policy.MustSnapshot(t, p2)
	oncall := s2.Allowed(s2.Profiles(policy.Subject{ID: "x", Groups: []string{"platform-oncall"}}))
	wantOncall := append([]string{"cancel_build", "create_build", "retry_job"}, wantRead...)
	slices.Sort(wantOncall)
	if diff := cmp.Diff(wantOncall, oncall); diff != "" {
		t.Errorf("on-call after approval mismatch (-want +got):\n%s", diff)
	}
	if d := s2.Decide(policy.Subject{ID: "y", Groups: []string{"engineering"}}, "create_build"); d.Reason != policy.ReasonNotInToolset {
		t.Errorf("engineering create_build: %+v, want not_in_toolset", d)
	}
	if pr, _ := s2.Profile("builds-operator"); pr.CallsPerMinute != 30 {
		t.Errorf("builds-operator calls_per_minute = %d, want 30", pr.CallsPerMinute)
	}
}

// Allowed agrees with Decide on the example policy file too (the rest of
// TestAllowedMatchesDecide is in snapshot_test.go).
func TestAllowedMatchesDecideInfraPolicy(t *testing.T) {
	p, err := policyfile.Load("../../infra/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := policy.MustSnapshot(t, policy.WithCatalog(p, policy.StatePendingReview))
	policy.CheckAllowedMatchesDecide(t, s, []policy.Subject{
		{}, {ID: "u"}, {ID: "u", Groups: []string{"platform-oncall"}}, {Groups: []string{"platform-oncall"}},
		{Groups: []string{"engineering"}},
	})
}

func BenchmarkDecide(b *testing.B) {
	p, err := policyfile.Load("../../infra/policy.yaml")
	if err != nil {
		b.Fatal(err)
	}
	s := policy.MustSnapshot(b, policy.WithCatalog(p, policy.StatePendingReview))
	cases := []struct {
		name string
		sub  policy.Subject
		tool string
	}{
		{"allowed", policy.Subject{ID: "u1", Email: "Dev@Example.com", Groups: []string{"engineering", "platform-oncall"}}, "get_build"},
		{"not_in_toolset", policy.Subject{ID: "u1", Groups: []string{"engineering"}}, "cancel_build"},
		{"pending", policy.Subject{ID: "u1"}, "create_build"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Decide(c.sub, c.tool)
			}
		})
	}
}

func BenchmarkAllowed(b *testing.B) {
	p, err := policyfile.Load("../../infra/policy.yaml")
	if err != nil {
		b.Fatal(err)
	}
	p.Tools = nil // approve the whole catalog for a realistic tools/list
	s := policy.MustSnapshot(b, policy.WithCatalog(p, policy.StateApproved))
	sub := policy.Subject{ID: "u1", Groups: []string{"engineering", "platform-oncall"}}
	b.ReportAllocs()
	for b.Loop() {
		s.Allowed(s.Profiles(sub))
	}
}
