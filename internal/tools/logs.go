package tools

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"regexp"
	"regexp/syntax"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/kitegate/kitegate/internal/buildkite"
)

// logAPI is what the log tools call.
type logAPI interface {
	JobLogTail(ctx context.Context, org, pipeline, number, jobID string, n int64) (buildkite.LogTail, error)
	JobLog(ctx context.Context, org, pipeline, number, jobID string) (io.ReadCloser, int64, error)
	JobLogHead(ctx context.Context, org, pipeline, number, jobID string, n int64) (io.ReadCloser, error)
}

// Log rows are numbered from 0 at the start of the log, the same in every
// log tool and on every call (as Buildkite's own MCP server numbers them):
// row rn is the text after the rn-th "\n".
//
// Logs are read as streams and never held whole: what a call keeps is
// bounded by logLimits, whatever the log's size.
type logLimits struct {
	// output caps the bytes of log text a call keeps and returns.
	output int
	// scan caps how much of a log a call reads.
	scan int64
	// buffer is the scanner's buffer; a longer line is cut.
	buffer int
	// work bounds what one search may spend, in units counted the same on
	// every machine (see searchCost): a pattern matching every row with
	// wide context over a long log, or a large pattern, would otherwise
	// hold a core for as long as the log takes to read.
	work int64
}

// defaultLogLimits' work allows a 64 MiB scan with a pattern of 64 program
// instructions: 4 to 5 times what a 50 MB case-insensitive search with
// one row of context needs (BENCHMARKS: about a second).
var defaultLogLimits = logLimits{output: 256 << 10, scan: 64 << 20, buffer: 64 << 10, work: 64 << 20 * 64}

// contextRowCost is what keeping one row of context costs, in work units
// (a copy of the row and its share of a slice).
const contextRowCost = 256

// ctxCheckRows is how often, in rows, a search checks whether its caller
// is still there.
const ctxCheckRows = 256

type jobLogArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	BuildNumber  string `json:"build_number" jsonschema:"the build number, e.g. \"42\""`
	JobID        string `json:"job_id" jsonschema:"the job's UUID (list_jobs or get_build with include_jobs gives it)"`
}

// logCacheArgs are accepted as Buildkite's own server accepts them; kitegate
// keeps no log cache, so every call reads the log fresh.
type logCacheArgs struct {
	CacheTTL     string `json:"cache_ttl,omitempty" jsonschema:"accepted for compatibility, e.g. 30s; kitegate has no log cache and always reads fresh"`
	ForceRefresh bool   `json:"force_refresh,omitempty" jsonschema:"accepted for compatibility; every read is fresh"`
}

func (a logCacheArgs) check() error {
	if a.CacheTTL == "" {
		return nil
	}
	if d, err := time.ParseDuration(a.CacheTTL); err != nil || d < 0 {
		return &ArgumentError{Argument: "cache_ttl", Reason: "must be a duration such as 30s or 5m"}
	}
	return nil
}

type tailLogsArgs struct {
	jobLogArgs
	logCacheArgs
	Tail int `json:"tail,omitempty" jsonschema:"rows from the end (default 10)"`
}

type readLogsArgs struct {
	jobLogArgs
	logCacheArgs
	Seek  int `json:"seek,omitempty" jsonschema:"row to start at, from 0 (default 0); next_seek reads on"`
	Limit int `json:"limit,omitempty" jsonschema:"most rows to return (default: all, within 256 KiB)"`
}

