package buildkite_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/buildkite"
)

const (
	staleToken = "bkua_stale0000000000000000000000000000000"
	freshToken = "bkua_fresh1111111111111111111111111111111"
)

// tokens is a TokenSource double: it hands out current and, on Refresh,
// moves to next (if any).
type tokens struct {
	mu        sync.Mutex
	current   string
	next      string
	err       error
	refreshed []string
}

var _ buildkite.TokenSource = (*tokens)(nil)

func (s *tokens) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current, s.err
}

func (s *tokens) Refresh(_ context.Context, stale string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshed = append(s.refreshed, stale)
	if s.next != "" {
		s.current = s.next
	}
	return s.current, nil
}

// api is an httptest server with a route per "METHOD /path"; any other
// request fails the test.
type api struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	bodies   []string
}

func newAPI(t *testing.T, routes map[string]http.HandlerFunc) *api {
	t.Helper()
	a := &api{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.requests = append(a.requests, r.Clone(context.Background()))
		a.bodies = append(a.bodies, string(body))
		a.mu.Unlock()
		h, ok := routes[r.Method+" "+r.URL.EscapedPath()]
		if !ok {
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
			http.Error(w, "unexpected", http.StatusTeapot)
			return
		}
		h(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *api) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.requests)
}

func jsonAnswer(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func newClient(t *testing.T, base string, ts buildkite.TokenSource) *buildkite.Client {
	t.Helper()
	c, err := buildkite.New(buildkite.Config{BaseURL: base, Tokens: ts, Timeout: 2 * time.Second, UserAgent: "kitegate-test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func asError(t *testing.T, err error) *buildkite.Error {
	t.Helper()
	var e *buildkite.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *buildkite.Error", err, err)
	}
	return e
}

func TestNewRequiresTokensAndURL(t *testing.T) {
	if _, err := buildkite.New(buildkite.Config{}); err == nil {
		t.Error("New without a token source succeeded")
	}
	if _, err := buildkite.New(buildkite.Config{Tokens: &tokens{}, BaseURL: "ftp://x/"}); err == nil {
		t.Error("New with an ftp base URL succeeded")
	}
}

func TestTokenIsInjected(t *testing.T) {
	a := newAPI(t, map[string]http.HandlerFunc{
		"GET /v2/user": func(w http.ResponseWriter, r *http.Request) {
			if got := r.Header.Get("Authorization"); got != "Bearer "+staleToken {
				t.Errorf("Authorization = %q", got)
			}
			if got := r.Header.Get("User-Agent"); got != "kitegate-test" {
				t.Errorf("User-Agent = %q", got)
			}
			jsonAnswer(200, `{"id":"u1","name":"Sam"}`)(w, r)
		},
	})
	c := newClient(t, a.URL, &tokens{current: staleToken})
	u, err := c.CurrentUser(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "Sam" {
		t.Errorf("user = %+v", u)
	}
}

// acceptOnly answers 401 to every token but good.
func acceptOnly(good string, ok http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+good {
			jsonAnswer(401, `{"message":"Authentication required. Please supply a valid API Access Token"}`)(w, r)
			return
		}
		ok(w, r)
	}
}

func TestRefreshAfter401RetriesOnce(t *testing.T) {
	t.Run("GET", func(t *testing.T) {
		a := newAPI(t, map[string]http.HandlerFunc{
			"GET /v2/user": acceptOnly(freshToken, jsonAnswer(200, `{"name":"Sam"}`)),
		})
		ts := &tokens{current: staleToken, next: freshToken}
		c := newClient(t, a.URL, ts)
		ctx, stats := buildkite.WithStats(context.Background())
		if _, err := c.CurrentUser(ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{staleToken}, ts.refreshed); diff != "" {
			t.Errorf("refreshed (-want +got):\n%s", diff)
		}
		if a.count() != 2 || stats.Calls != 2 || stats.LastStatus != 200 {
			t.Errorf("requests %d, stats %+v; want 2 calls ending 200", a.count(), stats)
		}
	})
	t.Run("POST replays the body", func(t *testing.T) {
		a := newAPI(t, map[string]http.HandlerFunc{
			"POST /v2/organizations/acme/pipelines/web/builds": acceptOnly(freshToken, jsonAnswer(201, `{"number":7}`)),
		})
		c := newClient(t, a.URL, &tokens{current: staleToken, next: freshToken})
		b, err := c.CreateBuild(context.Background(), "acme", "web", buildkite.NewBuild{Commit: "HEAD", Branch: "main", Message: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		if b.Number != 7 || a.count() != 2 {
			t.Fatalf("build %d after %d requests", b.Number, a.count())
		}
		if a.bodies[0] != a.bodies[1] || !strings.Contains(a.bodies[1], `"branch":"main"`) {
			t.Errorf("retried body %q differs from %q", a.bodies[1], a.bodies[0])
		}
	})
	t.Run("second 401 is returned", func(t *testing.T) {
		a := newAPI(t, map[string]http.HandlerFunc{
			"GET /v2/user": acceptOnly("nobody", nil),
		})
		ts := &tokens{current: staleToken, next: freshToken}
		c := newClient(t, a.URL, ts)
		_, err := c.CurrentUser(context.Background())
		if e := asError(t, err); e.Kind != buildkite.Unauthorized || e.Status != 401 {
			t.Errorf("error %+v, want unauthorized 401", e)
		}
		if a.count() != 2 || len(ts.refreshed) != 1 {
			t.Errorf("%d requests, %d refreshes; want 2 and 1", a.count(), len(ts.refreshed))
		}
	})
	t.Run("same token after refresh is not retried", func(t *testing.T) {
		a := newAPI(t, map[string]http.HandlerFunc{
			"GET /v2/user": acceptOnly("nobody", nil),
		})
		c := newClient(t, a.URL, &tokens{current: staleToken})
		_, err := c.CurrentUser(context.Background())
		if e := asError(t, err); e.Kind != buildkite.Unauthorized {
			t.Errorf("kind %s, want unauthorized", e.Kind)
		}
		if a.count() != 1 {
			t.Errorf("%d requests, want 1", a.count())
		}
	})
}

func TestTokenSourceFailureMakesNoRequest(t *testing.T) {
	a := newAPI(t, nil)
	c := newClient(t, a.URL, &tokens{err: errors.New("secrets manager: access denied")})
	_, err := c.CurrentUser(context.Background())
	e := asError(t, err)
	if e.Kind != buildkite.Unauthorized || a.count() != 0 {
		t.Errorf("kind %s after %d requests; want unauthorized and none", e.Kind, a.count())
	}
	// Not "rejected": Buildkite never saw the token.
	if msg := e.SafeMessage(); !strings.Contains(msg, "could not be read") || !strings.Contains(msg, "administrator") {
		t.Errorf("safe message %q", msg)
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		answer     http.HandlerFunc
		want       buildkite.Error
		wantSafe   string
		wantSafeNo string
	}{
		{
			name:     "401",
			answer:   jsonAnswer(401, `{"message":"Authentication required"}`),
			want:     buildkite.Error{Kind: buildkite.Unauthorized, Status: 401, Message: "Authentication required", Resource: "pipeline acme/web"},
			wantSafe: "the shared Buildkite token was rejected; an administrator must check it",
		},
		{
			name:     "403",
			answer:   jsonAnswer(403, `{"message":"Your access token does not have the required scopes for this endpoint. Required scope: read_pipelines"}`),
			want:     buildkite.Error{Kind: buildkite.Forbidden, Status: 403, Message: "Your access token does not have the required scopes for this endpoint. Required scope: read_pipelines", Resource: "pipeline acme/web"},
			wantSafe: "Required scope: read_pipelines",
		},
		{
			name:     "404",
			answer:   jsonAnswer(404, `{"message":"Not Found"}`),
			want:     buildkite.Error{Kind: buildkite.NotFound, Status: 404, Message: "Not Found", Resource: "pipeline acme/web"},
			wantSafe: "Buildkite says pipeline acme/web was not found",
		},
		{
			name:     "404 organization",
			answer:   jsonAnswer(404, `{"message":"No organization found"}`),
			want:     buildkite.Error{Kind: buildkite.NotFound, Status: 404, Message: "No organization found", Resource: "organization acme"},
			wantSafe: "Buildkite says organization acme was not found",
		},
		{
			name:     "429 body reset",
			answer:   jsonAnswer(429, `{"message":"You have exceeded your API rate limit.","scope":"organization","limit":200,"current":201,"reset":23}`, "RateLimit-Reset", "40"),
			want:     buildkite.Error{Kind: buildkite.RateLimited, Status: 429, Message: "You have exceeded your API rate limit.", Scope: "organization", RetryAfter: 23 * time.Second, Resource: "pipeline acme/web"},
			wantSafe: "Buildkite rate limit reached (organization); retry in 23s",
		},
		{
			name:     "429 user header reset",
			answer:   jsonAnswer(429, `{"message":"slow down","scope":"user"}`, "RateLimit-Reset", "40", "RateLimit-User-Reset", "12"),
			want:     buildkite.Error{Kind: buildkite.RateLimited, Status: 429, Message: "slow down", Scope: "user", RetryAfter: 12 * time.Second, Resource: "pipeline acme/web"},
			wantSafe: "Buildkite rate limit reached (user); retry in 12s",
		},
		{
			name:     "400",
			answer:   jsonAnswer(400, `{"message":"page must be a positive integer"}`),
			want:     buildkite.Error{Kind: buildkite.InvalidArgument, Status: 400, Message: "page must be a positive integer", Resource: "pipeline acme/web"},
			wantSafe: "page must be a positive integer",
		},
		{
			name:     "422 with errors",
			answer:   jsonAnswer(422, `{"message":"Validation Failed","errors":[{"field":"branch","code":"missing_field"},"commit is bad"]}`),
			want:     buildkite.Error{Kind: buildkite.Validation, Status: 422, Message: "Validation Failed (branch: missing_field; commit is bad)", Resource: "pipeline acme/web"},
			wantSafe: "Validation Failed (branch: missing_field; commit is bad)",
		},
		{
			name:     "500",
			answer:   jsonAnswer(500, `{"message":"Internal Server Error"}`),
			want:     buildkite.Error{Kind: buildkite.Upstream, Status: 500, Message: "Internal Server Error", Resource: "pipeline acme/web"},
			wantSafe: "HTTP 500",
		},
		{
			name:     "502 not JSON",
			answer:   func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "<html>bad gateway</html>", 502) },
			want:     buildkite.Error{Kind: buildkite.Upstream, Status: 502, Message: "Bad Gateway", Resource: "pipeline acme/web"},
			wantSafe: "HTTP 502",
		},
		{
			name:       "token echoed in a message",
			answer:     jsonAnswer(401, `{"message":"token `+staleToken+` is revoked; Bearer `+staleToken+`; bkua_simulated_token_0000000000000000000"}`),
			want:       buildkite.Error{Kind: buildkite.Unauthorized, Status: 401, Message: "token [redacted] is revoked; [redacted]; [redacted]", Resource: "pipeline acme/web"},
			wantSafeNo: staleToken,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t, map[string]http.HandlerFunc{"GET /v2/organizations/acme/pipelines/web": tt.answer})
			c := newClient(t, a.URL, &tokens{current: staleToken})
			start := time.Now()
			_, err := c.GetPipeline(context.Background(), "acme", "web")
			e := asError(t, err)
			if diff := cmp.Diff(tt.want, *e, cmpError); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !strings.Contains(e.SafeMessage(), tt.wantSafe) {
				t.Errorf("SafeMessage() = %q, want it to contain %q", e.SafeMessage(), tt.wantSafe)
			}
			for _, s := range []string{e.Error(), e.SafeMessage()} {
				if strings.Contains(s, staleToken) || strings.Contains(s, "bkua_") {
					t.Errorf("token in error text %q", s)
				}
			}
			if a.count() != 1 {
				t.Errorf("%d requests, want 1 (no retries)", a.count())
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v: an error answer was retried", d)
			}
		})
	}
}

