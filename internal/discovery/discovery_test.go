package discovery

import (
	"bytes"
	stdcmp "cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/mcpserver"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/tables"
	"github.com/kitegate/kitegate/internal/tools"
)

// Tokens the simulator knows besides buildkitetest.DefaultToken (every scope).
const (
	tokenNoLogs = "bkua_no_log_scope_111111111111111111111111"
	tokenWrong  = "bkua_not_a_token_2222222222222222222222222"
)

// noLogScopes is every scope the catalog needs except read_build_logs.
func noLogScopes() []string {
	return slices.DeleteFunc(slices.Clone(buildkitetest.DefaultScopes), func(s string) bool { return s == "read_build_logs" })
}

// switchableToken is the shared token, which a test can replace (an admin
// fixing the secret).
type switchableToken struct {
	mu    sync.Mutex
	token string
}

var _ buildkite.TokenSource = (*switchableToken)(nil)

func (s *switchableToken) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, nil
}

func (s *switchableToken) Refresh(ctx context.Context, _ string) (string, error) { return s.Token(ctx) }

func (s *switchableToken) set(token string) {
	s.mu.Lock()
	s.token = token
	s.mu.Unlock()
}

// env is a simulator, a client over a switchable token and the catalog.
type env struct {
	sim     *buildkitetest.Server
	token   *switchableToken
	bk      *buildkite.Client
	tools   *tools.Catalog
	catalog []policy.Tool
}

