package ratelimit

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/tables"
)

// testNow is a fixed clock half way through the current minute. It is
// near the real time on purpose: DynamoDB Local deletes items whose TTL
// has passed, and a counter item dated in the past would vanish mid-test.
func testNow() time.Time {
	return time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
}

// hammer sends n concurrent Takes for c and counts the results by scope
// ("" for allowed).
func hammer(t *testing.T, l *DynamoDB, c Call, n int) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r, err := l.Take(t.Context(), c)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[r.Scope]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return got
}

func TestTwoProfilesHammeringBothServedWithinTheirLimits(t *testing.T) {
	c := dynamotest.Client(t)
	table := dynamotest.NewTable(t, c, tables.RateLimit)
	now := testNow()
	l := NewDynamoDB(c, table, Limits{TokenPerMinute: 100, CallerPerMinute: -1}, func() time.Time { return now })

	var wg sync.WaitGroup
	var alice, bob map[string]int
	wg.Go(func() { alice = hammer(t, l, Call{Subject: "alice", Profile: "a", ProfileLimit: 7, Org: "acme"}, 30) })
	wg.Go(func() { bob = hammer(t, l, Call{Subject: "bob", Profile: "b", ProfileLimit: 11, Org: "acme"}, 30) })
	wg.Wait()
	if diff := cmp.Diff(map[string]int{"": 7, ScopeProfile: 23}, alice); diff != "" {
		t.Errorf("alice (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"": 11, ScopeProfile: 19}, bob); diff != "" {
		t.Errorf("bob (-want +got):\n%s", diff)
	}
	// The next minute starts afresh.
	now = now.Add(time.Minute)
	if r, err := l.Take(t.Context(), Call{Subject: "alice", Profile: "a", ProfileLimit: 7}); err != nil || !r.Allowed {
		t.Errorf("next minute: %+v %v", r, err)
	}
}

func TestSharedTokenBudgetIsSharedFairly(t *testing.T) {
	c := dynamotest.Client(t)
	table := dynamotest.NewTable(t, c, tables.RateLimit)
	now := testNow()
	l := NewDynamoDB(c, table, Limits{TokenPerMinute: 10}, func() time.Time { return now })

	var wg sync.WaitGroup
	var alice, bob map[string]int
	wg.Go(func() { alice = hammer(t, l, Call{Subject: "alice"}, 20) })
	wg.Go(func() { bob = hammer(t, l, Call{Subject: "bob"}, 20) })
	wg.Wait()
	// Each may take half the token budget, so neither starves the other.
	if diff := cmp.Diff(map[string]int{"": 5, ScopeCaller: 15}, alice); diff != "" {
		t.Errorf("alice (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"": 5, ScopeCaller: 15}, bob); diff != "" {
		t.Errorf("bob (-want +got):\n%s", diff)
	}
	r, err := l.Take(t.Context(), Call{Subject: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	next := now.Truncate(time.Minute).Add(time.Minute)
	want := Result{Scope: ScopeToken, Limit: 10, RetryAt: next}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("carol after the budget is spent (-want +got):\n%s", diff)
	}
	if got, want := r.Message(now), "rate limited: kitegate's Buildkite budget of 10 calls per minute is used up; retry after "+next.Format(time.RFC3339)+" (in 30s)"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
}

func TestOrgBudgetAndBuildkiteHeaders(t *testing.T) {
	c, count := dynamotest.CountingClient(t)
	table := dynamotest.NewTable(t, c, tables.RateLimit)
	now := testNow()
	l := NewDynamoDB(c, table, Limits{OrgPerMinute: 2, CallerPerMinute: -1}, func() time.Time { return now })
	for i, want := range []string{"", "", ScopeOrg} {
		r, err := l.Take(t.Context(), Call{Subject: "alice", Org: "acme"})
		if err != nil || r.Scope != want {
			t.Errorf("call %d: %+v %v, want scope %q", i, r, err, want)
		}
	}
	if r, _ := l.Take(t.Context(), Call{Subject: "alice", Org: "other"}); !r.Allowed {
		t.Errorf("another org: %+v, want allowed", r)
	}

	// Buildkite said the budget is spent: held back in memory, no AWS call.
	l.Observe(0, 20*time.Second)
	count.Reset()
	r, err := l.Take(t.Context(), Call{Subject: "bob"})
	if err != nil || r.Scope != ScopeBuildkite || !r.RetryAt.Equal(now.Add(20*time.Second)) {
		t.Errorf("after Observe(0, 20s): %+v %v", r, err)
	}
	if n := count.Total(); n != 0 {
		t.Errorf("%d AWS calls while blocked, want 0", n)
	}
	now = now.Add(21 * time.Second)
	if r, _ := l.Take(t.Context(), Call{Subject: "bob"}); !r.Allowed {
		t.Errorf("after the reset: %+v", r)
	}
	if got := count.Counts(); got["UpdateItem"] != 1 || len(got) != 1 {
		t.Errorf("AWS calls for one Take: %v, want one UpdateItem", got)
	}
}
