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

type logRow struct {
	RN int
	TS int64
	C  string
}

type searchResult struct {
	Results []struct {
		Match  logRow
		Before []logRow `json:"before_context"`
		After  []logRow `json:"after_context"`
	}
	MatchCount    int  `json:"match_count"`
	ScannedRows   int  `json:"scanned_rows"`
	Truncated     bool `json:"truncated"`
	NextSeekStart int  `json:"next_seek_start"`
}

type readResult struct {
	Entries   []logRow
	NextSeek  int `json:"next_seek"`
	TotalRows int `json:"total_rows"`
	Truncated bool
}

type tailResult struct {
	Entries   []logRow
	TotalRows int   `json:"total_rows"`
	LogBytes  int64 `json:"log_bytes"`
	Truncated bool
}

func texts(rows []logRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.C
	}
	return out
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
	if len(s.Results) != 3 || s.MatchCount != 3 || s.Truncated || s.ScannedRows != total {
		t.Fatalf("search = %+v", s)
	}
	m := s.Results[0]
	if !strings.HasPrefix(m.Match.C, "     Failure/Error: expected CheckoutService::CouponExpired") || len(m.Before) != 1 || len(m.After) != 3 ||
		m.After[0].RN != m.Match.RN+1 || m.Before[0].RN != m.Match.RN-1 || m.Match.TS == 0 {
		t.Errorf("first match = %+v", m)
	}
	// Row rn is the text after the rn-th newline of the raw log.
	if raw := strings.Split(job.Log, "\n")[m.Match.RN]; !strings.Contains(raw, "Failure/Error") {
		t.Errorf("row %d of the raw log is %q", m.Match.RN, raw)
	}
	// read_logs at the same row number reads the same text.
	var r readResult
	e.ok("read_logs", jobArgs(buildkitetest.FailedBuild, job.ID, "seek", m.Match.RN-1, "limit", 5), &r)
	if len(r.Entries) != 5 || r.Entries[0].RN != m.Match.RN-1 || r.Entries[1] != m.Match || r.Entries[2].C != m.After[0].C || r.NextSeek != m.Match.RN+4 {
		t.Errorf("read_logs around the match = %+v", r)
	}
	// tail_logs numbers its rows the same way.
	var tail tailResult
	e.ok("tail_logs", jobArgs(buildkitetest.FailedBuild, job.ID, "tail", 3), &tail)
	r = readResult{}
	e.ok("read_logs", jobArgs(buildkitetest.FailedBuild, job.ID, "seek", total-3), &r)
	if tail.Entries[0].RN != total-3 || tail.TotalRows != total || !jsonEqual(tail.Entries, r.Entries) || r.TotalRows != total || r.NextSeek != 0 {
		t.Errorf("tail %+v vs read %+v (total %d)", tail, r, total)
	}
	for _, l := range append(texts(tail.Entries), m.Match.C) {
		if strings.ContainsAny(l, "\x1b\x07\r") {
			t.Errorf("escape left in %q", l)
		}
	}
	// seek 0 is the first row, and no limit reads the whole log.
	e.ok("read_logs", jobArgs(buildkitetest.FailedBuild, job.ID, "seek", 0), &r)
	if len(r.Entries) != total || r.Entries[0].RN != 0 || r.TotalRows != total || r.Truncated {
		t.Errorf("read_logs from 0 = %d rows, first %+v, total %d", len(r.Entries), r.Entries[0], r.TotalRows)
	}
	// context, when given, overrides before_context and after_context.
	e.ok("search_logs", jobArgs(buildkitetest.FailedBuild, job.ID, "pattern", `failure/error`, "context", 1, "after_context", 3), &s)
	if m := s.Results[0]; len(m.Before) != 1 || len(m.After) != 1 {
		t.Errorf("context 1 with after_context 3 gave %d before, %d after", len(m.Before), len(m.After))
	}
}