func newEnv(t *testing.T, token string, opts ...buildkitetest.Option) *env {
	t.Helper()
	opts = append(opts, buildkitetest.WithToken(tokenNoLogs, noLogScopes()...))
	e := &env{sim: buildkitetest.New(opts...), token: &switchableToken{token: token}}
	t.Cleanup(e.sim.Close)
	var err error
	e.bk, err = buildkite.New(buildkite.Config{BaseURL: e.sim.URL, Tokens: e.token, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.tools, err = tools.Default(e.bk)
	if err != nil {
		t.Fatal(err)
	}
	e.catalog = Catalog(e.tools)
	return e
}

func (e *env) runner(t *testing.T, s Store, cls Classification, mutate ...func(*Config)) *Runner {
	t.Helper()
	cfg := Config{Store: s, Status: s, Catalog: e.catalog, Token: e.bk, Classification: cls}
	for _, m := range mutate {
		m(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Store is a policy store with its status store, as the functions pair
// them.
type Store interface {
	policy.Store
	StatusStore
}

type pair struct {
	policy.Store
	StatusStore
}

// openEmbedded opens the local pair in dir: policy.json and status.json.
func openEmbedded(dir string) (Store, error) {
	e, err := policystore.NewEmbedded(dir, nil)
	if err != nil {
		return nil, err
	}
	return pair{e, NewFileStatus(dir)}, nil
}

// countingStore counts the writes that reach the store underneath.
type countingStore struct {
	Store
	mu            sync.Mutex
	applies       int
	statusWrites  int
	beforeApply   func() // called once, before the first Apply
	onceBeforeRun sync.Once
}

func (c *countingStore) Apply(ctx context.Context, p policy.Policy, actor string) (policy.Policy, error) {
	if c.beforeApply != nil {
		c.onceBeforeRun.Do(c.beforeApply)
	}
	out, err := c.Store.Apply(ctx, p, actor)
	if err == nil {
		c.mu.Lock()
		c.applies++
		c.mu.Unlock()
	}
	return out, err
}

func (c *countingStore) SaveStatus(ctx context.Context, s Status) (int, error) {
	n, err := c.Store.SaveStatus(ctx, s)
	c.mu.Lock()
	c.statusWrites += n
	c.mu.Unlock()
	return n, err
}

func (c *countingStore) writes() (applies, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applies, c.statusWrites
}

func (c *countingStore) reset() {
	c.mu.Lock()
	c.applies, c.statusWrites = 0, 0
	c.mu.Unlock()
}

// backend opens an empty store; dynamo is the DynamoDB Local call counter
// (nil for the embedded store).
type backend struct {
	name string
	open func(t *testing.T) (Store, *dynamotest.Counter)
}

func backends() []backend {
	return []backend{
		{"embedded", func(t *testing.T) (Store, *dynamotest.Counter) {
			s, err := openEmbedded(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s, nil
		}},
		{"dynamodb", func(t *testing.T) (Store, *dynamotest.Counter) {
			c, counter := dynamotest.CountingClient(t)
			table := dynamotest.NewTable(t, c, tables.Policy)
			counter.Reset()
			return pair{policystore.NewDynamoDB(c, table), NewTableStatus(c, table)}, counter
		}},
	}
}

// dynamoWrites sums the write operations DynamoDB Local received.
func dynamoWrites(c *dynamotest.Counter) int {
	if c == nil {
		return 0
	}
	n := c.Counts()
	return n["TransactWriteItems"] + n["PutItem"] + n["UpdateItem"] + n["DeleteItem"] + n["BatchWriteItem"]
}

func states(p policy.Policy) map[string]policy.State {
	out := map[string]policy.State{}
	for n, t := range p.Tools {
		out[n] = t.State
	}
	return out
}

func load(t *testing.T, s Store) policy.Policy {
	t.Helper()
	p, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, r *Runner) Result {
	t.Helper()
	res, err := r.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The first run on an empty table under each default classification, then
// a second run that writes nothing.
func TestFirstAndSecondRun(t *testing.T) {
	e := newEnv(t, buildkitetest.DefaultToken)
	want := func(approve func(policy.Tool) bool) map[string]policy.State {
		out := map[string]policy.State{}
		for _, c := range e.catalog {
			out[c.Name] = policy.StatePendingReview
			if approve(c) {
				out[c.Name] = policy.StateApproved
			}
		}
		return out
	}
	classes := []struct {
		cls  Classification
		want map[string]policy.State
	}{
		{"", want(func(policy.Tool) bool { return false })},
		{PendingReview, want(func(policy.Tool) bool { return false })},
		{Approved, want(func(c policy.Tool) bool { return c.Class != policy.ClassSensitive })},
		{ApproveReadOnly, want(func(c policy.Tool) bool { return c.Class == policy.ClassRead })},
	}
	if got := want(func(c policy.Tool) bool { return c.Class == policy.ClassRead }); len(got) != 54 {
		t.Fatalf("catalog has %d tools, want 54", len(got))
	}
	for _, b := range backends() {
		for _, tc := range classes {
			t.Run(b.name+"/"+stdcmp.Or(string(tc.cls), "policy-default"), func(t *testing.T) {
				s, dyn := b.open(t)
				cs := &countingStore{Store: s}
				r := e.runner(t, cs, tc.cls)

				first := run(t, r)
				if len(first.Added) != len(e.catalog) || !first.PolicyWritten || first.PolicyVersion != 1 {
					t.Errorf("first run: %d added, written %v, version %d; want %d, true, 1", len(first.Added), first.PolicyWritten, first.PolicyVersion, len(e.catalog))
				}
				p := load(t, s)
				if diff := cmp.Diff(tc.want, states(p)); diff != "" {
					t.Errorf("states (-want +got):\n%s", diff)
				}
				for _, tl := range p.Tools {
					pinned := tl.ApprovedHash == tl.Hash && tl.ApprovedDigest == tl.Digest
					if (tl.State == policy.StateApproved) != pinned || tl.ChangedBy != DefaultActor || tl.Digest == (policy.Digest{}) {
						t.Errorf("tool %s: state %s, pin %q (hash %q), by %q, digest %+v", tl.Name, tl.State, tl.ApprovedHash, tl.Hash, tl.ChangedBy, tl.Digest)
					}
				}
				if applies, status := cs.writes(); applies != 1 || status != 2 {
					t.Errorf("first run: %d policy writes, %d status writes; want 1 and 2", applies, status)
				}
				if dyn != nil {
					if got := dynamoWrites(dyn); got != 3 {
						t.Errorf("first run: %d DynamoDB writes (%v); want 3 (one transaction, two status puts)", got, dyn.Counts())
					}
					dyn.Reset()
				}

				cs.reset()
				second := run(t, r)
				if !second.Changes.Empty() || second.PolicyWritten || second.StatusWrites != 0 || second.PolicyVersion != 1 {
					t.Errorf("second run: %+v; want no change", second)
				}
				if applies, status := cs.writes(); applies != 0 || status != 0 {
					t.Errorf("second run: %d policy writes, %d status writes; want none", applies, status)
				}
				if dyn != nil {
					if got := dynamoWrites(dyn); got != 0 {
						t.Errorf("second run: %d DynamoDB writes (%v); want 0", got, dyn.Counts())
					}
					t.Logf("second run: DynamoDB calls %v", dyn.Counts())
				}
				if diff := cmp.Diff(p, load(t, s)); diff != "" {
					t.Errorf("second run changed the policy (-before +after):\n%s", diff)
				}
			})
		}
	}
}

// An approved tool whose definition changes goes back to review with the
// change recorded; an admin's re-approval pins the new definition.
func TestChangedDefinitionDemotes(t *testing.T) {
	e := newEnv(t, buildkitetest.DefaultToken)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, dyn := b.open(t)
			run(t, e.runner(t, s, ApproveReadOnly))
			before := load(t, s)

			// A new build: get_build's input schema changed, and so did
			// create_build's description (pending: not demoted, not recorded).
			changed := slices.Clone(e.catalog)
			for i, c := range changed {
				switch c.Name {
				case "get_build":
					c.Hash, c.Digest.InputSchema = "sha256:get_build_v2", "0123456789abcdef"
				case "create_build":
					c.Hash, c.Digest.Description = "sha256:create_build_v2", "fedcba9876543210"
				}
				changed[i] = c
			}
			if dyn != nil {
				dyn.Reset()
			}
			res := run(t, e.runner(t, s, ApproveReadOnly, func(c *Config) { c.Catalog = changed }))
			if diff := cmp.Diff(Changes{Changed: []string{"create_build", "get_build"}, Demoted: []string{"get_build"}, Updated: []string{"create_build", "get_build"}}, res.Changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if dyn != nil && dynamoWrites(dyn) != 2 {
				t.Errorf("%d DynamoDB writes (%v); want 2: the transaction, the run summary", dynamoWrites(dyn), dyn.Counts())
			}
			after := load(t, s)
			gb := after.Tools["get_build"]
			old := before.Tools["get_build"]
			wantChange := policy.Change{FromHash: old.Hash, ToHash: "sha256:get_build_v2", Parts: []string{"input_schema"}, At: gb.Change.At}
			if gb.State != policy.StatePendingReview || gb.ApprovedHash != "" || gb.ChangedBy != DefaultActor || gb.Change.At.IsZero() {
				t.Errorf("get_build after the change: %+v", gb)
			}
			if diff := cmp.Diff(wantChange, gb.Change); diff != "" {
				t.Errorf("recorded change (-want +got):\n%s", diff)
			}
			if cb := after.Tools["create_build"]; cb.State != policy.StatePendingReview || !cmp.Equal(policy.Change{}, cb.Change) {
				t.Errorf("create_build: %+v", cb)
			}
			if lb := after.Tools["list_builds"]; lb.State != policy.StateApproved || lb.ChangedAt != before.Tools["list_builds"].ChangedAt {
				t.Errorf("list_builds was touched: %+v", lb)
			}
			st, err := s.LoadStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(st.Discovery.Demoted, []string{"get_build"}) || st.Discovery.PolicyVersion != after.Version {
				t.Errorf("run summary: %+v", st.Discovery)
			}

			// An admin reviews and approves it again: pinned to v2, and the
			// next run leaves it approved and writes nothing.
			gb.State, gb.Note = policy.StateApproved, "reviewed v2"
			after.Tools["get_build"] = gb
			if _, err := s.Apply(ctx, after, "carol"); err != nil {
				t.Fatal(err)
			}
			again := run(t, e.runner(t, s, ApproveReadOnly, func(c *Config) { c.Catalog = changed }))
			if !again.Changes.Empty() || again.StatusWrites != 0 {
				t.Errorf("run after the re-approval: %+v", again)
			}
			if got := load(t, s).Tools["get_build"]; got.State != policy.StateApproved || got.ApprovedHash != "sha256:get_build_v2" || got.ChangedBy != "carol" {
				t.Errorf("re-approved get_build: %+v", got)
			}
		})
	}
}

// A tool gone from the catalog becomes removed; back in it, it is new again.
func TestRemovedTool(t *testing.T) {
	e := newEnv(t, buildkitetest.DefaultToken)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t)
			run(t, e.runner(t, s, Approved))
			without := slices.DeleteFunc(slices.Clone(e.catalog), func(c policy.Tool) bool { return c.Name == "list_agents" })
			res := run(t, e.runner(t, s, Approved, func(c *Config) { c.Catalog = without }))
			if !slices.Equal(res.Removed, []string{"list_agents"}) || len(res.Updated) != 1 {
				t.Errorf("changes: %+v", res.Changes)
			}
			if got := load(t, s).Tools["list_agents"]; got.State != policy.StateRemoved {
				t.Errorf("list_agents: %s, want removed", got.State)
			}
			if res := run(t, e.runner(t, s, Approved, func(c *Config) { c.Catalog = without })); !res.Changes.Empty() {
				t.Errorf("second run without the tool: %+v", res.Changes)
			}
			back := run(t, e.runner(t, s, PendingReview))
			if !slices.Equal(back.Added, []string{"list_agents"}) {
				t.Errorf("tool back: %+v", back.Changes)
			}
			if got := load(t, s).Tools["list_agents"]; got.State != policy.StatePendingReview || got.ApprovedHash != "" {
				t.Errorf("list_agents back: %+v, want pending_review (the classification of today)", got)
			}
		})
	}
}

// everyonePolicy lets every caller use every approved tool.
func everyonePolicy() policy.Policy {
	return policy.Policy{
		Profiles: map[string]policy.Profile{"everyone": {Name: "everyone", Toolsets: []string{policy.ToolsetAllApproved}, Groups: []string{policy.GroupEveryone}}},
	}
}

var logTools = []string{"get_build_failure_summary", "read_logs", "search_logs", "tail_logs"}

// A token without read_build_logs hides the log tools from callers of the
// real MCP handler; fixing the token and running again brings them back.
func TestTokenLackingScopeHidesTools(t *testing.T) {
	e := newEnv(t, tokenNoLogs)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, dyn := b.open(t)
			if _, err := s.Apply(ctx, everyonePolicy(), "seed"); err != nil {
				t.Fatal(err)
			}
			e.token.set(tokenNoLogs)
			r := e.runner(t, s, ApproveReadOnly)
			res := run(t, r)
			if !slices.Equal(res.Unavailable, logTools) {
				t.Errorf("unavailable %v, want %v", res.Unavailable, logTools)
			}
			if res.Token.Status != TokenDegraded || !slices.Equal(res.Token.MissingScopes, []string{"read_build_logs"}) || len(res.Token.Organizations) == 0 {
				t.Errorf("token health: %+v", res.Token)
			}
			p := load(t, s)
			for _, name := range logTools {
				if tl := p.Tools[name]; tl.State != policy.StateUnavailable || tl.ResumeState != policy.StateApproved {
					t.Errorf("%s: %s (resume %s), want unavailable (resume approved)", name, tl.State, tl.ResumeState)
				}
			}
			if again := run(t, r); !again.Changes.Empty() || again.StatusWrites != 0 {
				t.Errorf("second run with the same token: %+v", again)
			}

			cs := connect(t, e, s)
			listed := listTools(t, cs)
			for _, name := range logTools {
				if slices.Contains(listed, name) {
					t.Errorf("tools/list offers %s while the token lacks read_build_logs", name)
				}
			}
			if !slices.Contains(listed, "get_build") {
				t.Errorf("tools/list lacks get_build: %v", listed)
			}
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "tail_logs", Arguments: map[string]any{}}); err == nil {
				t.Error("tail_logs was callable while unavailable")
			}

			// The admin puts a token with the scope in the secret.
			e.token.set(buildkitetest.DefaultToken)
			if dyn != nil {
				dyn.Reset()
			}
			fixed := run(t, r)
			if !slices.Equal(fixed.Restored, logTools) || fixed.Token.Status != TokenOK || len(fixed.Token.MissingScopes) != 0 {
				t.Errorf("after the fix: %+v", fixed)
			}
			if dyn != nil && dynamoWrites(dyn) != 3 {
				t.Errorf("fix run: %d DynamoDB writes (%v); want 3", dynamoWrites(dyn), dyn.Counts())
			}
			for _, name := range logTools {
				if tl := load(t, s).Tools[name]; tl.State != policy.StateApproved || tl.ResumeState != "" {
					t.Errorf("%s after the fix: %s (resume %q)", name, tl.State, tl.ResumeState)
				}
			}
			listed = listTools(t, connect(t, e, s))
			for _, name := range logTools {
				if !slices.Contains(listed, name) {
					t.Errorf("tools/list lacks %s after the fix", name)
				}
			}
		})
	}
}

