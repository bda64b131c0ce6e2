package mcpserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/identity/devtokens"
	"github.com/kitegate/kitegate/internal/mcpserver"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policyfile"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/serve"
	"github.com/kitegate/kitegate/internal/tools"
)

// testPolicy: everyone reads; the platform-oncall group also operates builds;
// create_build is approved but only in build-operations; cancel_build is
// pending review.
const testPolicy = `
default_state: pending_review
server: enabled
tools:
  - {name: current_user, state: approved}
  - {name: list_pipelines, state: approved}
  - {name: get_pipeline, state: approved}
  - {name: list_builds, state: approved}
  - {name: get_build, state: approved}
  - {name: list_jobs, state: approved}
  - {name: get_job, state: approved}
  - {name: tail_logs, state: approved}
  - {name: create_build, state: approved}
toolsets:
  - name: build-operations
    tools: [create_build]
profiles:
  - name: everyone
    groups: ["*"]
    toolsets: [read-only]
  - name: builds-operator
    groups: [platform-oncall]
    toolsets: [read-only, build-operations]
`

const devTokens = `
tokens:
  alice-token: {sub: alice, email: alice@example.com, groups: [engineering]}
  bob-token: {sub: bob, email: bob@example.com, groups: [platform-oncall]}
`

type stack struct {
	url       string
	handler   http.Handler
	sim       *buildkitetest.Server
	store     *policystore.Embedded
	auditPath string
	logs      *syncBuffer
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

func newStack(t testing.TB, mutate func(*stack, *mcpserver.Config), simOpts ...buildkitetest.Option) *stack {
	t.Helper()
	dir := t.TempDir()
	s := &stack{sim: buildkitetest.New(simOpts...), auditPath: filepath.Join(dir, "audit.jsonl"), logs: &syncBuffer{}}
	t.Cleanup(s.sim.Close)
	bk, err := buildkite.New(buildkite.Config{BaseURL: s.sim.URL, Tokens: secrets.Static(buildkitetest.DefaultToken), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := tools.Default(bk)
	if err != nil {
		t.Fatal(err)
	}
	cat := discovery.Catalog(catalog)
	s.store, err = policystore.NewEmbedded(filepath.Join(dir, "state"), func() (policy.Policy, error) {
		p, err := policyfile.Parse([]byte(testPolicy))
		p, _ = discovery.Reconcile(p, cat, discovery.PendingReview, time.Now())
		return p, err
	})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokenFile, []byte(devTokens), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := devtokens.Read(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := identity.NewDev(identity.DevConfig{Tokens: tokens, Source: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	aw, err := audit.OpenFile(s.auditPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { aw.Close() })
	ts := httptest.NewUnstartedServer(nil)
	cfg := mcpserver.Config{
		Catalog:        catalog,
		Policy:         policy.NewCache(s.store, 0, nil), // TTL 0: every request sees the latest policy
		Audit:          aw,
		Auth:           auth,
		ResourceURL:    "http://" + ts.Listener.Addr().String() + "/mcp",
		AllowedOrigins: []string{"https://console.example.com"},
		MaxBodyBytes:   64 << 10,
		Logger:         slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(s, &cfg)
	}
	h, err := mcpserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.handler = h
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)
	s.url = ts.URL + "/mcp"
	return s
}

type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.base.RoundTrip(r)
}

func (s *stack) connect(t *testing.T, token, version string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "kitegate-test", Version: "1.0"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint:   s.url,
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: bearer{token, http.DefaultTransport}},
	}
	cs, err := c.Connect(context.Background(), tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect as %s (%s): %v", token, version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func (s *stack) auditEvents(t *testing.T) []audit.Event {
	t.Helper()
	f, err := os.Open(s.auditPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

func TestToolsListFollowsPolicyPerUser(t *testing.T) {
	s := newStack(t, nil)
	reads := []string{"current_user", "get_build", "get_job", "get_pipeline", "list_builds", "list_jobs", "list_pipelines", "tail_logs"}
	if diff := cmp.Diff(reads, toolNames(t, s.connect(t, "alice-token", ""))); diff != "" {
		t.Errorf("alice's tools (-want +got):\n%s", diff)
	}
	ops := append(slices.Clone(reads), "create_build")
	slices.Sort(ops)
	if diff := cmp.Diff(ops, toolNames(t, s.connect(t, "bob-token", ""))); diff != "" {
		t.Errorf("bob's tools (-want +got):\n%s", diff)
	}
}

func TestProtocolVersions(t *testing.T) {
	s := newStack(t, nil)
	for _, v := range []string{"2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"} {
		t.Run(v, func(t *testing.T) {
			cs := s.connect(t, "alice-token", v)
			if got := cs.InitializeResult().ProtocolVersion; got != v {
				t.Errorf("negotiated %s, want %s", got, v)
			}
			if caps := cs.InitializeResult().Capabilities; caps.Tools == nil || caps.Tools.ListChanged {
				t.Errorf("tools capability %+v, want present without listChanged", caps.Tools)
			}
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_pipelines", Arguments: map[string]any{"org_slug": "acme"}})
			if err != nil || res.IsError {
				t.Fatalf("list_pipelines: %v %+v", err, res)
			}
			if !strings.Contains(text(res), `"slug"`) {
				t.Errorf("list_pipelines answered %s", text(res))
			}
		})
	}
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

func TestCallsAreGovernedAndAudited(t *testing.T) {
	s := newStack(t, nil)
	ctx := context.Background()
	alice := s.connect(t, "alice-token", "2025-06-18")

	res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "get_build", Arguments: map[string]any{"org_slug": "acme", "pipeline_slug": pipelineSlug(t, s), "build_number": "1"}})
	if err != nil || res.IsError {
		t.Fatalf("allowed get_build: %v %s", err, text(res))
	}

	// create_build is approved but not in alice's toolsets; access_token is
	// pending review (not listed in the policy); no_such_tool does not exist.
	for _, tc := range []struct{ tool, reason string }{
		{"create_build", "not_in_toolset"},
		{"access_token", "tool_pending_review"},
		{"no_such_tool", "tool_unknown"},
	} {
		_, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: tc.tool, Arguments: map[string]any{}})
		var werr *jsonrpc.Error
		if !errors.As(err, &werr) || werr.Code != jsonrpc.CodeInvalidParams {
			t.Errorf("%s: err = %v, want JSON-RPC -32602", tc.tool, err)
		}
		_ = tc.reason
	}

	events := s.auditEvents(t)
	type row struct{ Tool, User, Decision, Reason, Outcome string }
	var got []row
	for _, e := range events {
		got = append(got, row{e.Tool, e.User.Subject, e.Decision, e.Reason, e.Outcome})
	}
	want := []row{
		{"get_build", "alice", audit.Allowed, "allowed", audit.OutcomeOK},
		{"create_build", "alice", audit.Denied, "not_in_toolset", audit.OutcomeDenied},
		{"access_token", "alice", audit.Denied, "tool_pending_review", audit.OutcomeDenied},
		{"no_such_tool", "alice", audit.Denied, "tool_unknown", audit.OutcomeDenied},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
	// Stateless calls of protocols before 2026-07-28 carry no client info;
	// the protocol version is known.
	if events[0].BuildkiteCalls < 1 || events[0].Client.ProtocolVersion != "2025-06-18" || events[0].LatencyMS <= 0 || events[0].BuildkiteStatus != 200 {
		t.Errorf("allowed event lacks detail: %+v", events[0])
	}
}

func pipelineSlug(t *testing.T, s *stack) string {
	t.Helper()
	return s.sim.Data().Organizations[0].Pipelines[0].Slug
}

func TestKillSwitchesDeny(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *policy.Policy)
		reason string
	}{
		{"tool disabled", func(p *policy.Policy) {
			tl := p.Tools["list_pipelines"]
			tl.State = policy.StateDisabled
			p.Tools["list_pipelines"] = tl
		}, "tool_disabled"},
		{"profile disabled", func(p *policy.Policy) { pr := p.Profiles["everyone"]; pr.Disabled = true; p.Profiles["everyone"] = pr }, "profile_disabled"},
		{"server disabled", func(p *policy.Policy) { p.Settings.ServerDisabled = true }, "server_disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, nil)
			ctx := context.Background()
			alice := s.connect(t, "alice-token", "")
			call := func() error {
				res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: "list_pipelines", Arguments: map[string]any{"org_slug": "acme"}})
				if err == nil && res.IsError {
					err = errors.New(text(res))
				}
				return err
			}
			if err := call(); err != nil {
				t.Fatalf("before the switch: %v", err)
			}
			p, err := s.store.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tt.change(&p)
			if _, err := s.store.Apply(ctx, p, "admin@example.com"); err != nil {
				t.Fatal(err)
			}
			if err := call(); err == nil {
				t.Fatal("call allowed after the switch")
			}
			if slices.Contains(toolNames(t, alice), "list_pipelines") {
				t.Error("tools/list still offers the switched-off tool")
			}
			events := s.auditEvents(t)
			last := events[len(events)-1]
			if last.Decision != audit.Denied || last.Reason != tt.reason {
				t.Errorf("last audit event %s/%s, want denied/%s", last.Decision, last.Reason, tt.reason)
			}
		})
	}
}