type searchLogsArgs struct {
	jobLogArgs
	logCacheArgs
	Pattern       string `json:"pattern" jsonschema:"an RE2 regular expression (Go syntax, no backreferences or lookaround), at most 512 bytes, e.g. (?i)error|fail"`
	Context       int    `json:"context,omitempty" jsonschema:"rows of context before and after each match (at most 100); overrides before_context and after_context"`
	BeforeContext int    `json:"before_context,omitempty" jsonschema:"rows of context before each match (at most 100)"`
	AfterContext  int    `json:"after_context,omitempty" jsonschema:"rows of context after each match (at most 100)"`
	CaseSensitive bool   `json:"case_sensitive,omitempty" jsonschema:"match case exactly (default false: case-insensitive)"`
	InvertMatch   bool   `json:"invert_match,omitempty" jsonschema:"return the rows that do NOT match"`
	Reverse       bool   `json:"reverse,omitempty" jsonschema:"newest matches first, from the end or from seek_start back"`
	SeekStart     int    `json:"seek_start,omitempty" jsonschema:"row to start from (0-based): forward, earlier rows are skipped; with reverse, later rows (0: the end). next_seek_start continues"`
	Limit         int    `json:"limit,omitempty" jsonschema:"most matches to return (default: all, within 256 KiB)"`
}

// logRow is one line of a log: its row number rn (from 0), the agent's
// timestamp ts (Unix milliseconds, absent when the line has none) and its
// text c, colours and escape sequences removed.
type logRow struct {
	RN int    `json:"rn"`
	TS int64  `json:"ts,omitempty"`
	C  string `json:"c"`
}

type tailOut struct {
	JobID   string   `json:"job_id"`
	Entries []logRow `json:"entries"`
	// TotalRows is the number of rows in the log, when known.
	TotalRows int   `json:"total_rows,omitempty"`
	LogBytes  int64 `json:"log_bytes,omitempty"`
	// Truncated says the log has earlier rows than those returned.
	Truncated bool `json:"truncated"`
}

type readOut struct {
	JobID   string   `json:"job_id"`
	Entries []logRow `json:"entries"`
	// NextSeek is the row to pass as seek to read on; absent at the end of the log.
	NextSeek  int   `json:"next_seek,omitempty"`
	TotalRows int   `json:"total_rows,omitempty"`
	LogBytes  int64 `json:"log_bytes,omitempty"`
	// Truncated says rows were left out: the output cap was reached
	// before limit, or the log is longer than kitegate reads.
	Truncated bool   `json:"truncated"`
	Note      string `json:"note,omitempty"`
}

type logMatch struct {
	Match  logRow   `json:"match"`
	Before []logRow `json:"before_context,omitempty"`
	After  []logRow `json:"after_context,omitempty"`
}

type searchOut struct {
	// Note explains a search that stopped before the end of the log.
	Note       string     `json:"note,omitempty"`
	JobID      string     `json:"job_id"`
	Results    []logMatch `json:"results"`
	MatchCount int        `json:"match_count"`
	// ScannedRows is how many rows were read.
	ScannedRows int   `json:"scanned_rows"`
	LogBytes    int64 `json:"log_bytes,omitempty"`
	// Truncated says there may be more matches than returned; continue
	// from NextSeekStart.
	Truncated     bool `json:"truncated"`
	NextSeekStart int  `json:"next_seek_start,omitempty"`
}

const (
	defaultTail = 10
	// Bytes asked for per wanted line on the first read, and the most read.
	bytesPerLine = 512
	minTailBytes = 8 << 10
	maxTailBytes = 256 << 10
	// maxLineBytes cuts a single overlong line (a progress bar, a minified blob).
	maxLineBytes = 2000
	maxPattern   = 512
	// maxContext bounds the context rows kept per match (Buildkite's own
	// server has no bound; the output cap bounds the answer either way).
	maxContext = 100
)

func logTools(bk logAPI) ([]*Tool, error) { return logToolsWith(bk, defaultLogLimits) }