// connect serves the real MCP handler over s (policy TTL 0) and connects
// the SDK's client as a dev caller.
func connect(t *testing.T, e *env, s policy.Store) *mcp.ClientSession {
	t.Helper()
	auth, err := identity.NewDev(identity.DevConfig{Default: identity.Caller{Subject: "dev", Email: "dev@localhost", Groups: []string{"engineering"}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	h, err := mcpserver.New(mcpserver.Config{
		Catalog:     e.tools,
		Policy:      policy.NewCache(s, 0, nil),
		Audit:       audit.NewJSONLines(&bytes.Buffer{}),
		Auth:        auth,
		ResourceURL: "http://" + ts.Listener.Addr().String() + "/mcp",
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)
	c := mcp.NewClient(&mcp.Implementation{Name: "discovery-test", Version: "1.0"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: ts.URL + "/mcp", HTTPClient: &http.Client{Timeout: 10 * time.Second}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func listTools(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

// A wrong token: the catalog is still reconciled and the token health says
// why it failed; availability is left alone until the token can be read.
func TestWrongToken(t *testing.T) {
	e := newEnv(t, tokenWrong)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := b.open(t)
			e.token.set(tokenWrong)
			var logs bytes.Buffer
			r := e.runner(t, s, ApproveReadOnly, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
			res := run(t, r)
			if len(res.Added) != len(e.catalog) || len(res.Unavailable) != 0 {
				t.Errorf("catalog not reconciled: %+v", res.Changes)
			}
			st, err := s.LoadStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			h := st.Token
			if h.Status != TokenFailed || len(h.Problems) != 1 || !strings.Contains(h.Problems[0], "unauthorized (401)") || !strings.Contains(h.Problems[0], "access-token") {
				t.Errorf("token health: %+v", h)
			}
			if strings.Contains(logs.String(), tokenWrong) || strings.Contains(strings.Join(h.Problems, " "), tokenWrong) {
				t.Error("the token leaked into the log or the status")
			}
			var line struct {
				Msg   string
				Added int
				Token struct{ Status string }
			}
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Msg != "discovery: run" || line.Added != len(e.catalog) || line.Token.Status != TokenFailed {
				t.Errorf("log line %s: %+v, %v", logs.String(), line, err)
			}

			// Unavailable tools stay so while the token cannot be read.
			e.token.set(tokenNoLogs)
			run(t, r)
			e.token.set(tokenWrong)
			if res := run(t, r); !res.Changes.Empty() || res.StatusWrites != 1 {
				t.Errorf("wrong token again: %+v; want no policy change, the health written", res)
			}
			if got := load(t, s).Tools["tail_logs"]; got.State != policy.StateUnavailable {
				t.Errorf("tail_logs: %s, want still unavailable", got.State)
			}
		})
	}
}

// A token that expires within the window is flagged; the flag is only
// written when it changes.
func TestExpiringToken(t *testing.T) {
	const short = "bkua_short_lived_33333333333333333333333333"
	expires := time.Now().Add(72 * time.Hour).Truncate(time.Second).UTC()
	e := newEnv(t, short, buildkitetest.WithExpiringToken(short, expires, buildkitetest.DefaultScopes...))
	s, err := openEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, e.runner(t, s, PendingReview))
	h := res.Token
	if h.Status != TokenDegraded || !h.ExpiringSoon || !h.ExpiresAt.Equal(expires) || len(h.Problems) != 1 || !strings.Contains(h.Problems[0], "expires") {
		t.Errorf("token health: %+v", h)
	}
	wide := run(t, e.runner(t, s, PendingReview, func(c *Config) { c.ExpiryWindow = time.Hour }))
	if wide.Token.Status != TokenOK || wide.Token.ExpiringSoon || wide.StatusWrites != 1 {
		t.Errorf("with a 1h window: %+v", wide)
	}
}

// Overlapping runs end in the state one run alone would reach, with one
// policy write between them.
func TestConcurrentRuns(t *testing.T) {
	e := newEnv(t, tokenNoLogs)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t)
			cs := &countingStore{Store: s}
			const n = 4
			results := make([]Result, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				r := e.runner(t, cs, ApproveReadOnly)
				wg.Go(func() {
					<-start
					results[i], errs[i] = r.Run(context.Background())
				})
			}
			close(start)
			wg.Wait()
			written := 0
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("run %d: %v", i, errs[i])
				}
				if results[i].PolicyWritten {
					written++
				}
			}
			if applies, _ := cs.writes(); written != 1 || applies != 1 {
				t.Errorf("%d runs wrote the policy (%d applies); want exactly 1", written, applies)
			}
			got := load(t, s)

			alone, _ := b.open(t)
			run(t, e.runner(t, alone, ApproveReadOnly))
			want := load(t, alone)
			if got.Version != 1 || !cmp.Equal(states(want), states(got)) {
				t.Errorf("concurrent runs: version %d, states differ from one run's:\n%s", got.Version, cmp.Diff(states(want), states(got)))
			}
			st, err := s.LoadStatus(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Discovery.Added) != len(e.catalog) || st.Token.Status != TokenDegraded {
				t.Errorf("status after concurrent runs: %d added, token %s", len(st.Discovery.Added), st.Token.Status)
			}
		})
	}
}