// post sends one raw request to the MCP endpoint.
func post(t *testing.T, s *stack, method, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer alice-token")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

const listTools = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`

func TestBadInput(t *testing.T) {
	s := newStack(t, nil)
	tests := []struct {
		name, method, body string
		hdr                map[string]string
		status             int
		bodyHas            string
	}{
		{"GET", http.MethodGet, "", nil, 405, "POST"},
		{"DELETE", http.MethodDelete, "", nil, 405, "POST"},
		{"batch", http.MethodPost, "[" + listTools + "]", nil, 400, "batches are not supported"},
		{"foreign origin", http.MethodPost, listTools, map[string]string{"Origin": "https://evil.example.com"}, 403, "origin"},
		{"allowed origin", http.MethodPost, listTools, map[string]string{"Origin": "https://console.example.com"}, 200, `"cacheScope":"private"`},
		{"loopback origin, production", http.MethodPost, listTools, map[string]string{"Origin": "http://localhost:8080"}, 403, "origin"},
		{"oversized", http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`, nil, 413, "exceeds"},
		{"malformed JSON", http.MethodPost, `{"jsonrpc":"2.0",`, nil, 400, "-32700"},
		{"empty body", http.MethodPost, ``, nil, 400, "empty"},
		{"not an object", http.MethodPost, `"tools/list"`, nil, 400, "-32600"},
		{"unknown method, newest protocol", http.MethodPost, `{"jsonrpc":"2.0","id":7,"method":"admin/escalate"}`, map[string]string{"Mcp-Protocol-Version": "2026-07-28"}, 404, `"id":7`},
		{"unknown method", http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"tools/destroy"}`, nil, 200, "-32601"},
		{"missing token", http.MethodPost, listTools, map[string]string{"Authorization": ""}, 401, ""},
		{"unknown token", http.MethodPost, listTools, map[string]string{"Authorization": "Bearer mallory"}, 401, ""},
		{"notification", http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil, 202, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, s, tt.method, tt.body, tt.hdr)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d (body %q)", resp.StatusCode, tt.status, body)
			}
			if !strings.Contains(body, tt.bodyHas) {
				t.Errorf("body %q does not contain %q", body, tt.bodyHas)
			}
			if tt.status == 401 {
				want := `Bearer resource_metadata="` + strings.TrimSuffix(s.url, "/mcp") + `/.well-known/oauth-protected-resource/mcp"`
				if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, want) {
					t.Errorf("WWW-Authenticate %q, want prefix %q", got, want)
				}
			}
		})
	}
}

// TestLoopbackOrigins: a local server (no OIDC) accepts browser origins on
// this machine, any port, and still refuses every other origin, those
// dressed up as loopback ones included (DNS rebinding).
func TestLoopbackOrigins(t *testing.T) {
	s := newStack(t, func(_ *stack, c *mcpserver.Config) { c.LoopbackOrigins = true })
	for origin, want := range map[string]int{
		"http://localhost":                200,
		"http://localhost:6274":           200,
		"http://127.0.0.1:8080":           200,
		"https://[::1]:443":               200,
		"https://console.example.com":     200, // the allow-list still applies
		"http://evil.example.com":         403,
		"http://localhost.evil.example":   403,
		"http://127.0.0.1.nip.io:8080":    403,
		"http://evil.example@localhost":   403,
		"file://localhost":                403,
		"null":                            403,
		"http://localhost:8080/somewhere": 403,
	} {
		resp, body := post(t, s, http.MethodPost, listTools, map[string]string{"Origin": origin})
		if resp.StatusCode != want {
			t.Errorf("Origin %s: status %d, want %d (%s)", origin, resp.StatusCode, want, body)
		}
	}
}

func TestBadArgumentsMakeNoBuildkiteCall(t *testing.T) {
	s := newStack(t, nil)
	alice := s.connect(t, "alice-token", "")
	tests := []struct {
		name string
		args map[string]any
		want string
	}{
		{"missing org", map[string]any{"pipeline_slug": "x", "build_number": "1"}, "org_slug"},
		{"dot-dot slug", map[string]any{"org_slug": "../../v2/user", "pipeline_slug": "x", "build_number": "1"}, "org_slug"},
		{"encoded slash", map[string]any{"org_slug": "acme", "pipeline_slug": "a%2Fb", "build_number": "1"}, "pipeline_slug"},
		{"wrong type", map[string]any{"org_slug": "acme", "pipeline_slug": "x", "build_number": []int{7}}, "build_number"},
		{"unknown argument", map[string]any{"org_slug": "acme", "pipeline_slug": "x", "build_number": "1", "sudo": true}, "sudo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.sim.ResetRequests()
			res, err := alice.CallTool(context.Background(), &mcp.CallToolParams{Name: "get_build", Arguments: tt.args})
			if err != nil {
				t.Fatal(err)
			}
			if !res.IsError || !strings.Contains(text(res), tt.want) {
				t.Errorf("result %q, want a tool error naming %q", text(res), tt.want)
			}
			if n := len(s.sim.Requests()); n != 0 {
				t.Errorf("%d Buildkite requests made for invalid arguments", n)
			}
		})
	}
	events := s.auditEvents(t)
	if len(events) != len(tests) {
		t.Fatalf("%d audit events for %d calls", len(events), len(tests))
	}
	for _, e := range events {
		if e.Decision != audit.Allowed || e.Outcome != audit.OutcomeInvalidArguments {
			t.Errorf("event %s/%s, want allowed/invalid_arguments", e.Decision, e.Outcome)
		}
	}
}

func TestAPIGatewayEventGivesSameAnswer(t *testing.T) {
	s := newStack(t, nil)
	_, direct := post(t, s, http.MethodPost, listTools, nil)
	resp, err := serve.APIGatewayV2(s.handler)(context.Background(), events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/mcp", Body: listTools,
		Headers: map[string]string{"content-type": "application/json", "accept": "application/json, text/event-stream", "authorization": "Bearer alice-token"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "abc123.execute-api.eu-west-1.amazonaws.com",
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/mcp"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	if diff := cmp.Diff(direct, resp.Body); diff != "" {
		t.Errorf("API Gateway answer differs (-http +lambda):\n%s", diff)
	}
	get, _ := serve.APIGatewayV2(s.handler)(context.Background(), events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/mcp",
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/mcp"}},
	})
	if get.StatusCode != 405 {
		t.Errorf("GET via API Gateway: %d, want 405", get.StatusCode)
	}
}

func TestBuildkiteTokenNeverLeaks(t *testing.T) {
	s := newStack(t, nil)
	ctx := context.Background()
	var answers strings.Builder
	for _, user := range []string{"alice-token", "bob-token"} {
		cs := s.connect(t, user, "")
		for _, call := range []mcp.CallToolParams{
			{Name: "current_user", Arguments: map[string]any{}},
			{Name: "list_builds", Arguments: map[string]any{"org_slug": "acme"}},
			{Name: "get_build", Arguments: map[string]any{"org_slug": "nope", "pipeline_slug": "x", "build_number": "1"}},
			{Name: "create_build", Arguments: map[string]any{"org_slug": "acme", "pipeline_slug": pipelineSlug(t, s), "branch": "main", "message": "nightly"}},
		} {
			res, err := cs.CallTool(ctx, &call)
			if err != nil {
				answers.WriteString(err.Error())
				continue
			}
			b, _ := json.Marshal(res)
			answers.Write(b)
		}
	}
	// A caller who pastes the token into arguments gets it neither logged
	// nor audited.
	_, _ = s.connect(t, "bob-token", "").CallTool(ctx, &mcp.CallToolParams{Name: "create_build", Arguments: map[string]any{
		"org_slug": "acme", "pipeline_slug": pipelineSlug(t, s), "branch": "main", "message": "token " + buildkitetest.DefaultToken}})
	raw, err := os.ReadFile(s.auditPath)
	if err != nil {
		t.Fatal(err)
	}
	for where, text := range map[string]string{"answers": answers.String(), "audit": string(raw), "logs": s.logs.String()} {
		if strings.Contains(text, buildkitetest.DefaultToken) {
			t.Errorf("the Buildkite token appears in %s", where)
		}
	}
	// The callers' own tokens never reach Buildkite.
	for _, r := range s.sim.Requests() {
		if auth := r.Header.Get("Authorization"); auth != "Bearer "+buildkitetest.DefaultToken {
			t.Errorf("Buildkite saw Authorization %q", auth)
		}
	}
	if len(s.sim.Requests()) == 0 {
		t.Error("no Buildkite requests were made")
	}
}

func TestOneAuditEventPerCall(t *testing.T) {
	s := newStack(t, nil)
	ctx := context.Background()
	cs := s.connect(t, "bob-token", "2026-07-28")
	const n = 12
	for i := range n {
		name := []string{"list_pipelines", "current_user", "access_token"}[i%3]
		_, _ = cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{"org_slug": "acme"}})
	}
	_, _ = cs.ListTools(ctx, nil)
	events := s.auditEvents(t)
	if len(events) != n {
		t.Fatalf("%d audit events for %d calls", len(events), n)
	}
	ids := map[string]bool{}
	for _, e := range events {
		ids[e.ID] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct ids for %d events", len(ids), n)
	}
	// The newest protocol sends the client's identity with every request.
	if events[0].Client.Name != "kitegate-test" || events[0].Client.Version != "1.0" {
		t.Errorf("client %+v, want kitegate-test 1.0", events[0].Client)
	}
}

func TestHealthAndMetadata(t *testing.T) {
	s := newStack(t, nil)
	base := strings.TrimSuffix(s.url, "/mcp")
	for _, path := range []string{"/healthz", "/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"} {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
		if strings.HasPrefix(path, "/.well-known") && !strings.Contains(string(b), `"resource":"`+s.url+`"`) {
			t.Errorf("%s: %s does not name the resource %s", path, b, s.url)
		}
	}
}

// TestVersionIsReported: the release that answered is in the MCP server
// info, /healthz and every audit event, so two releases can be told apart.
func TestVersionIsReported(t *testing.T) {
	const release = "v1.4.0-3-gabc1234"
	s := newStack(t, func(_ *stack, c *mcpserver.Config) { c.Version = release })
	cs := s.connect(t, "alice-token", "")
	if got := cs.InitializeResult().ServerInfo.Version; got != release {
		t.Errorf("server info version %q, want %q", got, release)
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "list_pipelines", Arguments: map[string]any{"org_slug": "acme"}}); err != nil {
		t.Fatal(err)
	}
	// Denied (alice has no write tools): an error, and an audit event all the same.
	_, _ = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "create_build", Arguments: map[string]any{}})
	events := s.auditEvents(t)
	if len(events) != 2 {
		t.Fatalf("%d audit events, want 2 (one allowed, one denied)", len(events))
	}
	for _, e := range events {
		if e.ServerVersion != release {
			t.Errorf("audit event of %s (%s): server_version %q, want %q", e.Tool, e.Decision, e.ServerVersion, release)
		}
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(strings.TrimSuffix(s.url, "/mcp") + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var health struct{ Status, Version string }
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil {
		t.Fatal(err)
	}
	if health.Version != release {
		t.Errorf("/healthz version %q, want %q", health.Version, release)
	}
}

func TestChangedDefinitionIsNotServed(t *testing.T) {
	s := newStack(t, nil)
	ctx := context.Background()
	alice := s.connect(t, "alice-token", "")
	p, err := s.store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tl := p.Tools["list_pipelines"]
	tl.ApprovedHash = "sha256:the-definition-an-admin-approved-last-month"
	p.Tools["list_pipelines"] = tl
	if _, err := s.store.Apply(ctx, p, "admin@example.com"); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(toolNames(t, alice), "list_pipelines") {
		t.Error("a tool whose definition changed since approval is still listed")
	}
	_, err = alice.CallTool(ctx, &mcp.CallToolParams{Name: "list_pipelines", Arguments: map[string]any{"org_slug": "acme"}})
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || werr.Code != jsonrpc.CodeInvalidParams {
		t.Fatalf("call: %v, want -32602", err)
	}
	events := s.auditEvents(t)
	if last := events[len(events)-1]; last.Reason != "tool_definition_changed" {
		t.Errorf("audited reason %q", last.Reason)
	}
}