// cmpError compares the exported fields of Error.
var cmpError = cmp.Comparer(func(a, b buildkite.Error) bool {
	return a.Kind == b.Kind && a.Status == b.Status && a.Message == b.Message &&
		a.RetryAfter == b.RetryAfter && a.Scope == b.Scope && a.Resource == b.Resource
})

func TestTimeoutAndNetworkErrors(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		a := newAPI(t, map[string]http.HandlerFunc{"GET /v2/user": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}})
		defer close(release)
		c, err := buildkite.New(buildkite.Config{BaseURL: a.URL, Tokens: &tokens{current: staleToken}, Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.CurrentUser(context.Background())
		if e := asError(t, err); e.Kind != buildkite.Timeout {
			t.Errorf("kind %s (%v), want timeout", e.Kind, e)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c := newClient(t, "http://"+addr+"/", &tokens{current: staleToken})
		_, err = c.CurrentUser(context.Background())
		e := asError(t, err)
		if e.Kind != buildkite.Unavailable {
			t.Errorf("kind %s (%v), want unavailable", e.Kind, e)
		}
		if strings.Contains(e.Error(), staleToken) {
			t.Errorf("token in %q", e.Error())
		}
	})
}

func TestHostileSegmentsMakeNoRequest(t *testing.T) {
	a := newAPI(t, nil)
	c := newClient(t, a.URL, &tokens{current: staleToken})
	ctx := context.Background()
	const job = "01890a5d-ac96-4b5e-9a3e-6f2f6c1e0d11"
	hostile := []string{"../x", "a/b", "%2F", "", "ünïcode", "ａｃｍｅ", "a b", "-x", "a?b", "a#b", "..", strings.Repeat("a", 101)}
	for _, h := range hostile {
		calls := map[string]func() error{
			"ListPipelines org": func() error { _, _, err := c.ListPipelines(ctx, h, buildkite.PipelineListOptions{}); return err },
			"GetPipeline org":   func() error { _, err := c.GetPipeline(ctx, h, "web"); return err },
			"GetPipeline slug":  func() error { _, err := c.GetPipeline(ctx, "acme", h); return err },
			"GetBuild number":   func() error { _, err := c.GetBuild(ctx, "acme", "web", h, buildkite.BuildOptions{}); return err },
			"ListJobs pipeline": func() error { _, err := c.ListJobs(ctx, "acme", h, "1", buildkite.JobListOptions{}); return err },
			"GetJob job":        func() error { _, err := c.GetJob(ctx, "acme", "", "", h); return err },
			"GetJob pipeline":   func() error { _, err := c.GetJob(ctx, "acme", h, "1", job); return err },
			"JobLogTail job":    func() error { _, err := c.JobLogTail(ctx, "acme", "web", "1", h, 100); return err },
			"CreateBuild org": func() error {
				_, err := c.CreateBuild(ctx, h, "web", buildkite.NewBuild{Commit: "HEAD", Branch: "main"})
				return err
			},
		}
		if h != "" {
			calls["ListBuilds pipeline"] = func() error { _, _, err := c.ListBuilds(ctx, "acme", h, buildkite.BuildListOptions{}); return err }
		}
		for name, call := range calls {
			t.Run(name+" "+h, func(t *testing.T) {
				e := asError(t, call())
				if e.Kind != buildkite.InvalidArgument {
					t.Errorf("kind %s, want invalid_argument", e.Kind)
				}
			})
		}
	}
	for _, n := range []string{"0", "-1", "1.5", "01", "1e3", "12345678901"} {
		_, err := c.GetBuild(ctx, "acme", "web", n, buildkite.BuildOptions{})
		if e := asError(t, err); e.Kind != buildkite.InvalidArgument {
			t.Errorf("build number %q: kind %s", n, e.Kind)
		}
	}
	if a.count() != 0 {
		t.Errorf("%d requests reached the server", a.count())
	}
}

