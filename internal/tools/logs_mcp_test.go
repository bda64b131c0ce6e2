package tools_test

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/buildkitetest"
)

type logLine struct {
	N    int
	Text string
}

type searchResult struct {
	Matches []struct {
		N      int
		Text   string
		Before []logLine
		After  []logLine
	}
	ScannedLines  int  `json:"scanned_lines"`
	Truncated     bool `json:"truncated"`
	NextSeekStart int  `json:"next_seek_start"`
}

type readResult struct {
	Lines      []string
	FirstLine  int `json:"first_line"`
	NextSeek   int `json:"next_seek"`
	TotalLines int `json:"total_lines"`
	Truncated  bool
}

type tailResult struct {
	Lines      []string
	FirstLine  int   `json:"first_line"`
	TotalLines int   `json:"total_lines"`
	LogBytes   int64 `json:"log_bytes"`
	Truncated  bool
}

func jobArgs(build int, jobID string, extra ...any) map[string]any {
	return buildArgs(build, append([]any{"job_id", jobID}, extra...)...)
}

func TestLogToolsAgreeOnLineNumbers(t *testing.T) {
	e := newMCP(t)
	job := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild).JobByName(buildkitetest.LongLogJobName)
	total := strings.Count(job.Log, "\n")

	var s searchResult
	e.ok("search_logs", jobArgs(buildkitetest.FailedBuild, job.ID, "pattern", `failure/error`, "before_context", 1, "after_context", 3), &s)
	if len(s.Matches) != 3 || s.Truncated || s.ScannedLines != total {
		t.Fatalf("search = %+v", s)
	}
	m := s.Matches[0]
	if !strings.HasPrefix(m.Text, "     Failure/Error: expected CheckoutService::CouponExpired") || len(m.Before) != 1 || len(m.After) != 3 || m.After[0].N != m.N+1 || m.Before[0].N != m.N-1 {
		t.Errorf("first match = %+v", m)
	}
	// read_logs at the same line number reads the same text.
	var r readResult
	e.ok("read_logs", jobArgs(buildkitetest.FailedBuild, job.ID, "seek", m.N-1, "limit", 5), &r)
	if r.FirstLine != m.N-1 || len(r.Lines) != 5 || r.Lines[1] != m.Text || r.Lines[2] != m.After[0].Text || r.NextSeek != m.N+4 {
		t.Errorf("read_logs around the match = %+v", r)
	}
	// tail_logs numbers its lines the same way.
	var tail tailResult
	e.ok("tail_logs", jobArgs(buildkitetest.FailedBuild, job.ID, "tail", 3), &tail)
	r = readResult{}
	e.ok("read_logs", jobArgs(buildkitetest.FailedBuild, job.ID, "seek", total-2), &r)
	if tail.FirstLine != total-2 || tail.TotalLines != total || strings.Join(tail.Lines, "\n") != strings.Join(r.Lines, "\n") || r.TotalLines != total || r.NextSeek != 0 {
		t.Errorf("tail %+v vs read %+v (total %d)", tail, r, total)
	}
	for _, l := range append(tail.Lines, m.Text) {
		if strings.ContainsAny(l, "\x1b\x07\r") {
			t.Errorf("escape left in %q", l)
		}
	}
}

func TestSearchLogsArgumentsAndFailures(t *testing.T) {
	e := newMCP(t)
	job := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild).JobByName(buildkitetest.LongLogJobName)
	args := func(extra ...any) map[string]any { return jobArgs(buildkitetest.FailedBuild, job.ID, extra...) }
	wantIn(t, "bad regex", e.failNoRequest("search_logs", args("pattern", "(unclosed")), `"pattern"`, "not a valid RE2")
	wantIn(t, "backreference", e.failNoRequest("search_logs", args("pattern", `(a)\1`)), "not a valid RE2")
	wantIn(t, "long pattern", e.failNoRequest("search_logs", args("pattern", strings.Repeat("a", 513))), "longer than 512 bytes")
	wantIn(t, "context", e.failNoRequest("search_logs", args("pattern", "x", "context", 21)), `"context"`)
	wantIn(t, "read limit", e.failNoRequest("read_logs", args("limit", 5000)), `"limit"`)
	wantIn(t, "404", e.fail("search_logs", jobArgs(buildkitetest.FailedBuild, "01890a5d-ac96-4b5e-9a3e-6f2f6c1e0d11", "pattern", "x")), "not found")
	e.withoutScope("read_build_logs")
	wantIn(t, "403", e.fail("read_logs", args()), "lacks the scope", "read_build_logs")
	wantIn(t, "403", e.fail("tail_logs", args()), "lacks the scope")
}

