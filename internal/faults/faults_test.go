package faults_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/ratelimit"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/secrets/secretstest"
	"github.com/kitegate/kitegate/internal/tables"
)

// Buildkite answers 429 once the user's budget is spent: the call gets a
// tool error naming when to retry, the audit keeps the 429, and each call
// costs Buildkite exactly one request — go-buildkite's own 429 retries
// (up to 15 minutes) never run.
func TestBuildkiteRateLimitedWithReset(t *testing.T) {
	clk := newClock() // 20 s into the minute: Buildkite's reset is 40 s
	s := start(t, stackConfig{simOpts: []buildkitetest.Option{buildkitetest.WithUserRateLimit(3), buildkitetest.WithClock(clk.now)}})
	for range 3 {
		res, err := s.listBuilds(t)
		mustOK(t, res, err)
	}
	msg := s.failedCall(t)
	if want := "Buildkite rate limit reached (user); retry in 40s"; msg != want {
		t.Errorf("tool error %q, want %q", msg, want)
	}
	// More callers at once while the budget is spent: one request each.
	const more = 10
	var wg sync.WaitGroup
	for range more {
		wg.Go(func() {
			res, err := s.listBuilds(t)
			if err != nil || !res.IsError || !strings.Contains(text(res), "retry in 40s") {
				t.Errorf("call while limited: %v %q", err, text(res))
			}
		})
	}
	wg.Wait()
	if n := len(s.sim.Requests()); n != 3+1+more {
		t.Errorf("Buildkite saw %d requests for %d calls: retries spent the budget", n, 3+1+more)
	}
	events := s.audit.all()
	if len(events) != 3+1+more {
		t.Fatalf("%d audit events for %d calls", len(events), 3+1+more)
	}
	for _, e := range events[3:] {
		if e.Outcome != audit.OutcomeBuildkiteError || e.BuildkiteStatus != http.StatusTooManyRequests || e.BuildkiteCalls != 1 ||
			!strings.Contains(e.Error, "rate_limited (429)") || e.RateLimitRemaining == nil || *e.RateLimitRemaining != 0 {
			t.Errorf("audit event of a limited call: %+v", e)
		}
	}
}

// With the rate limiter on, Buildkite's "0 remaining" holds further calls
// back in memory until its reset: they cost Buildkite nothing and are
// audited as rate_limited with the time to retry.
func TestBuildkiteBudgetSpentHoldsCallsBack(t *testing.T) {
	clk := newClock()
	db := dynamotest.Client(t)
	table := dynamotest.NewTable(t, db, tables.RateLimit)
	limiter := ratelimit.NewDynamoDB(db, table, ratelimit.Limits{TokenPerMinute: 1 << 20, OrgPerMinute: 1 << 20, CallerPerMinute: 1 << 20}, clk.now)
	s := start(t, stackConfig{
		simOpts: []buildkitetest.Option{buildkitetest.WithUserRateLimit(2), buildkitetest.WithClock(clk.now)},
		limiter: limiter,
		now:     clk.now,
	})
	for range 2 { // the second answer says 0 remaining, reset in 40 s
		res, err := s.listBuilds(t)
		mustOK(t, res, err)
	}
	for range 5 {
		msg := s.failedCall(t)
		if !strings.Contains(msg, "Buildkite's rate limit is reached") || !strings.Contains(msg, "(in 40s)") {
			t.Errorf("tool error %q, want Buildkite's limit and the 40 s to its reset", msg)
		}
	}
	if n := len(s.sim.Requests()); n != 2 {
		t.Errorf("Buildkite saw %d requests, want 2: held-back calls must not reach it", n)
	}
	for _, e := range s.audit.all()[2:] {
		if e.Outcome != audit.OutcomeRateLimited || e.RetryAfterMS != 40_000 || e.BuildkiteCalls != 0 {
			t.Errorf("audit event of a held-back call: outcome %s, retry after %d ms, %d Buildkite calls", e.Outcome, e.RetryAfterMS, e.BuildkiteCalls)
		}
	}
}

// 500, 502 and 503 are upstream failures: one request, a clear tool error
// with the status, the status in the audit, and the next call works.
func TestBuildkiteServerErrors(t *testing.T) {
	s := start(t, stackConfig{})
	for _, status := range []int{500, 502, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s.sim.ResetRequests()
			s.sim.FailNext(status, 1)
			msg := s.failedCall(t)
			want := fmt.Sprintf("Buildkite failed to answer for pipeline acme/web-app (HTTP %d); try again shortly", status)
			if msg != want {
				t.Errorf("tool error %q, want %q", msg, want)
			}
			if n := len(s.sim.Requests()); n != 1 {
				t.Errorf("Buildkite saw %d requests, want 1 (no retries)", n)
			}
			events := s.audit.all()
			e := events[len(events)-1]
			if e.Outcome != audit.OutcomeBuildkiteError || e.BuildkiteStatus != status || !strings.Contains(e.Error, fmt.Sprintf("upstream (%d)", status)) {
				t.Errorf("audit event: outcome %s, status %d, error %q", e.Outcome, e.BuildkiteStatus, e.Error)
			}
			res, err := s.listBuilds(t)
			mustOK(t, res, err)
		})
	}
}

