package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policyfile"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/tools"
)

// The policy the DynamoDB tests run under: list_builds approved; alice-*
// in profile a (4 calls a minute), bob-* in profile b (6), dev in profile
// open (no limit), load-* (group load) in profile load (no limit).
const testPolicy = `
tools:
  - {name: list_builds, state: approved}
  - {name: get_build, state: approved}
profiles:
  - {name: a, toolsets: [read-only], users: [alice-0, alice-1, alice-2], calls_per_minute: 4}
  - {name: b, toolsets: [read-only], users: [bob-0, bob-1, bob-2], calls_per_minute: 6}
  - {name: open, toolsets: [read-only], users: [dev]}
  - {name: load, toolsets: [read-only], groups: [load]}
`

type dynamoEnv struct {
	url    string
	db     *dynamodb.Client
	tables dynamotest.Tables
	store  *policystore.DynamoDB
	calls  *dynamotest.Counter // AWS calls made by the function
	replay *syncBuffer         // the audit fallback (replay lines)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startWithDynamoDB seeds fresh tables with testPolicy and runs the mcp
// function against them, with a Buildkite simulator of generous limits.
// endpoint overrides where the function's AWS calls go (an unreachable
// address to test failure); env adds variables.
func startWithDynamoDB(t testing.TB, endpoint string, env map[string]string) *dynamoEnv {
	t.Helper()
	admin := dynamotest.Client(t)
	e := &dynamoEnv{db: admin, tables: dynamotest.NewTables(t, admin), calls: &dynamotest.Counter{}, replay: &syncBuffer{}}
	e.store = policystore.NewDynamoDB(admin, e.tables.Policy)
	p, err := policyfile.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Apply(t.Context(), reconciled(p, testCatalog(t)), "test"); err != nil {
		t.Fatal(err)
	}
	if endpoint == "" {
		endpoint = dynamotest.Endpoint(t)
	}
	awsAPIOptions = []func(*middleware.Stack) error{e.calls.Middleware}
	auditFallback = e.replay
	t.Cleanup(func() { awsAPIOptions, auditFallback = nil, os.Stdout })

	sim := httptest.NewServer(buildkitetest.NewHandler(buildkitetest.WithUserRateLimit(1_000_000), buildkitetest.WithOrgRateLimit(1_000_000)).Handler())
	t.Cleanup(sim.Close)
	dir := t.TempDir()
	tokens := "tokens:\n  dev-token: {sub: dev, groups: [x]}\n"
	for i := range 3 {
		tokens += fmt.Sprintf("  alice-%d: {sub: alice-%d}\n  bob-%d: {sub: bob-%d}\n", i, i, i, i)
	}
	for i := range loadCallers {
		tokens += fmt.Sprintf("  load-%d: {sub: load-%d, groups: [load]}\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokens.yaml"), []byte(tokens), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if a, ok := env["KITEGATE_ADDR"]; ok {
		addr = a // the caller needed the URL before the start (an IdP's redirect URI)
	}
	vars := map[string]string{
		"KITEGATE_ADDR":             addr,
		"KITEGATE_POLICY_TABLE":     e.tables.Policy,
		"KITEGATE_AUDIT_TABLE":      e.tables.Audit,
		"KITEGATE_RATE_LIMIT_TABLE": e.tables.RateLimit,
		"KITEGATE_POLICY_TTL":       "1h",
		"KITEGATE_DEV_TOKENS":       filepath.Join(dir, "tokens.yaml"),
		"KITEGATE_STATE_DIR":        filepath.Join(dir, "state"),
		"BUILDKITE_API_URL":         sim.URL + "/",
		"BUILDKITE_API_TOKEN":       buildkitetest.DefaultToken,
		"KITEGATE_LOG_LEVEL":        "error",
		"AWS_REGION":                "us-east-1",
		"AWS_ACCESS_KEY_ID":         "local",
		"AWS_SECRET_ACCESS_KEY":     "local",
		"AWS_ENDPOINT_URL":          endpoint,
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) (string, bool) { v, ok := vars[k]; return v, ok }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	e.url = "http://" + addr
	waitAnswering(t, e.url+"/healthz")
	return e
}

// reconciled is p brought in line with the catalog as discovery does it.
func reconciled(p policy.Policy, catalog []policy.Tool) policy.Policy {
	p, _ = discovery.Reconcile(p, catalog, discovery.PendingReview, time.Now())
	return p
}

func testCatalog(t testing.TB) []policy.Tool {
	t.Helper()
	bk, err := buildkite.New(buildkite.Config{BaseURL: "http://127.0.0.1:1/", Tokens: secrets.Static("x"), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tools.Default(bk)
	if err != nil {
		t.Fatal(err)
	}
	return discovery.Catalog(c)
}

// waitAnswering waits until url answers at all (a 503 from /healthz
// counts: the policy may be unreachable on purpose).
func waitAnswering(t testing.TB, url string) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	for range 500 {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func (e *dynamoEnv) connect(t testing.TB, token string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: e.url + "/mcp", HTTPClient: &http.Client{Transport: bearer{token}, Timeout: 30 * time.Second}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func listBuilds(ctx context.Context, cs *mcp.ClientSession) (*mcp.CallToolResult, error) {
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_builds", Arguments: map[string]any{"org_slug": "acme"}})
}

// auditEvents reads every item of the audit table.
func (e *dynamoEnv) auditEvents(t testing.TB) []audit.Event {
	t.Helper()
	var out []audit.Event
	p := dynamodb.NewScanPaginator(e.db, &dynamodb.ScanInput{TableName: aws.String(e.tables.Audit), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			ev, err := audit.EventFromItem(it)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
	}
	return out
}

// Warm tools/list makes no AWS call; warm tools/call makes one audit
// PutItem and one rate-limit UpdateItem.
func TestDynamoDBAWSCallsPerRequest(t *testing.T) {
	e := startWithDynamoDB(t, "", nil)
	cs := e.connect(t, "dev-token")
	if _, err := listBuilds(t.Context(), cs); err != nil { // warm
		t.Fatal(err)
	}
	e.calls.Reset()
	tl, err := cs.ListTools(t.Context(), nil)
	if err != nil || len(tl.Tools) != 2 {
		t.Fatalf("tools/list: %v %v", tl, err)
	}
	if n := e.calls.Counts(); len(n) != 0 {
		t.Errorf("warm tools/list made AWS calls %v, want none", n)
	}
	res, err := listBuilds(t.Context(), cs)
	if err != nil || res.IsError {
		t.Fatalf("tools/call: %v %+v", err, res)
	}
	if got := e.calls.Counts(); len(got) != 2 || got["PutItem"] != 1 || got["UpdateItem"] != 1 {
		t.Errorf("warm tools/call AWS calls %v, want one PutItem and one UpdateItem", got)
	}
}

// Revoking a tool in the table denies it in the running function once the
// policy TTL has passed.
func TestDynamoDBRevocationBitesWithinTTL(t *testing.T) {
	const ttl = 300 * time.Millisecond
	e := startWithDynamoDB(t, "", map[string]string{"KITEGATE_POLICY_TTL": ttl.String()})
	cs := e.connect(t, "dev-token")
	if res, err := listBuilds(t.Context(), cs); err != nil || res.IsError {
		t.Fatalf("before the revocation: %v %+v", err, res)
	}
	p, err := e.store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tool := p.Tools["list_builds"]
	tool.State = policy.StateDisabled
	p.Tools["list_builds"] = tool
	if _, err := e.store.Apply(t.Context(), p, "admin"); err != nil {
		t.Fatal(err)
	}
	// Any snapshot loaded before the revocation is older than the TTL now.
	time.Sleep(ttl + 50*time.Millisecond)
	_, err = listBuilds(t.Context(), cs)
	if err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("after the revocation and the TTL: %v, want the call denied (disabled)", err)
	}
	var denied int
	for _, ev := range e.auditEvents(t) {
		if ev.Tool == "list_builds" && ev.Reason == policy.ReasonToolDisabled && ev.Decision == audit.Denied {
			denied++
		}
	}
	if denied != 1 {
		t.Errorf("%d denied audit items for the revoked tool, want 1", denied)
	}
}

// With the tables unreachable from the first moment the function still
// starts, denies every call as policy_unavailable, and the audit event of
// that denial lands on the fallback log as a replay line.
func TestDynamoDBPolicyUnreachableAtColdStart(t *testing.T) {
	e := startWithDynamoDB(t, "http://127.0.0.1:1", nil) // nothing listens on port 1
	cs := e.connect(t, "dev-token")
	_, err := listBuilds(t.Context(), cs)
	if err == nil || !strings.Contains(err.Error(), "no policy is loaded") {
		t.Fatalf("call with no policy: %v, want denied (policy_unavailable)", err)
	}
	lines := strings.Split(strings.TrimSpace(e.replay.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"audit_replay":true`) || !strings.Contains(lines[0], `"reason":"policy_unavailable"`) {
		t.Fatalf("fallback log %q: want one replay line for the denied call", e.replay.String())
	}
	resp, err := http.Get(e.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz = %d, want 503", resp.StatusCode)
	}
}

// Two profiles hammering at once are each served up to their own limit;
// the rest get a tool error naming when to retry, audited as rate_limited.
func TestDynamoDBTwoProfilesHammeringBothServed(t *testing.T) {
	e := startWithDynamoDB(t, "", nil)
	// A minute boundary inside a run splits its counts over two windows;
	// then the run is repeated with fresh callers.
	for attempt := range 3 {
		minute := time.Now().Truncate(time.Minute)
		alice, bob := e.connect(t, fmt.Sprintf("alice-%d", attempt)), e.connect(t, fmt.Sprintf("bob-%d", attempt))
		type tally struct{ ok, limited int }
		var mu sync.Mutex
		got := map[string]*tally{"alice": {}, "bob": {}}
		var wg sync.WaitGroup
		for range 12 {
			for name, cs := range map[string]*mcp.ClientSession{"alice": alice, "bob": bob} {
				wg.Go(func() {
					res, err := listBuilds(t.Context(), cs)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err != nil:
						t.Errorf("%s: %v", name, err)
					case !res.IsError:
						got[name].ok++
					case strings.Contains(res.Content[0].(*mcp.TextContent).Text, "retry after"):
						got[name].limited++
					default:
						t.Errorf("%s: unexpected tool error %v", name, res.Content)
					}
				})
			}
		}
		wg.Wait()
		if time.Now().Truncate(time.Minute) != minute {
			continue
		}
		if *got["alice"] != (tally{4, 8}) || *got["bob"] != (tally{6, 6}) {
			t.Errorf("alice %+v, bob %+v: want {4 8} and {6 6}", *got["alice"], *got["bob"])
		}
		limited := 0
		for _, ev := range e.auditEvents(t) {
			if ev.Outcome == audit.OutcomeRateLimited && ev.RetryAfterMS > 0 {
				limited++
			}
		}
		if limited != 14 {
			t.Errorf("%d rate_limited audit items, want 14", limited)
		}
		return
	}
	t.Fatal("every attempt crossed a minute boundary")
}
