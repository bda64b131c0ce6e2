package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/audit"
)

// loadCallers is M, the number of concurrent callers of TestLoadNothingLost;
// startWithDynamoDB gives each a token load-<i>.
const loadCallers = 16

// statusCount counts the HTTP answers a client got, by status class.
type statusCount struct {
	ok, serverError atomic.Int64
	token           string
}

func (s *statusCount) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		if resp.StatusCode >= 500 {
			s.serverError.Add(1)
		} else {
			s.ok.Add(1)
		}
	}
	return resp, err
}

// M concurrent callers, each its own person and MCP session, make K calls
// each against the function with every DynamoDB store on (policy, audit,
// rate limits with budgets too large to bite) and the Buildkite simulator.
// Afterwards the audit table holds exactly one item per call, K for each
// caller, with distinct ids; no answer was a 5xx and no event had to go to
// the replay log.
func TestLoadNothingLost(t *testing.T) {
	const perCaller = 25 // K
	e := startWithDynamoDB(t, "", map[string]string{
		"KITEGATE_BUILDKITE_CALLS_PER_MINUTE":     "100000",
		"KITEGATE_BUILDKITE_ORG_CALLS_PER_MINUTE": "100000",
		"KITEGATE_CALLER_CALLS_PER_MINUTE":        "100000",
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	counts := make([]*statusCount, loadCallers)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for i := range loadCallers {
		counts[i] = &statusCount{token: loadToken(i)}
		wg.Go(func() {
			c := mcp.NewClient(&mcp.Implementation{Name: "load", Version: "1"}, nil)
			cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.url + "/mcp", HTTPClient: &http.Client{Transport: counts[i], Timeout: 30 * time.Second}}, nil)
			if err != nil {
				t.Errorf("caller %d: connect: %v", i, err)
				failed.Add(perCaller)
				return
			}
			defer cs.Close()
			for range perCaller {
				res, err := listBuilds(ctx, cs)
				if err != nil || res.IsError {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()

	const calls = loadCallers * perCaller
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d calls failed", n, calls)
	}
	var answers, fivexx int64
	for _, c := range counts {
		answers += c.ok.Load() + c.serverError.Load()
		fivexx += c.serverError.Load()
	}
	if fivexx != 0 {
		t.Errorf("%d of %d HTTP answers were 5xx", fivexx, answers)
	}
	// Under a loaded machine DynamoDB Local can outlast the writer's time
	// budget; those events go to the fallback log for replay. Nothing lost
	// means: after replaying that log, the table holds every call once.
	if s := e.replay.String(); s != "" {
		w, err := audit.NewDynamoDB(e.db, e.tables.Audit, audit.DynamoDBOptions{Fallback: io.Discard}) // Replay writes no replay lines
		if err != nil {
			t.Fatal(err)
		}
		st, err := w.Replay(ctx, strings.NewReader(s))
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		t.Logf("%d events went to the fallback log and were replayed: %+v", strings.Count(s, "\n"), st)
	}
	events := e.auditEvents(t)
	ids := map[string]bool{}
	perSub := map[string]int{}
	for _, ev := range events {
		ids[ev.ID] = true
		perSub[ev.User.Subject]++
		if ev.Decision != audit.Allowed || ev.Outcome != audit.OutcomeOK {
			t.Errorf("audit item %s: %s/%s %s", ev.ID, ev.Decision, ev.Outcome, ev.Error)
		}
	}
	if len(events) != calls || len(ids) != calls {
		t.Errorf("audit table holds %d items with %d distinct ids for %d calls", len(events), len(ids), calls)
	}
	for i := range loadCallers {
		if n := perSub[loadToken(i)]; n != perCaller {
			t.Errorf("caller %s has %d audit items, want %d", loadToken(i), n, perCaller)
		}
	}
	t.Logf("%d callers × %d calls: %d audit items, %d HTTP answers, none 5xx", loadCallers, perCaller, len(events), answers)
}

// loadToken is caller i's bearer token, which is also its subject.
func loadToken(i int) string { return "load-" + strconv.Itoa(i) }