func logToolsWith(bk logAPI, lim logLimits) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "tail_logs",
		Title: "Tail a job's log",
		Description: "Returns the last rows of a job's log (default 10) as entries {rn, ts, c}: rn counts from 0 at the log's start " +
			"(as in search_logs and read_logs), ts is Unix ms, c the text without colours; total_rows, truncated. Use it first.",
		Area: "logs", Kind: Read, Scopes: []string{"read_build_logs"},
	}, func(ctx context.Context, in tailLogsArgs) (tailOut, error) {
		if err := in.check(); err != nil {
			return tailOut{}, err
		}
		n := in.Tail
		if n == 0 {
			n = defaultTail
		}
		if n < 1 {
			return tailOut{}, &ArgumentError{Argument: "tail", Reason: "must be 1 or more"}
		}
		return tailLog(ctx, bk, in.jobLogArgs, n, true, lim)
	})
	add(&d, Spec{
		Name:  "read_logs",
		Title: "Read a job's log by rows",
		Description: "Returns a job's log rows {rn, ts, c} from row seek (0-based) on, at most limit (default all) and 256 KiB: " +
			"entries, next_seek to read on, total_rows at the end. Prefer search_logs or tail_logs on long logs.",
		Area: "logs", Kind: Read, Scopes: []string{"read_build_logs"},
	}, func(ctx context.Context, in readLogsArgs) (readOut, error) {
		if err := in.check(); err != nil {
			return readOut{}, err
		}
		if in.Seek < 0 {
			return readOut{}, &ArgumentError{Argument: "seek", Reason: "must be 0 or more"}
		}
		if in.Limit < 0 {
			return readOut{}, &ArgumentError{Argument: "limit", Reason: "must be 0 (all) or more"}
		}
		return readLog(ctx, bk, in, lim)
	})
	add(&d, Spec{
		Name:  "search_logs",
		Title: "Search a job's log",
		Description: "Greps a job's log with an RE2 pattern (case-insensitive unless case_sensitive): results [{match, before_context, " +
			"after_context}] of rows {rn, ts, c}, oldest first (newest with reverse), match_count; at most limit (default all) " +
			"and 256 KiB. truncated: pass next_seek_start as seek_start to go on. rn is read_logs' seek.",
		Area: "logs", Kind: Read, Scopes: []string{"read_build_logs"},
	}, func(ctx context.Context, in searchLogsArgs) (searchOut, error) {
		if err := in.check(); err != nil {
			return searchOut{}, err
		}
		return searchLog(ctx, bk, in, lim)
	})
	return d.done()
}

// programSize is the number of instructions of pattern's compiled program:
// matching a byte costs at most that many steps.
func programSize(pattern string) int64 {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 1
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 1
	}
	return int64(max(len(prog.Inst), 1))
}

func compilePattern(pattern string, caseSensitive bool) (*regexp.Regexp, error) {
	switch {
	case pattern == "":
		return nil, &ArgumentError{Argument: "pattern", Reason: "must not be empty"}
	case len(pattern) > maxPattern:
		return nil, &ArgumentError{Argument: "pattern", Reason: "is longer than 512 bytes"}
	}
	if !caseSensitive {
		pattern = "(?i)" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, &ArgumentError{Argument: "pattern", Reason: "is not a valid RE2 regular expression: " + reSyntaxReason(err)}
	}
	return re, nil
}

