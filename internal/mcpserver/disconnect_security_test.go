package mcpserver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/mcpserver"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policyfile"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/tools"
)

// longTools grants the long-running tools to everyone.
const longTools = `
default_state: pending_review
server: enabled
tools:
  - {name: wait_for_build, state: approved}
  - {name: get_build_failure_summary, state: approved}
  - {name: tail_logs, state: approved}
  - {name: read_logs, state: approved}
  - {name: search_logs, state: approved}
profiles:
  - name: everyone
    groups: ["*"]
    toolsets: [read-only]
`

// Finding I6: a client that went away did not stop its tool —
// wait_for_build polled Buildkite for its whole 6 s after the client closed
// at 1 s. Over real HTTP, each long-running tool is started, the client
// closes its connection once Buildkite has seen the tool's first request,
// and then: the call is audited as cancelled, and Buildkite sees at most the
// one request that was in flight when the client left — not the rest of
// the tool's work (more polls, more jobs' logs, the rest of a 64 MiB log).
func TestSecurityI6ClientDisconnectCancelsTheRunningTool(t *testing.T) {
	// Buildkite's requests are counted as they start, and the bytes of its
	// answers as they are written, in front of the simulator (whose own
	// request log is written when an answer is complete).
	var started, served atomic.Int64
	var sim http.Handler
	counter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		sim.ServeHTTP(countingWriter{w, &served}, r)
	}))
	t.Cleanup(counter.Close)
	s := newStack(t, func(s *stack, c *mcpserver.Config) {
		bk, err := buildkite.New(buildkite.Config{BaseURL: counter.URL, Tokens: secrets.Static(buildkitetest.DefaultToken), Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if c.Catalog, err = tools.Default(bk); err != nil {
			t.Fatal(err)
		}
		cat := discovery.Catalog(c.Catalog)
		st, err := policystore.NewEmbedded(filepath.Join(t.TempDir(), "state"), func() (policy.Policy, error) {
			p, err := policyfile.Parse([]byte(longTools))
			p, _ = discovery.Reconcile(p, cat, discovery.PendingReview, time.Now())
			return p, err
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Policy = policy.NewCache(st, 0, nil)
	})
	sim = s.sim.Handler()
	failed := s.sim.Data().Build("acme", "web-app", buildkitetest.FailedBuild)
	var longJob string
	for _, j := range failed.Jobs {
		if j.Name == buildkitetest.LongLogJobName {
			longJob = j.ID
		}
	}
	const logSize = 64 << 20
	if longJob == "" || !s.sim.PlantLog(longJob, buildkitetest.NewGeneratedLog(logSize)) {
		t.Fatal("no job to plant a log in")
	}
	job := func(extra string) string {
		return fmt.Sprintf(`{"org_slug":"acme","pipeline_slug":"web-app","build_number":"%d","job_id":"%s"%s}`, buildkitetest.FailedBuild, longJob, extra)
	}
	cases := []struct {
		tool, args string
		// latency of every Buildkite answer, so that a request is in
		// flight when the client leaves
		latency time.Duration
		// stream: the client leaves while the log is being read, once
		// this many bytes of it were served
		stream int64
	}{
		{"wait_for_build", fmt.Sprintf(`{"org_slug":"acme","pipeline_slug":"web-app","build_number":"%d","wait_timeout":25}`, buildkitetest.RunningBuild), 0, 0},
		{"get_build_failure_summary", fmt.Sprintf(`{"org_slug":"acme","pipeline_slug":"web-app","build_number":"%d"}`, buildkitetest.FailedBuild), 300 * time.Millisecond, 0},
		{"tail_logs", job(`,"tail":5000`), 300 * time.Millisecond, 0},
		{"search_logs", job(`,"pattern":"no such text (a|b)+ anywhere"`), 0, 1 << 20},
		{"read_logs", job(`,"seek":400000`), 0, 1 << 20},
	}
	for _, c := range cases {
		t.Run(c.tool, func(t *testing.T) {
			s.sim.SetLatency(c.latency)
			defer s.sim.SetLatency(0)
			started.Store(0)
			served.Store(0)
			before := len(s.auditEvents(t))
			body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + c.tool + `","arguments":` + c.args + `}}`
			ctx, hangUp := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer alice-token")
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			done := make(chan error, 1)
			go func() {
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			// Bounded: at most 800 looks, 10 ms apart.
			for i := 0; i < 800 && (started.Load() == 0 || served.Load() < c.stream); i++ {
				time.Sleep(10 * time.Millisecond)
			}
			atClose := started.Load()
			if atClose == 0 || served.Load() < c.stream {
				t.Fatalf("Buildkite saw %d requests, %d bytes served: the tool did not get going", atClose, served.Load())
			}
			hangUp() // closes the connection (HTTP/1.1, no keep-alive)
			if err := <-done; err == nil {
				t.Fatal("the call finished before the client left: nothing to cancel")
			}
			// The call's audit event says how it ended; wait for it, bounded
			// (the tools' own limits end them within 25 s anyway).
			var events []audit.Event
			for i := 0; i < 600; i++ {
				if events = s.auditEvents(t)[before:]; len(events) > 0 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if len(events) != 1 {
				t.Fatalf("%d audit events for the call, want 1", len(events))
			}
			e := events[0]
			if e.Decision != audit.Allowed || !strings.Contains(e.Error, "canceled") {
				t.Errorf("audited %s, outcome %s, error %q: want the call cancelled", e.Decision, e.Outcome, e.Error)
			}
			if n := started.Load(); n > atClose+1 {
				t.Errorf("Buildkite saw %d requests, %d of them after the client left", n, n-atClose)
			}
			if c.stream > 0 {
				if n := served.Load(); n > logSize/4 {
					t.Errorf("%d MiB of the %d MiB log were served: the read went on after the client left", n>>20, logSize>>20)
				}
			}
		})
	}
}

// countingWriter counts the bytes of an answer as they are written.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