func TestHostileLogLineIsNeutralized(t *testing.T) {
	e := newMCP(t)
	b := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.HostileBuild)
	var job *buildkitetest.Job
	for _, j := range b.Jobs {
		if j.State == "failed" && j.StepKey == "rspec" {
			job = j
		}
	}
	var s searchResult
	e.ok("search_logs", jobArgs(buildkitetest.HostileBuild, job.ID, "pattern", "tool_result"), &s)
	if len(s.Matches) != 1 || strings.Contains(s.Matches[0].Text, "</tool_result>") || strings.Contains(s.Matches[0].Text, "<system>") ||
		!strings.Contains(s.Matches[0].Text, "‹/tool_result›") {
		t.Errorf("hostile line came out as %+v", s.Matches)
	}
	var tail tailResult
	e.ok("tail_logs", jobArgs(buildkitetest.HostileBuild, job.ID, "tail", 1), &tail)
	if len(tail.Lines) != 1 || strings.Contains(tail.Lines[0], "</tool_result>") {
		t.Errorf("tail = %q", tail.Lines)
	}
}

// peakHeap samples the heap while f runs and returns the most it grew. A
// low GC percentage keeps garbage from passing for memory held.
func peakHeap(f func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	runtime.GC()
	base := read()
	var (
		peak uint64
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := read(); v > peak {
				peak = v
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	if peak < base {
		return 0
	}
	return peak - base
}

const bigLog = 50 << 20

// plantBigLog serves a generated 50 MB log as the failed RSpec job's.
func plantBigLog(t testing.TB, e *mcpEnv) (*buildkitetest.GeneratedLog, string) {
	job := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild).JobByName(buildkitetest.LongLogJobName)
	g := buildkitetest.NewGeneratedLog(bigLog)
	if !e.sim.PlantLog(job.ID, g) {
		t.Fatal("no job to plant the log on")
	}
	return g, job.ID
}

func TestFiftyMegabyteLog(t *testing.T) {
	e := newMCP(t)
	g, jobID := plantBigLog(t, e)
	every := buildkitetest.GeneratedErrorEvery
	var s searchResult
	grew := peakHeap(func() {
		// A literal prefix keeps this quick under the race detector; the
		// benchmark below uses a case-insensitive pattern, the slow case.
		e.ok("search_logs", jobArgs(buildkitetest.FailedBuild, jobID, "pattern", `ERROR .*timed out`, "case_sensitive", true, "limit", 1000, "context", 1), &s)
	})
	want := g.Lines() / every
	if len(s.Matches) != want || s.Truncated || s.ScannedLines != g.Lines() {
		t.Fatalf("search found %d matches (want %d), scanned %d of %d lines, truncated %v", len(s.Matches), want, s.ScannedLines, g.Lines(), s.Truncated)
	}
	for i, m := range s.Matches {
		n := (i + 1) * every
		if m.N != n || m.Text != g.Text(n) || len(m.Before) != 1 || m.Before[0].Text != g.Text(n-1) || m.After[0].N != n+1 {
			t.Fatalf("match %d = %+v, want line %d %q", i, m, n, g.Text(n))
		}
	}
	// The whole log passed through, but what was held stayed near the cap
	// (256 KiB of output, a 64 KiB line buffer), nowhere near 50 MB.
	if grew > 16<<20 {
		t.Errorf("searching a 50 MB log grew the heap by %d MiB", grew>>20)
	}
	t.Logf("search of %d MB: heap grew by at most %.1f MiB", bigLog>>20, float64(grew)/(1<<20))

	var tail tailResult
	grew = peakHeap(func() {
		e.ok("tail_logs", jobArgs(buildkitetest.FailedBuild, jobID, "tail", 5), &tail)
	})
	if tail.FirstLine != g.Lines()-4 || tail.TotalLines != g.Lines() || tail.LogBytes != g.Size() || len(tail.Lines) != 5 || tail.Lines[4] != g.Text(g.Lines()) {
		t.Errorf("tail = first %d total %d bytes %d lines %q", tail.FirstLine, tail.TotalLines, tail.LogBytes, tail.Lines)
	}
	if grew > 16<<20 {
		t.Errorf("tailing a 50 MB log grew the heap by %d MiB", grew>>20)
	}
	t.Logf("tail of %d MB: heap grew by at most %.1f MiB", bigLog>>20, float64(grew)/(1<<20))

	var r readResult
	e.ok("read_logs", jobArgs(buildkitetest.FailedBuild, jobID, "seek", 3*every-1, "limit", 3), &r)
	if r.FirstLine != 3*every-1 || len(r.Lines) != 3 || r.Lines[1] != g.Text(3*every) || r.NextSeek != 3*every+2 {
		t.Errorf("read_logs = %+v", r)
	}
}

// TestSearchLogsDirections runs the search options over a 4 MB generated
// log: the semantics are the 50 MB test's, at a fraction of the cost.
func TestSearchLogsDirections(t *testing.T) {
	e := newMCP(t)
	job := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild).JobByName(buildkitetest.LongLogJobName)
	g := buildkitetest.NewGeneratedLog(4 << 20)
	e.sim.PlantLog(job.ID, g)
	jobID, every := job.ID, buildkitetest.GeneratedErrorEvery
	want := g.Lines() / every
	var s searchResult
	// Newest first, and a continuation point.
	e.ok("search_logs", jobArgs(buildkitetest.FailedBuild, jobID, "pattern", "ERROR", "case_sensitive", true, "reverse", true, "limit", 2), &s)
	last := want * every
	if len(s.Matches) != 2 || s.Matches[0].N != last || s.Matches[1].N != last-every || !s.Truncated || s.NextSeekStart != last-every-1 {
		t.Errorf("reverse search = %d matches, first %d, next %d, truncated %v", len(s.Matches), s.Matches[0].N, s.NextSeekStart, s.Truncated)
	}
	e.ok("search_logs", jobArgs(buildkitetest.FailedBuild, jobID, "pattern", "ERROR", "case_sensitive", true, "reverse", true, "limit", 1, "seek_start", s.NextSeekStart), &s)
	if len(s.Matches) != 1 || s.Matches[0].N != last-2*every {
		t.Errorf("reverse search from seek_start = %+v", s.Matches)
	}
	// Forward with a limit stops early and says where to go on.
	e.ok("search_logs", jobArgs(buildkitetest.FailedBuild, jobID, "pattern", "ERROR", "limit", 2), &s)
	if len(s.Matches) != 2 || s.Matches[1].N != 2*every || !s.Truncated || s.NextSeekStart != 2*every+1 || s.ScannedLines >= g.Lines() {
		t.Errorf("limited search = %+v", s)
	}
	// invert_match returns the lines that do not match.
	e.ok("search_logs", jobArgs(buildkitetest.FailedBuild, jobID, "pattern", "INFO", "invert_match", true, "limit", 3), &s)
	if len(s.Matches) != 3 || s.Matches[0].N != every {
		t.Errorf("inverted search = %+v", s.Matches)
	}

}

// BenchmarkSearchFiftyMegabyteLog searches a generated 50 MB log through
// the MCP client and reports the heap's peak growth per search.
func BenchmarkSearchFiftyMegabyteLog(b *testing.B) {
	if b.N > 50 {
		b.Skip("each iteration scans 50 MB: run with -benchtime=5x")
	}
	e := newMCP(b)
	_, jobID := plantBigLog(b, e)
	args := jobArgs(buildkitetest.FailedBuild, jobID, "pattern", `error .*timed out`, "limit", 1000, "context", 1)
	var peak uint64
	b.SetBytes(bigLog)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var s searchResult
		if grew := peakHeap(func() { e.ok("search_logs", args, &s) }); grew > peak {
			peak = grew
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