func reSyntaxReason(err error) string {
	msg := err.Error()
	const prefix = "error parsing regexp: "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		msg = msg[len(prefix):]
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

func contextSizes(in searchLogsArgs) (before, after int, err error) {
	for name, v := range map[string]int{"context": in.Context, "before_context": in.BeforeContext, "after_context": in.AfterContext} {
		if v < 0 {
			return 0, 0, &ArgumentError{Argument: name, Reason: "must be 0 or more"}
		}
	}
	// As Buildkite's own server does: context, when given, sets both.
	before, after = in.BeforeContext, in.AfterContext
	if in.Context > 0 {
		before, after = in.Context, in.Context
	}
	return min(before, maxContext), min(after, maxContext), nil
}

func searchLog(ctx context.Context, bk logAPI, in searchLogsArgs, lim logLimits) (searchOut, error) {
	re, err := compilePattern(in.Pattern, in.CaseSensitive)
	if err != nil {
		return searchOut{}, err
	}
	before, after, err := contextSizes(in)
	if err != nil {
		return searchOut{}, err
	}
	limit := in.Limit
	switch {
	case limit < 0:
		return searchOut{}, &ArgumentError{Argument: "limit", Reason: "must be 0 (all) or more"}
	case limit == 0:
		limit = math.MaxInt // all: the output cap still bounds the answer
	}
	if in.SeekStart < 0 {
		return searchOut{}, &ArgumentError{Argument: "seek_start", Reason: "must be 0 or more"}
	}
	body, size, err := bk.JobLog(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID)
	if err != nil {
		return searchOut{}, err
	}
	defer body.Close()
	out := searchOut{JobID: in.JobID, Results: []logMatch{}}
	if size > 0 {
		out.LogBytes = size
	}
	sc := newLineScanner(body, lim)
	ring := newLineRing(before)
	var (
		kept    []*logMatch // oldest first
		open    []*logMatch // matches still collecting after-context
		held    int         // bytes of text in kept
		dropped bool        // reverse: older matches were let go
	)
	cost := func(s string) int { return len(s) + 24 }
	insts, spent := programSize(re.String()), int64(0)
	for sc.scan() {
		row := sc.row()
		rn, text := row.RN, sc.text
		if sc.n%ctxCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return searchOut{}, err // the caller is gone: stop working for them
			}
		}
		// What this row costs: matching it, and the context rows kept.
		spent += int64(len(text)+1)*insts + int64(len(open))*contextRowCost
		if lim.work > 0 && spent > lim.work {
			out.Truncated = true
			out.Note = "the search stopped at row " + strconv.Itoa(rn) + ": it reached its work limit; narrow the pattern or the context, or search on from seek_start"
			if !in.Reverse && out.NextSeekStart == 0 {
				out.NextSeekStart = rn
			}
			break
		}
		if in.Reverse && in.SeekStart > 0 && rn > in.SeekStart {
			break
		}
		for _, m := range open {
			m.After = append(m.After, row)
			held += cost(row.C)
		}
		open = trimOpen(open, after)
		if held > lim.output {
			if !in.Reverse {
				out.Truncated, out.NextSeekStart = true, rn+1
				break
			}
			for held > lim.output && len(kept) > 1 {
				held -= matchCost(kept[0], cost)
				kept, dropped = kept[1:], true
			}
		}
		if !in.Reverse && rn < in.SeekStart {
			ring.push(rn, row.TS, text)
			continue
		}
		if re.Match(text) != in.InvertMatch {
			if !in.Reverse && len(kept) == limit {
				out.Truncated, out.NextSeekStart = true, rn
				break
			}
			m := &logMatch{Match: row, Before: ring.rows()}
			spent += int64(len(m.Before)) * contextRowCost
			held += matchCost(m, cost)
			kept = append(kept, m)
			if after > 0 {
				open = append(open, m)
			}
			if in.Reverse {
				for len(kept) > limit || (held > lim.output && len(kept) > 1) {
					held -= matchCost(kept[0], cost)
					kept, dropped = kept[1:], true
				}
			} else if held > lim.output {
				out.Truncated, out.NextSeekStart = true, rn+1
				break
			}
		}
		ring.push(rn, row.TS, text)
		if !in.Reverse && len(kept) == limit && len(open) == 0 {
			// Look one row further only to say whether more may follow.
			if sc.scan() {
				out.Truncated, out.NextSeekStart = true, sc.n-1
			}
			break
		}
	}
	out.ScannedRows = sc.n
	if err := ctx.Err(); err != nil {
		return searchOut{}, err // the caller is gone: no partial answer for nobody
	}
	if err := sc.err(); err != nil {
		// What was found before the read failed is still worth having.
		if sc.n == 0 {
			return searchOut{}, logReadError(err)
		}
		out.Truncated, out.Note = true, logReadError(err).Error()+" after row "+strconv.Itoa(sc.n-1)
		if !in.Reverse && out.NextSeekStart == 0 {
			out.NextSeekStart = sc.n
		}
	}
	if sc.cut {
		out.Truncated = true
		out.Note = "only the first " + strconv.FormatInt(lim.scan>>20, 10) + " MiB of the log were searched"
	}
	if in.Reverse {
		if dropped && len(kept) > 0 {
			out.Truncated, out.NextSeekStart = true, kept[0].Match.RN-1
		}
		for i := len(kept) - 1; i >= 0; i-- {
			out.Results = append(out.Results, *kept[i])
		}
	} else {
		for _, m := range kept {
			out.Results = append(out.Results, *m)
		}
	}
	out.MatchCount = len(out.Results)
	return out, nil
}

