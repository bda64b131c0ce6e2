package buildkitetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildkite/go-buildkite/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/buildkitetest"
)

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func TestRateLimits(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 15, 0, time.UTC)}

	t.Run("user limit", func(t *testing.T) {
		s, _ := start(t, buildkitetest.WithClock(clock.Now), buildkitetest.WithUserRateLimit(3))
		var remaining []string
		for range 3 {
			resp, body := rawGet(t, s, buildkitetest.DefaultToken, "v2/organizations/acme/pipelines")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			remaining = append(remaining, resp.Header.Get("RateLimit-User-Remaining"))
			if got := resp.Header.Get("RateLimit-Reset"); got != "45" {
				t.Errorf("RateLimit-Reset = %q, want 45 (seconds to the next minute)", got)
			}
			if got := resp.Header.Get("RateLimit-Limit"); got != "200" {
				t.Errorf("RateLimit-Limit = %q, want the default 200", got)
			}
		}
		if diff := cmp.Diff([]string{"2", "1", "0"}, remaining); diff != "" {
			t.Errorf("RateLimit-User-Remaining (-want +got):\n%s", diff)
		}
		resp, body := rawGet(t, s, buildkitetest.DefaultToken, "v2/user")
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("4th request: status %d, want 429", resp.StatusCode)
		}
		var got struct {
			Message string
			Scope   string
			Limit   int
			Current int
			Reset   int
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Message == "" || got.Scope != "user" || got.Limit != 3 || got.Current != 4 || got.Reset != 45 {
			t.Errorf("429 body = %+v", got)
		}
		if resp.Header.Get("RateLimit-User-Remaining") != "0" {
			t.Errorf("RateLimit-User-Remaining = %q, want 0", resp.Header.Get("RateLimit-User-Remaining"))
		}

		// A write is not retried by go-buildkite, so its error shows the body.
		c := newClient(t, s, buildkitetest.DefaultToken)
		_, _, err := c.Builds.Create(context.Background(), "acme", "web-app", buildkite.CreateBuild{Commit: "HEAD", Branch: "main"})
		if er := errorResponse(t, err); er.Response.StatusCode != 429 {
			t.Errorf("create build: status %d, want 429", er.Response.StatusCode)
		}

		clock.Set(clock.Now().Add(45 * time.Second)) // the next window
		resp, _ = rawGet(t, s, buildkitetest.DefaultToken, "v2/user")
		if resp.StatusCode != 200 || resp.Header.Get("RateLimit-User-Remaining") != "2" || resp.Header.Get("RateLimit-Reset") != "60" {
			t.Errorf("next window: status %d, headers %v", resp.StatusCode, resp.Header)
		}
	})

	t.Run("organization limit", func(t *testing.T) {
		clock.Set(time.Date(2026, 11, 25, 10, 0, 59, 500_000_000, time.UTC))
		s, _ := start(t, buildkitetest.WithClock(clock.Now), buildkitetest.WithOrgRateLimit(2))
		for range 2 {
			rawGet(t, s, buildkitetest.DefaultToken, "v2/organizations/acme/pipelines")
		}
		resp, body := rawGet(t, s, buildkitetest.DefaultToken, "v2/organizations/acme/pipelines/web-app")
		if resp.StatusCode != 429 || !strings.Contains(string(body), `"scope":"organization"`) || !strings.Contains(string(body), `"reset":1`) {
			t.Errorf("3rd acme request: %d %s", resp.StatusCode, body)
		}
		resp, body = rawGet(t, s, buildkitetest.DefaultToken, "v2/organizations/acme-labs/pipelines")
		if resp.StatusCode != 200 || resp.Header.Get("RateLimit-Remaining") != "1" {
			t.Errorf("acme-labs has its own window: %d %v %s", resp.StatusCode, resp.Header, body)
		}
	})
}

var bkTimestamp = regexp.MustCompile("\x1b_bk;t=\\d+\x07")