func TestInvalidOptionsMakeNoRequest(t *testing.T) {
	a := newAPI(t, nil)
	c := newClient(t, a.URL, &tokens{current: staleToken})
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"per_page 101": func() error {
			_, _, err := c.ListPipelines(ctx, "acme", buildkite.PipelineListOptions{ListOptions: buildkite.ListOptions{PerPage: 101}})
			return err
		},
		"page -1": func() error {
			_, _, err := c.ListBuilds(ctx, "acme", "", buildkite.BuildListOptions{ListOptions: buildkite.ListOptions{Page: -1}})
			return err
		},
		"cursor with a space": func() error {
			_, err := c.ListJobs(ctx, "acme", "web", "1", buildkite.JobListOptions{After: "a b"})
			return err
		},
		"after and before": func() error {
			_, err := c.ListJobs(ctx, "acme", "web", "1", buildkite.JobListOptions{After: "a", Before: "b"})
			return err
		},
		"pipeline without build": func() error {
			_, err := c.GetJob(ctx, "acme", "web", "", "01890a5d-ac96-4b5e-9a3e-6f2f6c1e0d11")
			return err
		},
		"create without branch": func() error {
			_, err := c.CreateBuild(ctx, "acme", "web", buildkite.NewBuild{Commit: "HEAD"})
			return err
		},
		"zero log bytes": func() error {
			_, err := c.JobLogTail(ctx, "acme", "web", "1", "01890a5d-ac96-4b5e-9a3e-6f2f6c1e0d11", 0)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			if e := asError(t, call()); e.Kind != buildkite.InvalidArgument {
				t.Errorf("kind %s, want invalid_argument", e.Kind)
			}
		})
	}
	if a.count() != 0 {
		t.Errorf("%d requests reached the server", a.count())
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	elsewhere := newAPI(t, nil) // any request here fails the test
	a := newAPI(t, map[string]http.HandlerFunc{
		"GET /v2/organizations/acme/pipelines/web": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/presigned?sig=1", http.StatusFound)
		},
	})
	c := newClient(t, a.URL, &tokens{current: staleToken})
	_, err := c.GetPipeline(context.Background(), "acme", "web")
	if e := asError(t, err); e.Status != http.StatusFound {
		t.Errorf("error %+v, want the 302 itself", e)
	}
	if elsewhere.count() != 0 {
		t.Errorf("the redirect was followed")
	}
}