func matchCost(m *logMatch, cost func(string) int) int {
	c := cost(m.Match.C)
	for _, l := range m.Before {
		c += cost(l.C)
	}
	for _, l := range m.After {
		c += cost(l.C)
	}
	return c
}

// trimOpen drops the matches whose after-context is complete.
func trimOpen(open []*logMatch, after int) []*logMatch {
	i := 0
	for _, m := range open {
		if len(m.After) < after {
			open[i] = m
			i++
		}
	}
	return open[:i]
}

func readLog(ctx context.Context, bk logAPI, in readLogsArgs, lim logLimits) (readOut, error) {
	limit := in.Limit
	if limit == 0 {
		limit = math.MaxInt // all: the output cap still bounds the answer
	}
	body, size, err := bk.JobLog(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID)
	if err != nil {
		return readOut{}, err
	}
	defer body.Close()
	out := readOut{JobID: in.JobID, Entries: []logRow{}}
	if size > 0 {
		out.LogBytes = size
	}
	sc := newLineScanner(body, lim)
	held := 0
	for sc.scan() {
		rn := sc.n - 1
		if rn < in.Seek {
			continue
		}
		if len(out.Entries) == limit || held+len(sc.text) > lim.output {
			out.NextSeek = rn
			out.Truncated = len(out.Entries) < limit
			break
		}
		out.Entries = append(out.Entries, sc.row())
		held += len(sc.text)
	}
	if err := ctx.Err(); err != nil {
		return readOut{}, err // the caller is gone: no partial answer for nobody
	}
	if err := sc.err(); err != nil {
		if len(out.Entries) == 0 {
			return readOut{}, logReadError(err)
		}
		out.Truncated, out.NextSeek = true, in.Seek+len(out.Entries)
		out.Note = logReadError(err).Error()
		return out, nil
	}
	if out.NextSeek == 0 {
		if sc.cut {
			out.Truncated = true
		} else {
			out.TotalRows = sc.n
		}
	}
	return out, nil
}

// tailLog reads the last n rows with a range request. With number set and
// a log longer than the range, it counts the rows before the range
// (streaming, so in bounded memory) to number them; rows whose number
// cannot be known (a log longer than kitegate scans) have rn -1.
func tailLog(ctx context.Context, bk logAPI, in jobLogArgs, n int, number bool, lim logLimits) (tailOut, error) {
	want := int64(min(max(n*bytesPerLine, minTailBytes), maxTailBytes))
	for {
		t, err := bk.JobLogTail(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID, want)
		if err != nil {
			return tailOut{}, err
		}
		rows := logLines(t.Data, t.Offset > 0)
		// Too few whole lines in what was read: read once more, as much as allowed.
		if len(rows) < n && t.Offset > 0 && want < maxTailBytes {
			want = maxTailBytes
			continue
		}
		out := tailOut{JobID: in.JobID, Entries: rows}
		if t.Size >= 0 {
			out.LogBytes = t.Size
		}
		if len(rows) > n {
			out.Entries = rows[len(rows)-n:]
			out.Truncated = true
		}
		before := 0 // rows of the log before rows[0]
		known := t.Offset == 0
		if t.Offset > 0 {
			out.Truncated = true
			if i := bytes.IndexByte(t.Data, '\n'); i >= 0 && number && t.Offset+int64(i)+1 <= lim.scan {
				c, err := countLines(ctx, bk, in, t.Offset+int64(i)+1)
				if err == nil {
					before, known = c, true
				} else if ctx.Err() != nil {
					return tailOut{}, err
				}
			}
		}
		first := -1
		if known {
			out.TotalRows = before + len(rows)
			first = out.TotalRows - len(out.Entries)
		}
		for i := range out.Entries {
			out.Entries[i].RN = -1
			if first >= 0 {
				out.Entries[i].RN = first + i
			}
		}
		if out.Entries == nil {
			out.Entries = []logRow{}
		}
		return out, nil
	}
}