func TestJobLog(t *testing.T) {
	s, c := start(t)
	b := buildkitetest.Seed().Build("acme", "web-app", buildkitetest.FailedBuild)
	job := b.JobByName(buildkitetest.LongLogJobName)
	full := job.Log
	if n := strings.Count(full, "\n"); n <= 200 {
		t.Fatalf("long log has %d lines, want > 200", n)
	}
	if !strings.Contains(full, "\x1b[31m") || !bkTimestamp.MatchString(full) {
		t.Fatal("long log lacks ANSI colours or agent timestamps")
	}
	path := fmt.Sprintf("v2/organizations/acme/pipelines/web-app/builds/%d/jobs/%s/log", b.Number, job.ID)

	t.Run("json", func(t *testing.T) {
		log, _, err := c.Jobs.GetJobLog(context.Background(), "acme", "web-app", strconv.Itoa(b.Number), job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if log.Content != full || log.Size != len(full) || !strings.HasSuffix(log.URL, path) || len(log.HeaderTimes) < 5 {
			t.Errorf("log: url %q size %d, %d header times, content equal %v", log.URL, log.Size, len(log.HeaderTimes), log.Content == full)
		}
	})

	tests := []struct {
		name       string
		path       string
		header     []string
		wantStatus int
		wantBody   string
		wantRange  string
	}{
		{"accept text/plain", path, []string{"Accept", "text/plain"}, 200, full, ""},
		{".txt suffix", path + ".txt", nil, 200, full, ""},
		{"tail", path, []string{"Accept", "text/plain", "Range", "bytes=-100"}, 206, full[len(full)-100:],
			fmt.Sprintf("bytes %d-%d/%d", len(full)-100, len(full)-1, len(full))},
		{"span", path + ".txt", []string{"Range", "bytes=10-19"}, 206, full[10:20], fmt.Sprintf("bytes 10-19/%d", len(full))},
		{"past the end", path + ".txt", []string{"Range", fmt.Sprintf("bytes=%d-", len(full)+5)}, 416, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawGet(t, s, buildkitetest.DefaultToken, tt.path, tt.header...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == 416 {
				return
			}
			if string(body) != tt.wantBody {
				t.Errorf("body = %q…, want %q…", firstN(string(body), 80), firstN(tt.wantBody, 80))
			}
			if got := resp.Header.Get("Content-Range"); got != tt.wantRange {
				t.Errorf("Content-Range = %q, want %q", got, tt.wantRange)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}

	t.Run("HEAD gives the size", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodHead, s.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+buildkitetest.DefaultToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != int64(len(full)) || resp.Header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("HEAD: %d, length %d, Accept-Ranges %q; want 200, %d, bytes", resp.StatusCode, resp.ContentLength, resp.Header.Get("Accept-Ranges"), len(full))
		}
	})

	t.Run("waiter has no log", func(t *testing.T) {
		var waiter string
		for _, j := range b.Jobs {
			if j.Type == buildkitetest.JobTypeWaiter {
				waiter = j.ID
			}
		}
		resp, _ := rawGet(t, s, buildkitetest.DefaultToken, fmt.Sprintf("v2/organizations/acme/pipelines/web-app/builds/%d/jobs/%s/log", b.Number, waiter))
		if resp.StatusCode != 404 {
			t.Errorf("status = %d, want 404", resp.StatusCode)
		}
	})

	t.Run("needs read_build_logs", func(t *testing.T) {
		s.AddToken("bkua_no_logs", "read_builds")
		resp, _ := rawGet(t, s, "bkua_no_logs", path+".txt")
		if resp.StatusCode != 403 {
			t.Errorf("status = %d, want 403", resp.StatusCode)
		}
	})
}

func firstN(s string, n int) string { return s[:min(n, len(s))] }

func TestAccessToken(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	expiry := clock.Now().Add(time.Hour)
	s, c := start(t, buildkitetest.WithClock(clock.Now),
		buildkitetest.WithToken("bkua_next", "read_builds"),
		buildkitetest.WithExpiringToken("bkua_short", expiry, "read_user"))
	ctx := context.Background()

	next := newClient(t, s, "bkua_next")
	old, _, err := c.AccessTokens.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nt, _, err := next.AccessTokens.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if old.UUID == nt.UUID {
		t.Errorf("two tokens share uuid %s", old.UUID)
	}
	if diff := cmp.Diff([]string{"read_builds"}, nt.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}

	short := newClient(t, s, "bkua_short")
	st, _, err := short.AccessTokens.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExpiresAt == nil || !st.ExpiresAt.Time.Equal(expiry) {
		t.Errorf("expires_at = %v, want %v", st.ExpiresAt, expiry)
	}
	clock.Set(expiry)
	if _, _, err := short.AccessTokens.Get(ctx); errorResponse(t, err).Response.StatusCode != 401 {
		t.Errorf("expired token: %v, want 401", err)
	}

	resp, err := c.AccessTokens.Revoke(ctx)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("revoke: %v %v", resp, err)
	}
	if _, _, err := c.User.CurrentUser(ctx); errorResponse(t, err).Response.StatusCode != 401 {
		t.Errorf("revoked token still works: %v", err)
	}
	if _, _, err := c.AccessTokens.Get(ctx); errorResponse(t, err).Response.StatusCode != 401 {
		t.Errorf("revoked token can still read itself: %v", err)
	}
	if _, _, err := next.AccessTokens.Get(ctx); err != nil {
		t.Errorf("revoking one token broke another: %v", err)
	}
}

type jobsPage struct {
	Items []struct {
		ID    string `json:"id"`
		Type  string `json:"type"`
		State string `json:"state"`
	} `json:"items"`
	Links map[string]string `json:"links"`
}

func getJobs(t *testing.T, s *buildkitetest.Server, rawURL string) jobsPage {
	t.Helper()
	path := strings.TrimPrefix(rawURL, s.URL)
	resp, body := rawGet(t, s, buildkitetest.DefaultToken, path)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var p jobsPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestJobsCursor(t *testing.T) {
	s, c := start(t)
	b, _, err := c.Builds.Get(context.Background(), "acme", "web-app", strconv.Itoa(buildkitetest.FailedBuild), nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, j := range b.Jobs {
		want = append(want, j.ID)
	}

	first := getJobs(t, s, s.URL+"v2/organizations/acme/pipelines/web-app/builds/37/jobs?per_page=3")
	var got []string
	var pages []jobsPage
	for p := first; ; {
		pages = append(pages, p)
		for _, it := range p.Items {
			got = append(got, it.ID)
		}
		next, ok := p.Links["next"]
		if !ok {
			break
		}
		if !strings.HasPrefix(next, s.URL) {
			t.Fatalf("next link %q is not absolute", next)
		}
		p = getJobs(t, s, next)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("jobs over all cursor pages (-want +got):\n%s", diff)
	}
	if len(pages) != 3 {
		t.Errorf("got %d pages of 3 for %d jobs, want 3", len(pages), len(want))
	}
	if _, ok := pages[0].Links["prev"]; ok {
		t.Error("first page has a prev link")
	}
	back := getJobs(t, s, pages[1].Links["prev"])
	if diff := cmp.Diff(pages[0].Items, back.Items); diff != "" {
		t.Errorf("prev of page 2 is not page 1 (-want +got):\n%s", diff)
	}

	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			query string
			want  int
		}{
			{"", 7},
			{"?include_retried_jobs=true", 8},
			{"?state[]=failed", 1},
			{"?state[]=failed&include_retried_jobs=true", 2},
			{"?step_key=rspec", 2},
		}
		for _, tt := range tests {
			p := getJobs(t, s, s.URL+"v2/organizations/acme/pipelines/web-app/builds/37/jobs"+tt.query)
			if len(p.Items) != tt.want {
				t.Errorf("%s: %d jobs, want %d", tt.query, len(p.Items), tt.want)
			}
		}
	})

	t.Run("bad cursor", func(t *testing.T) {
		resp, _ := rawGet(t, s, buildkitetest.DefaultToken, "v2/organizations/acme/pipelines/web-app/builds/37/jobs?after=bogus")
		if resp.StatusCode != 400 {
			t.Errorf("status = %d, want 400", resp.StatusCode)
		}
	})

	t.Run("job by organization", func(t *testing.T) {
		resp, body := rawGet(t, s, buildkitetest.DefaultToken, "v2/organizations/acme/jobs/"+want[3])
		if resp.StatusCode != 200 || !strings.Contains(string(body), want[3]) {
			t.Errorf("%d %s", resp.StatusCode, firstN(string(body), 200))
		}
		resp, _ = rawGet(t, s, buildkitetest.DefaultToken, "v2/organizations/acme-labs/jobs/"+want[3])
		if resp.StatusCode != 404 {
			t.Errorf("job of another organization: %d, want 404", resp.StatusCode)
		}
	})
}