func TestStats(t *testing.T) {
	a := newAPI(t, map[string]http.HandlerFunc{
		"GET /v2/user": jsonAnswer(200, `{"name":"Sam"}`,
			"RateLimit-Remaining", "150", "RateLimit-Reset", "30",
			"RateLimit-User-Remaining", "41", "RateLimit-User-Reset", "17"),
		"GET /v2/organizations/acme/pipelines/web": jsonAnswer(404, `{"message":"Not Found"}`,
			"RateLimit-Remaining", "149", "RateLimit-Reset", "29",
			"RateLimit-User-Remaining", "40", "RateLimit-User-Reset", "16"),
	})
	c := newClient(t, a.URL, &tokens{current: staleToken})

	ctx, stats := buildkite.WithStats(context.Background())
	if stats.RateLimitRemaining != -1 {
		t.Errorf("fresh stats remaining = %d, want -1", stats.RateLimitRemaining)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.CurrentUser(ctx)
		}()
	}
	wg.Wait()
	_, _ = c.GetPipeline(ctx, "acme", "web")
	want := buildkite.StatsSnapshot{Calls: 4, LastStatus: 404, RateLimitRemaining: 40, RateLimitReset: 16 * time.Second}
	if diff := cmp.Diff(want, stats.Snapshot()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	// A context without stats is not counted, and does not fail.
	if _, err := c.CurrentUser(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stats.Calls != 4 {
		t.Errorf("calls = %d after a call outside the context", stats.Calls)
	}
}

func TestListPagination(t *testing.T) {
	a := newAPI(t, map[string]http.HandlerFunc{
		"GET /v2/organizations/acme/pipelines/web/builds": func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			want := map[string]string{"branch[]": "main", "state[]": "failed", "exclude_jobs": "true", "page": "2", "per_page": "5", "commit": "abc"}
			for k, v := range want {
				if q.Get(k) != v {
					t.Errorf("query %s = %q, want %q (query %s)", k, q.Get(k), v, r.URL.RawQuery)
				}
			}
			w.Header().Set("Link", `<http://x/v2/organizations/acme/pipelines/web/builds?page=3&per_page=5>; rel="next", <http://x/v2/organizations/acme/pipelines/web/builds?page=9&per_page=5>; rel="last"`)
			jsonAnswer(200, `[{"number":42,"state":"failed"}]`)(w, r)
		},
	})
	c := newClient(t, a.URL, &tokens{current: staleToken})
	builds, page, err := c.ListBuilds(context.Background(), "acme", "web", buildkite.BuildListOptions{
		Branch: "main", States: []string{"failed"}, Commit: "abc", ListOptions: buildkite.ListOptions{Page: 2, PerPage: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(builds) != 1 || builds[0].Number != 42 {
		t.Errorf("builds = %+v", builds)
	}
	if diff := cmp.Diff(buildkite.Pagination{NextPage: 3, LastPage: 9}, page); diff != "" {
		t.Errorf("pagination (-want +got):\n%s", diff)
	}
}

func TestListJobsCursor(t *testing.T) {
	a := newAPI(t, map[string]http.HandlerFunc{
		"GET /v2/organizations/acme/pipelines/web/builds/3/jobs": func(w http.ResponseWriter, r *http.Request) {
			if got := r.URL.Query().Get("after"); got != "YWJj" {
				t.Errorf("after = %q", got)
			}
			body, _ := json.Marshal(map[string]any{
				"items": []map[string]any{{"id": "j1", "state": "passed"}},
				"links": map[string]string{
					"next": "http://x/v2/organizations/acme/pipelines/web/builds/3/jobs?after=ZGVm&per_page=1",
					"prev": "http://x/v2/organizations/acme/pipelines/web/builds/3/jobs?before=ZGVm&per_page=1",
				},
			})
			jsonAnswer(200, string(body))(w, r)
		},
	})
	c := newClient(t, a.URL, &tokens{current: staleToken})
	page, err := c.ListJobs(context.Background(), "acme", "web", "3", buildkite.JobListOptions{After: "YWJj", PerPage: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 1 || page.NextCursor != "ZGVm" || page.PrevCursor != "ZGVm" {
		t.Errorf("page = %+v", page)
	}
}

func TestJobLogTail(t *testing.T) {
	const job = "01890a5d-ac96-4b5e-9a3e-6f2f6c1e0d11"
	const logPath = "GET /v2/organizations/acme/pipelines/web/builds/3/jobs/" + job + "/log"
	log := strings.Repeat("line\r\n", 100)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    buildkite.LogTail
	}{
		{"range honoured", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Accept") != "text/plain" || r.Header.Get("Range") != "bytes=-12" {
				t.Errorf("headers %v", r.Header)
			}
			http.ServeContent(w, r, "", time.Time{}, strings.NewReader(log))
		}, buildkite.LogTail{Data: []byte("line\r\nline\r\n"), Offset: 588, Size: 600}},
		{"range ignored", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, log)
		}, buildkite.LogTail{Data: []byte("line\r\nline\r\n"), Offset: 588, Size: 600}},
		{"empty log", func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "", time.Time{}, strings.NewReader(""))
		}, buildkite.LogTail{Size: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t, map[string]http.HandlerFunc{logPath: tt.handler})
			c := newClient(t, a.URL, &tokens{current: staleToken})
			got, err := c.JobLogTail(context.Background(), "acme", "web", "3", job, 12)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tail (-want +got):\n%s", diff)
			}
		})
	}
}