// logReadError says why a log stopped arriving, in words for the caller.
func logReadError(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return safeError("reading the job log from Buildkite timed out")
	}
	return safeError("reading the job log from Buildkite was interrupted")
}

// countLines counts the "\n" in the first n bytes of the log.
func countLines(ctx context.Context, bk logAPI, in jobLogArgs, n int64) (int, error) {
	r, err := bk.JobLogHead(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID, n)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	buf := make([]byte, 32<<10)
	count, read := 0, int64(0)
	for {
		k, err := r.Read(buf)
		count += bytes.Count(buf[:k], []byte{'\n'})
		read += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if read != n {
		return 0, errors.New("count log lines: short read")
	}
	return count, nil
}

// lineScanner reads a log line by line in bounded memory: a line longer
// than the buffer is cut (its remainder skipped) but still counts as one.
type lineScanner struct {
	sc      *bufio.Scanner
	lr      *io.LimitedReader
	n       int    // rows read so far: the current row is n-1
	text    []byte // the current line, cleaned; valid until the next scan
	ts      int64  // the current line's agent timestamp, 0 if none
	clean   []byte
	frag    bool // the last token ended without a newline (a cut line)
	skipRun bool // skipping the remainder of a cut line
	cut     bool // the scan limit stopped the read
	limit   int64
}

func newLineScanner(r io.Reader, lim logLimits) *lineScanner {
	ls := &lineScanner{lr: &io.LimitedReader{R: r, N: lim.scan}, limit: lim.scan}
	ls.sc = bufio.NewScanner(ls.lr)
	ls.sc.Buffer(make([]byte, min(lim.buffer, 4096)), lim.buffer)
	full := lim.buffer
	ls.sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			ls.frag = false
			return i + 1, data[:i], nil
		}
		if atEOF {
			if len(data) == 0 {
				return 0, nil, nil
			}
			ls.frag = false
			return len(data), data, nil
		}
		if len(data) >= full {
			ls.frag = true
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	return ls
}

func (ls *lineScanner) scan() bool {
	for ls.sc.Scan() {
		tok := ls.sc.Bytes()
		continuing := ls.skipRun
		ls.skipRun = ls.frag
		if continuing {
			continue // the rest of a cut line
		}
		ls.n++
		ls.ts = agentTime(tok)
		ls.clean = cleanInto(ls.clean[:0], tok)
		ls.text = ls.clean
		return true
	}
	if ls.lr.N <= 0 {
		ls.cut = true
	}
	return false
}

func (ls *lineScanner) err() error { return ls.sc.Err() }

// row is the current line as a log row (its text copied).
func (ls *lineScanner) row() logRow { return logRow{RN: ls.n - 1, TS: ls.ts, C: string(ls.text)} }

var agentTimePrefix = []byte("\x1b_bk;t=")

// agentTime reads the first "\x1b_bk;t=<unix ms>\x07" timestamp the agent
// put on a raw line, 0 when there is none.
func agentTime(raw []byte) int64 {
	i := bytes.Index(raw, agentTimePrefix)
	if i < 0 {
		return 0
	}
	rest := raw[i+len(agentTimePrefix):]
	end := bytes.IndexByte(rest, 0x07)
	if end < 1 || end > 19 {
		return 0
	}
	ms, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	if err != nil {
		return 0
	}
	return ms
}

// lineRing keeps the last few rows for before-context, reusing its buffers.
type lineRing struct {
	rn    []int
	ts    []int64
	text  [][]byte
	start int
	size  int
}

func newLineRing(k int) *lineRing {
	return &lineRing{rn: make([]int, k), ts: make([]int64, k), text: make([][]byte, k)}
}

func (r *lineRing) push(rn int, ts int64, text []byte) {
	if len(r.rn) == 0 {
		return
	}
	i := (r.start + r.size) % len(r.rn)
	if r.size == len(r.rn) {
		i = r.start
		r.start = (r.start + 1) % len(r.rn)
	} else {
		r.size++
	}
	r.rn[i], r.ts[i], r.text[i] = rn, ts, append(r.text[i][:0], text...)
}

func (r *lineRing) rows() []logRow {
	if r.size == 0 {
		return nil
	}
	out := make([]logRow, 0, r.size)
	for k := 0; k < r.size; k++ {
		i := (r.start + k) % len(r.rn)
		out = append(out, logRow{RN: r.rn[i], TS: r.ts[i], C: string(r.text[i])})
	}
	return out
}

// logLines splits raw log bytes into display rows, not yet numbered.
// partial says the first line may have been cut by the range read, and is
// dropped.
func logLines(data []byte, partial bool) []logRow {
	if partial {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil
		}
		data = data[i+1:]
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	if len(data) == 0 {
		return nil
	}
	var rows []logRow
	var buf []byte
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		buf = cleanInto(buf[:0], line)
		rows = append(rows, logRow{TS: agentTime(line), C: string(buf)})
	}
	return rows
}