// A change that lands between a run's read and its write (here an admin
// disabling a tool) makes the run re-read and reconcile again: the admin's
// change is kept, and so is the run's.
func TestConflictRetries(t *testing.T) {
	e := newEnv(t, buildkitetest.DefaultToken)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := b.open(t)
			run(t, e.runner(t, s, PendingReview))
			without := slices.DeleteFunc(slices.Clone(e.catalog), func(c policy.Tool) bool { return c.Name == "list_agents" })
			cs := &countingStore{Store: s, beforeApply: func() {
				p, err := s.Load(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				tl := p.Tools["get_build"]
				tl.State = policy.StateDisabled
				p.Tools["get_build"] = tl
				if _, err := s.Apply(ctx, p, "carol"); err != nil {
					t.Error(err)
				}
			}}
			res := run(t, e.runner(t, cs, PendingReview, func(c *Config) { c.Catalog = without }))
			if res.Attempts != 2 || !res.PolicyWritten || !slices.Equal(res.Removed, []string{"list_agents"}) {
				t.Errorf("run: %+v; want 2 attempts and list_agents removed", res)
			}
			p := load(t, s)
			if p.Tools["get_build"].State != policy.StateDisabled || p.Tools["get_build"].ChangedBy != "carol" || p.Tools["list_agents"].State != policy.StateRemoved || p.Version != 3 {
				t.Errorf("final: v%d get_build %+v list_agents %s", p.Version, p.Tools["get_build"], p.Tools["list_agents"].State)
			}
		})
	}
}

// Runs give up after Attempts conflicts and say so, having written nothing.
func TestConflictGivesUp(t *testing.T) {
	e := newEnv(t, buildkitetest.DefaultToken)
	s, err := openEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := e.runner(t, conflictingStore{s}, PendingReview, func(c *Config) { c.Attempts = 3 })
	res, err := r.Run(t.Context())
	if !errors.Is(err, policy.ErrConflict) || res.Attempts != 3 {
		t.Errorf("Run: %d attempts, %v; want 3 and ErrConflict", res.Attempts, err)
	}
	if got := load(t, s); got.Version != 0 {
		t.Errorf("policy written: version %d", got.Version)
	}
}

type conflictingStore struct{ Store }

func (conflictingStore) Apply(context.Context, policy.Policy, string) (policy.Policy, error) {
	return policy.Policy{}, policy.ErrConflict
}