func TestSearchLogsArgumentsAndFailures(t *testing.T) {
	e := newMCP(t)
	job := e.sim.Data().Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild).JobByName(buildkitetest.LongLogJobName)
	args := func(extra ...any) map[string]any { return jobArgs(buildkitetest.FailedBuild, job.ID, extra...) }
	wantIn(t, "bad regex", e.failNoRequest("search_logs", args("pattern", "(unclosed")), `"pattern"`, "not a valid RE2")
	wantIn(t, "backreference", e.failNoRequest("search_logs", args("pattern", `(a)\1`)), "not a valid RE2")
	wantIn(t, "long pattern", e.failNoRequest("search_logs", args("pattern", strings.Repeat("a", 513))), "longer than 512 bytes")
	wantIn(t, "context", e.failNoRequest("search_logs", args("pattern", "x", "context", -1)), `"context"`)
	wantIn(t, "read limit", e.failNoRequest("read_logs", args("limit", -1)), `"limit"`)
	wantIn(t, "cache_ttl", e.failNoRequest("tail_logs", args("cache_ttl", "soon")), `"cache_ttl"`)
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
	if len(s.Results) != 1 || strings.Contains(s.Results[0].Match.C, "</tool_result>") || strings.Contains(s.Results[0].Match.C, "<system>") ||
		!strings.Contains(s.Results[0].Match.C, "‹/tool_result›") {
		t.Errorf("hostile line came out as %+v", s.Results)
	}
	var tail tailResult
	e.ok("tail_logs", jobArgs(buildkitetest.HostileBuild, job.ID, "tail", 1), &tail)
	if len(tail.Entries) != 1 || strings.Contains(tail.Entries[0].C, "</tool_result>") {
		t.Errorf("tail = %+v", tail.Entries)
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
	if len(s.Results) != want || s.Truncated || s.ScannedRows != g.Lines() {
		t.Fatalf("search found %d matches (want %d), scanned %d of %d rows, truncated %v", len(s.Results), want, s.ScannedRows, g.Lines(), s.Truncated)
	}
	for i, m := range s.Results {
		n := (i + 1) * every // the generator's line n is row n-1
		if m.Match.RN != n-1 || m.Match.C != g.Text(n) || len(m.Before) != 1 || m.Before[0].C != g.Text(n-1) || m.After[0].RN != n {
			t.Fatalf("match %d = %+v, want row %d %q", i, m, n-1, g.Text(n))
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
	if len(tail.Entries) != 5 || tail.Entries[0].RN != g.Lines()-5 || tail.TotalRows != g.Lines() || tail.LogBytes != g.Size() || tail.Entries[4].C != g.Text(g.Lines()) {
		t.Errorf("tail = total %d bytes %d rows %+v", tail.TotalRows, tail.LogBytes, tail.Entries)
	}
	if grew > 16<<20 {
		t.Errorf("tailing a 50 MB log grew the heap by %d MiB", grew>>20)
	}
	t.Logf("tail of %d MB: heap grew by at most %.1f MiB", bigLog>>20, float64(grew)/(1<<20))

	var r readResult
	e.ok("read_logs", jobArgs(buildkitetest.FailedBuild, jobID, "seek", 3*every-2, "limit", 3), &r)
	if len(r.Entries) != 3 || r.Entries[0].RN != 3*every-2 || r.Entries[1].C != g.Text(3*every) || r.NextSeek != 3*every+1 {
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
	if len(s.Results) != 2 || s.Results[0].Match.RN != last-1 || s.Results[1].Match.RN != last-every-1 || !s.Truncated || s.NextSeekStart != last-every-2 {
		t.Errorf("reverse search = %d matches, first %d, next %d, truncated %v", len(s.Results), s.Results[0].Match.RN, s.NextSeekStart, s.Truncated)
	}
	e.ok("search_logs", jobArgs(buildkitetest.FailedBuild, jobID, "pattern", "ERROR", "case_sensitive", true, "reverse", true, "limit", 1, "seek_start", s.NextSeekStart), &s)
	if len(s.Results) != 1 || s.Results[0].Match.RN != last-2*every-1 {
		t.Errorf("reverse search from seek_start = %+v", s.Results)
	}
	// Forward with a limit stops early and says where to go on.
	e.ok("search_logs", jobArgs(buildkitetest.FailedBuild, jobID, "pattern", "ERROR", "limit", 2), &s)
	if len(s.Results) != 2 || s.Results[1].Match.RN != 2*every-1 || !s.Truncated || s.NextSeekStart != 2*every || s.ScannedRows >= g.Lines() {
		t.Errorf("limited search = %+v", s)
	}
	// invert_match returns the lines that do not match.
	e.ok("search_logs", jobArgs(buildkitetest.FailedBuild, jobID, "pattern", "INFO", "invert_match", true, "limit", 3), &s)
	if len(s.Results) != 3 || s.Results[0].Match.RN != every-1 {
		t.Errorf("inverted search = %+v", s.Results)
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