// cleanLine is cleanInto for one line, as a string.
func cleanLine(b []byte) string { return string(cleanInto(nil, b)) }

// cleanInto appends to dst what a terminal would show of the raw line src:
// escape sequences removed (CSI colours and cursor moves, string sequences
// such as OSC and the agent's "\x1b_bk;t=…\x07" timestamps, two-byte
// escapes), only the text after the last carriage return, no control
// characters but tab, valid UTF-8, at most maxLineBytes.
func cleanInto(dst, src []byte) []byte {
	src = bytes.TrimSuffix(src, []byte("\r"))
	start := len(dst)
	for i := 0; i < len(src); {
		c := src[i]
		if c != 0x1b {
			switch {
			case c == '\r':
				dst = dst[:start] // a carriage return starts the line over
			case c == '\t' || c >= ' ' && c != 0x7f:
				dst = append(dst, c)
			}
			i++
			continue
		}
		i = skipEscape(src, i)
	}
	line := dst[start:]
	if !utf8.Valid(line) {
		fixed := bytes.ToValidUTF8(line, []byte("\uFFFD"))
		dst = append(dst[:start], fixed...)
		line = dst[start:]
	}
	if len(line) > maxLineBytes {
		cut := maxLineBytes
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		dst = append(dst[:start+cut], " …[line cut]"...)
	}
	return dst
}

// skipEscape returns the index after the escape sequence at src[i] (ESC).
func skipEscape(src []byte, i int) int {
	j := i + 1
	if j >= len(src) {
		return j
	}
	switch c := src[j]; {
	case c == '[': // CSI: parameters, intermediates, a final byte
		k := j + 1
		for k < len(src) && src[k] >= 0x30 && src[k] <= 0x3f {
			k++
		}
		for k < len(src) && src[k] >= 0x20 && src[k] <= 0x2f {
			k++
		}
		if k < len(src) && src[k] >= 0x40 && src[k] <= 0x7e {
			return k + 1
		}
		return j + 1
	case c == ']' || c == '_' || c == 'P' || c == 'X' || c == '^': // a string, ended by BEL or ST
		k := j + 1
		for k < len(src) && src[k] != 0x07 && src[k] != 0x1b {
			k++
		}
		switch {
		case k < len(src) && src[k] == 0x07:
			return k + 1
		case k+1 < len(src) && src[k] == 0x1b && src[k+1] == '\\':
			return k + 2
		}
		return k
	}
	for j < len(src) && src[j] >= 0x20 && src[j] <= 0x2f {
		j++
	}
	if j < len(src) && src[j] >= 0x30 && src[j] <= 0x7e {
		j++
	}
	return j
}