func TestCreateAndCancelBuild(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	_, c := start(t, buildkitetest.WithClock(clock.Now))
	ctx := context.Background()

	b, resp, err := c.Builds.Create(ctx, "acme", "web-app", buildkite.CreateBuild{
		Commit: "HEAD", Branch: "main", Message: "Deploy from kitegate", MetaData: map[string]string{"ticket": "OPS-12"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 201 || b.Number != buildkitetest.SeedBuildCount+1 || b.State != "scheduled" || b.Source != "api" ||
		b.Creator.Email != "sam.rivera@acme.example" || !b.CreatedAt.Time.Equal(clock.Now()) || b.MetaData["ticket"] != "OPS-12" {
		t.Errorf("created build = %d %+v", resp.StatusCode, b)
	}
	got, _, err := c.Builds.Get(ctx, "acme", "web-app", strconv.Itoa(b.Number), nil)
	if err != nil || got.ID != b.ID {
		t.Fatalf("get created build: %v %+v", err, got)
	}

	tests := []struct {
		number     int
		wantState  string
		wantStatus int
	}{
		{b.Number, "canceled", 200},
		{buildkitetest.RunningBuild, "canceling", 200},
		{buildkitetest.BlockedBuild, "canceled", 200},
		{buildkitetest.PassedBuild, "", 422},
		{b.Number, "", 422}, // already canceled
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.number, tt.wantState), func(t *testing.T) {
			got, err := c.Builds.Cancel(ctx, "acme", "web-app", strconv.Itoa(tt.number))
			if tt.wantStatus != 200 {
				if er := errorResponse(t, err); er.Response.StatusCode != tt.wantStatus {
					t.Errorf("status = %d, want %d", er.Response.StatusCode, tt.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tt.wantState {
				t.Errorf("state = %q, want %q", got.State, tt.wantState)
			}
		})
	}
}

func TestArtifactDownload(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	s, c := start(t, buildkitetest.WithClock(clock.Now))
	seed := buildkitetest.Seed()
	b := seed.Build("acme", "web-app", buildkitetest.FailedBuild)
	job := b.JobByName(buildkitetest.LongLogJobName)
	art := job.Artifacts[1] // log/test.log, over 64 KiB

	a, _, err := c.Artifacts.Get(context.Background(), "acme", "web-app", "37", job.ID, art.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.FileSize != int64(len(art.Content)) || a.FileSize <= 64*1024 || a.MimeType != "text/plain" {
		t.Errorf("artifact = %+v", a)
	}

	resp, _ := rawGet(t, s, buildkitetest.DefaultToken, strings.TrimPrefix(a.DownloadURL, s.URL))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("download: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	api, _ := url.Parse(s.URL)
	if loc.Host == api.Host || loc.Scheme != "https" || loc.Query().Get("X-Amz-Signature") == "" || loc.Query().Get("X-Amz-Expires") != "60" {
		t.Errorf("Location = %s, want a presigned URL on another origin", loc)
	}

	s.ResetRequests()
	store := s.Downloads().HTTPClient() // https, trusting the store's certificate
	got, err := store.Get(loc.String()) // no token, as a presigned URL needs none
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if got.StatusCode != 200 || string(body) != string(art.Content) {
		t.Errorf("presigned GET: %d, %d bytes, want 200 and %d bytes", got.StatusCode, len(body), len(art.Content))
	}
	reqs := s.Requests()
	if len(reqs) != 1 || !reqs[0].ArtifactStore || reqs[0].Header.Get("Authorization") != "" {
		t.Errorf("recorded %+v, want one artifact-store request without Authorization", reqs)
	}

	clock.Set(clock.Now().Add(61 * time.Second))
	expired, err := store.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	expired.Body.Close()
	if expired.StatusCode != 403 {
		t.Errorf("expired URL: status %d, want 403", expired.StatusCode)
	}
	tampered := strings.Replace(loc.String(), "X-Amz-Signature=", "X-Amz-Signature=0", 1)
	if r, err := store.Get(tampered); err != nil || r.StatusCode != 403 {
		t.Errorf("tampered URL: %v %v, want 403", r, err)
	}
}

func TestFaultsAndRecording(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()

	s.FailNext(http.StatusServiceUnavailable, 2)
	for i := range 2 {
		_, _, err := c.Pipelines.Get(ctx, "acme", "web-app")
		if er := errorResponse(t, err); er.Response.StatusCode != 503 || er.Message == "" {
			t.Errorf("request %d: %d %q, want 503 with a message", i, er.Response.StatusCode, er.Message)
		}
	}
	if _, _, err := c.Pipelines.Get(ctx, "acme", "web-app"); err != nil {
		t.Errorf("third request: %v, want success", err)
	}

	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("recorded %d requests, want 3", len(reqs))
	}
	if got := reqs[2]; got.Method != "GET" || got.Path != "/v2/organizations/acme/pipelines/web-app" ||
		got.Header.Get("Authorization") != "Bearer "+buildkitetest.DefaultToken {
		t.Errorf("recorded %+v", got)
	}
	s.ResetRequests()
	if n := len(s.Requests()); n != 0 {
		t.Errorf("after ResetRequests: %d requests", n)
	}

	s.SetLatency(200 * time.Millisecond)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, _, err := c.User.CurrentUser(short); err == nil {
		t.Error("request with a 20ms deadline succeeded despite 200ms latency")
	}
	s.SetLatency(0)
}

func TestConcurrentUse(t *testing.T) {
	s, _ := start(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			c := newClient(t, s, buildkitetest.DefaultToken)
			var err error
			if i%4 == 0 {
				_, _, err = c.Builds.Create(context.Background(), "acme", "docs-site", buildkite.CreateBuild{Commit: "HEAD", Branch: "main"})
			} else {
				_, _, err = c.Builds.ListByPipeline(context.Background(), "acme", "docs-site", nil)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	bs, _, err := newClient(t, s, buildkitetest.DefaultToken).Builds.ListByPipeline(context.Background(), "acme", "docs-site", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 3+10 || bs[0].Number != 13 {
		t.Errorf("after 10 concurrent creates: %d builds, newest #%d; want 13, #13", len(bs), bs[0].Number)
	}
}

func TestNewHandler(t *testing.T) {
	s := buildkitetest.NewHandler()
	if s.URL != "" {
		t.Errorf("URL = %q, want empty for a handler", s.URL)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c, err := buildkite.NewOpts(buildkite.WithBaseURL(ts.URL+"/"), buildkite.WithTokenAuth(buildkitetest.DefaultToken))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := c.Pipelines.Get(context.Background(), "acme", "web-app")
	if err != nil {
		t.Fatal(err)
	}
	if want := ts.URL + "/v2/organizations/acme/pipelines/web-app/builds"; p.BuildsURL != want {
		t.Errorf("builds_url = %q, want %q", p.BuildsURL, want)
	}

	b := buildkitetest.Seed().Build("acme", "web-app", buildkitetest.PassedBuild)
	var dj *buildkitetest.Job
	for _, j := range b.Jobs {
		if len(j.Artifacts) > 0 {
			dj = j
		}
	}
	var buf strings.Builder
	// go-buildkite follows the redirect to the artifact store on the same host.
	_, err = c.Artifacts.DownloadArtifactByURL(context.Background(),
		fmt.Sprintf("v2/organizations/acme/pipelines/web-app/builds/%d/jobs/%s/artifacts/%s/download", b.Number, dj.ID, dj.Artifacts[0].ID), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(dj.Artifacts[0].Content) {
		t.Errorf("downloaded %q, want %q", buf.String(), dj.Artifacts[0].Content)
	}
}

func TestSeed(t *testing.T) {
	if !reflect.DeepEqual(buildkitetest.Seed(), buildkitetest.Seed()) {
		t.Error("Seed is not deterministic")
	}
	d := buildkitetest.Seed()
	types := map[string]bool{}
	ids := map[string]bool{}
	for _, o := range d.Organizations {
		for _, p := range o.Pipelines {
			for _, b := range p.Builds {
				for _, j := range b.Jobs {
					types[j.Type] = true
					if ids[j.ID] {
						t.Errorf("duplicate job id %s", j.ID)
					}
					ids[j.ID] = true
				}
			}
		}
	}
	if diff := cmp.Diff(map[string]bool{"script": true, "waiter": true, "manual": true, "trigger": true}, types); diff != "" {
		t.Errorf("job types (-want +got):\n%s", diff)
	}
	blocked := d.Build("acme", "web-app", buildkitetest.BlockedBuild)
	if !blocked.Blocked || blocked.JobByName(":rocket: Deploy to production?").State != "blocked" {
		t.Errorf("blocked build %+v", blocked)
	}
}
