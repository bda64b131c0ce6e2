package secrets_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
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
	"github.com/kitegate/kitegate/internal/secrets/secretstest"
	"github.com/kitegate/kitegate/internal/tools"
)

const trafficPolicy = `
default_state: pending_review
server: enabled
tools:
  - {name: list_pipelines, state: approved}
  - {name: list_builds, state: approved}
  - {name: get_build, state: approved}
profiles:
  - name: everyone
    groups: ["*"]
    toolsets: [read-only]
`

// auditRecorder keeps the audit events of the calls.
type auditRecorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (a *auditRecorder) Write(_ context.Context, e audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

var _ mcpserver.AuditWriter = (*auditRecorder)(nil)

// statusCounter counts Buildkite's 401 answers.
type statusCounter struct {
	next         http.Handler
	unauthorized atomic.Int64
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

func (s *statusCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.next.ServeHTTP(sw, r)
	if sw.status == http.StatusUnauthorized {
		s.unauthorized.Add(1)
	}
}

// TestRotationDuringTraffic rotates the token, and revokes the old one,
// while MCP clients call tools through the real handler, whose Buildkite
// token comes from Secrets Manager with a cache: no call may fail.
func TestRotationDuringTraffic(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration
	}{
		// Instances re-read the secret often: most switch by TTL.
		{"short token TTL", 5 * time.Millisecond},
		// The cached token outlives the rotation: every instance switches
		// on the 401 of the revoked token (refresh, retry once).
		{"TTL longer than the rotation", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { rotationDuringTraffic(t, tt.ttl) })
	}
}

func rotationDuringTraffic(t *testing.T, ttl time.Duration) {
	const (
		workers     = 8
		maxCalls    = 300 // per worker, before the rotation has finished
		callsBefore = 3   // per worker, before the rotation starts
		callsAfter  = 10  // per worker, after the old token is revoked
	)
	ctx := context.Background()

	sim := buildkitetest.NewHandler(
		buildkitetest.WithToken(newToken, buildkitetest.DefaultScopes...),
		buildkitetest.WithOrgRateLimit(1<<30), buildkitetest.WithUserRateLimit(1<<30),
	)
	counter := &statusCounter{next: sim.Handler()}
	bkSrv := httptest.NewServer(counter)
	t.Cleanup(bkSrv.Close)

	sm := secretstest.New()
	t.Cleanup(sm.Close)
	sm.Put(secretName, oldVersion, `{"token":"`+oldToken+`"}`, "AWSCURRENT")
	sm.ConfigureRotation(secretName, "arn:aws:lambda:us-east-1:123456789012:function:kitegate-rotation")

	// The mcp function's stack, as functions/mcp wires it on Lambda.
	source := secrets.SecretsManager(sm.Client(), secretName, secrets.WithTTL(ttl))
	bk, err := buildkite.New(buildkite.Config{BaseURL: bkSrv.URL, Tokens: source, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := tools.Default(bk)
	if err != nil {
		t.Fatal(err)
	}
	cat := discovery.Catalog(catalog)
	store, err := policystore.NewEmbedded(filepath.Join(t.TempDir(), "state"), func() (policy.Policy, error) {
		p, err := policyfile.Parse([]byte(trafficPolicy))
		p, _ = discovery.Reconcile(p, cat, discovery.PendingReview, time.Now())
		return p, err
	})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := identity.NewDev(identity.DevConfig{Default: identity.Caller{Subject: "dev", Email: "dev@localhost", Groups: []string{"engineering"}, Source: "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &auditRecorder{}
	ts := httptest.NewUnstartedServer(nil)
	h, err := mcpserver.New(mcpserver.Config{
		Catalog:     catalog,
		Policy:      policy.NewCache(store, 0, nil),
		Audit:       rec,
		Auth:        auth,
		ResourceURL: "http://" + ts.Listener.Addr().String() + "/mcp",
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)

	// The rotation function, with the scopes of the same policy.
	rot, err := secrets.NewRotator(secrets.RotatorConfig{
		Secrets: sm.Client(), Tokens: secrets.BuildkiteTokens{BaseURL: bkSrv.URL, Timeout: 5 * time.Second},
		Scopes: secrets.PolicyScopes{Store: store}, MinValidity: 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	sm.SetRotationFunc(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		_, err := rot.Handle(ctx, ev)
		return err
	})

	var (
		calls, failures atomic.Int64
		rotated         atomic.Bool
		ready           sync.WaitGroup
		done            sync.WaitGroup
		failMu          sync.Mutex
		failed          []string
	)
	call := func(cs *mcp.ClientSession, worker, i int) {
		calls.Add(1)
		name, args := "list_pipelines", map[string]any{"org_slug": buildkitetest.SeedOrg}
		if i%2 == 1 {
			name, args = "list_builds", map[string]any{"org_slug": buildkitetest.SeedOrg, "pipeline_slug": buildkitetest.SeedPipeline}
		}
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError {
			failures.Add(1)
			failMu.Lock()
			defer failMu.Unlock()
			if err != nil {
				failed = append(failed, fmt.Sprintf("worker %d call %d %s: %v", worker, i, name, err))
			} else {
				failed = append(failed, fmt.Sprintf("worker %d call %d %s: %s", worker, i, name, text(res)))
			}
		}
	}
	ready.Add(workers)
	done.Add(workers)
	for w := range workers {
		go func() {
			defer done.Done()
			c := mcp.NewClient(&mcp.Implementation{Name: "traffic", Version: "1.0"}, nil)
			cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: ts.URL + "/mcp", HTTPClient: &http.Client{Timeout: 10 * time.Second}}, nil)
			if err != nil {
				failures.Add(1)
				ready.Done()
				return
			}
			defer cs.Close()
			i := 0
			for ; i < callsBefore; i++ {
				call(cs, w, i)
			}
			ready.Done()
			for ; i < maxCalls && !rotated.Load(); i++ {
				call(cs, w, i)
			}
			for range callsAfter {
				for !rotated.Load() { // only when maxCalls ran out first
					time.Sleep(time.Millisecond)
				}
				call(cs, w, i)
				i++
			}
		}()
	}

	ready.Wait()
	res, err := secrets.Stage(ctx, sm.Client(), secretName, newToken, secrets.StageOptions{Rotate: true})
	if err != nil {
		t.Fatal(err)
	}
	rotErr := sm.WaitRotations()[res.RotationVersionID]
	rotated.Store(true)
	done.Wait()
	if rotErr != nil {
		t.Fatalf("rotation: %v", rotErr)
	}

	unauthorized := counter.unauthorized.Load() // each one refreshed and retried
	if _, err := (secrets.BuildkiteTokens{BaseURL: bkSrv.URL}).Describe(ctx, oldToken); err != secrets.ErrTokenRejected {
		t.Errorf("the old token still works: %v", err)
	}
	ok := 0
	rec.mu.Lock()
	for _, e := range rec.events {
		if e.Outcome == audit.OutcomeOK {
			ok++
		}
	}
	rec.mu.Unlock()
	t.Logf("TTL %s: %d calls, %d failed, %d audited ok, %d Buildkite 401s on the revoked token",
		ttl, calls.Load(), failures.Load(), ok, unauthorized)
	if ok != int(calls.Load()) {
		t.Errorf("%d calls audited ok, want %d", ok, calls.Load())
	}
	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d calls failed across the rotation:\n%v", n, calls.Load(), failed)
	}
	if min := int64(workers * (callsBefore + callsAfter)); calls.Load() < min {
		t.Errorf("only %d calls made, want at least %d", calls.Load(), min)
	}
	if ttl >= time.Hour && unauthorized == 0 {
		t.Error("no call met the revoked token: the test did not exercise refresh-on-401")
	}
}

func text(res *mcp.CallToolResult) string {
	var s string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			s += tc.Text
		}
	}
	return s
}
