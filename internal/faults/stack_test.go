package faults_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/mcpserver"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policyfile"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/tools"
)

// faultPolicy lets everyone call the read-only tools the tests use.
const faultPolicy = `
default_state: pending_review
server: enabled
tools:
  - {name: get_build, state: approved}
  - {name: list_builds, state: approved}
profiles:
  - name: everyone
    groups: ["*"]
    toolsets: [read-only]
`

// recorder keeps audit events in memory.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recorder) Write(_ context.Context, e audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) all() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]audit.Event(nil), r.events...)
}

var _ mcpserver.AuditWriter = (*recorder)(nil)

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

// clock is a settable time for caches and simulators.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	// Near the real time (DynamoDB Local deletes items whose TTL has
	// passed), 20 s into a minute so that rate-limit resets are 40 s.
	return &clock{t: time.Now().Truncate(time.Minute).Add(20 * time.Second)}
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// stackConfig says what to put around the real handler; zero values take a
// fresh simulator, a static token, a 5 s Buildkite timeout, the embedded
// policy store read on every request and an in-memory audit.
type stackConfig struct {
	apiURL  string // Buildkite API base URL; default the simulator's
	simOpts []buildkitetest.Option
	tokens  buildkite.TokenSource
	timeout time.Duration
	// policy builds the policy source from the seeded policy and this
	// build's catalog.
	policy  func(p policy.Policy) mcpserver.PolicySource
	audit   mcpserver.AuditWriter
	limiter mcpserver.RateLimiter
	now     func() time.Time
}

type stack struct {
	sim   *buildkitetest.Server
	audit *recorder // nil when stackConfig.audit was given
	logs  *syncBuffer
	cs    *mcp.ClientSession
}

// seedPolicy is faultPolicy reconciled with the catalog of this build.
func seedPolicy(t testing.TB, catalog *tools.Catalog) policy.Policy {
	t.Helper()
	p, err := policyfile.Parse([]byte(faultPolicy))
	if err != nil {
		t.Fatal(err)
	}
	p, _ = discovery.Reconcile(p, discovery.Catalog(catalog), discovery.PendingReview, time.Now())
	return p
}

// start runs the real handler on a loopback listener and connects the MCP
// SDK's client to it as alice.
func start(t *testing.T, cfg stackConfig) *stack {
	t.Helper()
	s := &stack{sim: buildkitetest.New(cfg.simOpts...), logs: &syncBuffer{}}
	t.Cleanup(s.sim.Close)
	if cfg.apiURL == "" {
		cfg.apiURL = s.sim.URL
	}
	if cfg.tokens == nil {
		cfg.tokens = secrets.Static(buildkitetest.DefaultToken)
	}
	if cfg.timeout == 0 {
		cfg.timeout = 5 * time.Second
	}
	logger := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	bk, err := buildkite.New(buildkite.Config{BaseURL: cfg.apiURL, Tokens: cfg.tokens, Timeout: cfg.timeout})
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := tools.Default(bk)
	if err != nil {
		t.Fatal(err)
	}
	seed := seedPolicy(t, catalog)
	var src mcpserver.PolicySource
	if cfg.policy != nil {
		src = cfg.policy(seed)
	} else {
		store, err := policystore.NewEmbedded(filepath.Join(t.TempDir(), "state"), func() (policy.Policy, error) { return seed, nil })
		if err != nil {
			t.Fatal(err)
		}
		src = policy.NewCache(store, 0, nil)
	}
	aw := cfg.audit
	if aw == nil {
		s.audit = &recorder{}
		aw = s.audit
	}
	auth, err := identity.NewDev(identity.DevConfig{Default: identity.Caller{Subject: "alice", Email: "alice@example.com", Groups: []string{"engineering"}, Source: "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	h, err := mcpserver.New(mcpserver.Config{
		Catalog:     catalog,
		Policy:      src,
		Audit:       aw,
		Auth:        auth,
		RateLimiter: cfg.limiter,
		ResourceURL: "http://" + ts.Listener.Addr().String() + "/mcp",
		Logger:      logger,
		Now:         cfg.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)

	c := mcp.NewClient(&mcp.Implementation{Name: "faults", Version: "1"}, nil)
	s.cs, err = c.Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint:   ts.URL + "/mcp",
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cs.Close() })
	return s
}

// listBuilds calls list_builds for the seeded pipeline: one Buildkite
// request.
func (s *stack) listBuilds(t *testing.T) (*mcp.CallToolResult, error) {
	t.Helper()
	return s.cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "list_builds", Arguments: map[string]any{
		"org_slug": buildkitetest.SeedOrg, "pipeline_slug": buildkitetest.SeedPipeline,
	}})
}

// mustOK fails the test unless the call succeeded.
func mustOK(t *testing.T, res *mcp.CallToolResult, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if res.IsError {
		t.Fatalf("call: tool error %q", text(res))
	}
}

// toolError returns the text of a tool error, failing the test for anything else.
func toolError(t *testing.T, res *mcp.CallToolResult, err error) string {
	t.Helper()
	if err != nil {
		t.Fatalf("call: protocol error %v, want a tool error", err)
	}
	if !res.IsError {
		t.Fatalf("call succeeded (%.200s), want a tool error", text(res))
	}
	return text(res)
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// failedCall calls list_builds and returns its tool error.
func (s *stack) failedCall(t *testing.T) string {
	t.Helper()
	res, err := s.listBuilds(t)
	return toolError(t, res, err)
}