// A Buildkite slower than the per-request timeout ends the call with a
// timeout error — not after API Gateway's 30 s, and not after a retry.
func TestBuildkiteSlowResponse(t *testing.T) {
	s := start(t, stackConfig{timeout: 200 * time.Millisecond})
	s.sim.SetLatency(time.Minute) // the simulator waits until the client gives up
	msg := s.failedCall(t)
	if want := "Buildkite did not answer in time for pipeline acme/web-app; try again"; msg != want {
		t.Errorf("tool error %q, want %q", msg, want)
	}
	events := s.audit.all()
	if len(events) != 1 || events[0].Outcome != audit.OutcomeBuildkiteError || !strings.Contains(events[0].Error, "pipeline acme/web-app: timeout") || events[0].BuildkiteStatus != 0 {
		t.Errorf("audit events %+v, want one buildkite_error of kind timeout without a status", events)
	}
	s.sim.SetLatency(0)
	res, err := s.listBuilds(t)
	mustOK(t, res, err)
}

// resetListener accepts connections and resets them at once (SO_LINGER 0),
// as a crashed load balancer would.
func resetListener(t *testing.T) (url string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
		}
	}()
	return "http://" + ln.Addr().String() + "/", accepted
}

// A connection reset is "Buildkite could not be reached", audited, with
// one connection attempt per call.
func TestBuildkiteConnectionReset(t *testing.T) {
	url, accepted := resetListener(t)
	s := start(t, stackConfig{apiURL: url})
	const calls = 3
	for range calls {
		msg := s.failedCall(t)
		if want := "Buildkite could not be reached for pipeline acme/web-app; try again shortly"; msg != want {
			t.Errorf("tool error %q, want %q", msg, want)
		}
	}
	if n := accepted.Load(); n != calls {
		t.Errorf("%d connections for %d calls, want one each", n, calls)
	}
	for _, e := range s.audit.all() {
		if e.Outcome != audit.OutcomeBuildkiteError || !strings.Contains(e.Error, "unavailable") || e.BuildkiteStatus != 0 {
			t.Errorf("audit event: outcome %s, status %d, error %q", e.Outcome, e.BuildkiteStatus, e.Error)
		}
	}
}

const secretID = "kitegate/buildkite"

// Secrets Manager going down after the token was read changes nothing for
// callers, past the token TTL too, and the failing store is not asked
// again on every call.
func TestSecretsManagerDownWarmCache(t *testing.T) {
	sm := secretstest.New()
	t.Cleanup(sm.Close)
	sm.Put(secretID, "v1", `{"token":"`+buildkitetest.DefaultToken+`"}`, "AWSCURRENT")
	clk := newClock()
	src := secrets.SecretsManager(sm.Client(), secretID, secrets.WithTTL(time.Minute), secrets.WithClock(clk.now))
	s := start(t, stackConfig{tokens: src})
	res, err := s.listBuilds(t)
	mustOK(t, res, err)

	sm.SetDown(true)
	clk.add(2 * time.Minute) // past the token TTL: the cache would re-read
	before := sm.Calls("GetSecretValue")
	const calls = 10
	for range calls {
		res, err := s.listBuilds(t)
		mustOK(t, res, err)
	}
	if n := sm.Calls("GetSecretValue") - before; n != 1 {
		t.Errorf("%d Secrets Manager reads during the outage for %d calls, want 1 (then wait before trying again)", n, calls)
	}
	for _, e := range s.audit.all() {
		if e.Outcome != audit.OutcomeOK {
			t.Errorf("audit outcome %s (%s), want ok", e.Outcome, e.Error)
		}
	}
	// Once the retry pause is over the store is asked again, and serves.
	sm.SetDown(false)
	clk.add(time.Minute)
	res, err = s.listBuilds(t)
	mustOK(t, res, err)
	if n := sm.Calls("GetSecretValue") - before; n != 2 {
		t.Errorf("%d Secrets Manager reads after it came back, want 2", n)
	}
}

// With Secrets Manager down before any token was read, a call gets a clear
// error that says so, is audited, and makes no Buildkite request; the token
// appears nowhere.
func TestSecretsManagerDownColdCache(t *testing.T) {
	sm := secretstest.New()
	t.Cleanup(sm.Close)
	sm.Put(secretID, "v1", `{"token":"`+buildkitetest.DefaultToken+`"}`, "AWSCURRENT")
	sm.SetDown(true)
	s := start(t, stackConfig{tokens: secrets.SecretsManager(sm.Client(), secretID)})
	msg := s.failedCall(t)
	if want := "the shared Buildkite token could not be read from its store; try again shortly, and tell an administrator if it persists"; msg != want {
		t.Errorf("tool error %q, want %q", msg, want)
	}
	if n := len(s.sim.Requests()); n != 0 {
		t.Errorf("Buildkite saw %d requests without a token", n)
	}
	events := s.audit.all()
	if len(events) != 1 || events[0].Outcome != audit.OutcomeBuildkiteError || events[0].BuildkiteCalls != 0 ||
		!strings.Contains(events[0].Error, "the Buildkite token could not be read") || !strings.Contains(events[0].Error, "InternalServiceError") {
		t.Errorf("audit events %+v, want one buildkite_error naming the unreadable token", events)
	}

	// Coming back, the next call reads the token and works.
	sm.SetDown(false)
	res, err := s.listBuilds(t)
	mustOK(t, res, err)

	audited, _ := json.Marshal(s.audit.all())
	for where, out := range map[string]string{"answer": msg, "audit": string(audited), "logs": s.logs.String()} {
		if strings.Contains(out, buildkitetest.DefaultToken) {
			t.Errorf("the Buildkite token appears in the %s", where)
		}
	}
}
