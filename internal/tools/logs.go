package tools

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/kitegate/kitegate/internal/buildkite"
)

// logAPI is what the log tools call.
type logAPI interface {
	JobLogTail(ctx context.Context, org, pipeline, number, jobID string, n int64) (buildkite.LogTail, error)
	JobLog(ctx context.Context, org, pipeline, number, jobID string) (io.ReadCloser, int64, error)
	JobLogHead(ctx context.Context, org, pipeline, number, jobID string, n int64) (io.ReadCloser, error)
}

// Log lines are numbered from 1 at the start of the log, the same in every
// log tool and on every call: line n is the text after the (n-1)th "\n".
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
}

var defaultLogLimits = logLimits{output: 256 << 10, scan: 64 << 20, buffer: 64 << 10}

type jobLogArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	BuildNumber  string `json:"build_number" jsonschema:"the build number, e.g. \"42\""`
	JobID        string `json:"job_id" jsonschema:"the job's UUID (list_jobs or get_build with include_jobs gives it)"`
}

type tailLogsArgs struct {
	jobLogArgs
	Tail int `json:"tail,omitempty" jsonschema:"how many lines from the end of the log, 1 to 1000 (default 10)"`
}

type readLogsArgs struct {
	jobLogArgs
	Seek  int `json:"seek,omitempty" jsonschema:"the line number to start at, from 1 (default 1); use next_seek from the previous answer to read on"`
	Limit int `json:"limit,omitempty" jsonschema:"how many lines to return, 1 to 2000 (default 200)"`
}

type searchLogsArgs struct {
	jobLogArgs
	Pattern       string `json:"pattern" jsonschema:"an RE2 regular expression (Go syntax, no backreferences or lookaround), at most 512 bytes, e.g. (?i)error|fail"`
	Context       int    `json:"context,omitempty" jsonschema:"lines of context before and after each match, 0 to 20 (default 0)"`
	BeforeContext int    `json:"before_context,omitempty" jsonschema:"lines of context before each match, 0 to 20; overrides context"`
	AfterContext  int    `json:"after_context,omitempty" jsonschema:"lines of context after each match, 0 to 20; overrides context"`
	CaseSensitive bool   `json:"case_sensitive,omitempty" jsonschema:"match case exactly (default false: case-insensitive)"`
	InvertMatch   bool   `json:"invert_match,omitempty" jsonschema:"return the lines that do NOT match"`
	Reverse       bool   `json:"reverse,omitempty" jsonschema:"return the last matches, newest first (default: the first matches, oldest first)"`
	SeekStart     int    `json:"seek_start,omitempty" jsonschema:"line number where the search starts: forward, lines before it are skipped; with reverse, lines after it are skipped. Use next_seek_start from the previous answer to continue"`
	Limit         int    `json:"limit,omitempty" jsonschema:"the most matches to return, 1 to 1000 (default 50)"`
}

type tailOut struct {
	JobID string   `json:"job_id"`
	Lines []string `json:"lines"`
	// FirstLine is the number of Lines[0] in the log.
	FirstLine  int   `json:"first_line,omitempty"`
	TotalLines int   `json:"total_lines,omitempty"`
	LogBytes   int64 `json:"log_bytes,omitempty"`
	// Truncated says the log has earlier lines than those returned.
	Truncated bool `json:"truncated"`
}

type readOut struct {
	JobID     string   `json:"job_id"`
	Lines     []string `json:"lines"`
	FirstLine int      `json:"first_line"`
	// NextSeek is the line to pass as seek to read on; 0 at the end of the log.
	NextSeek   int   `json:"next_seek,omitempty"`
	TotalLines int   `json:"total_lines,omitempty"`
	LogBytes   int64 `json:"log_bytes,omitempty"`
	// Truncated says lines were left out: the output cap was reached
	// before limit, or the log is longer than kitegate reads.
	Truncated bool   `json:"truncated"`
	Note      string `json:"note,omitempty"`
}

type logLine struct {
	N    int    `json:"n"`
	Text string `json:"text"`
}

type logMatch struct {
	N      int       `json:"n"`
	Text   string    `json:"text"`
	Before []logLine `json:"before,omitempty"`
	After  []logLine `json:"after,omitempty"`
}

type searchOut struct {
	// Note explains a search that stopped before the end of the log.
	Note         string     `json:"note,omitempty"`
	JobID        string     `json:"job_id"`
	Matches      []logMatch `json:"matches"`
	ScannedLines int        `json:"scanned_lines"`
	LogBytes     int64      `json:"log_bytes,omitempty"`
	// Truncated says there may be more matches than returned; continue
	// from NextSeekStart.
	Truncated     bool `json:"truncated"`
	NextSeekStart int  `json:"next_seek_start,omitempty"`
}

const (
	defaultTail = 10
	maxTail     = 1000
	// Bytes asked for per wanted line on the first read, and the most read.
	bytesPerLine = 512
	minTailBytes = 8 << 10
	maxTailBytes = 256 << 10
	// maxLineBytes cuts a single overlong line (a progress bar, a minified blob).
	maxLineBytes     = 2000
	maxPattern       = 512
	maxContext       = 20
	defaultMatches   = 50
	maxMatches       = 1000
	defaultReadLines = 200
	maxReadLines     = 2000
)

func logTools(bk Buildkite) ([]*Tool, error) { return logToolsWith(bk, defaultLogLimits) }

func logToolsWith(bk logAPI, lim logLimits) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "tail_logs",
		Title: "Tail a job's log",
		Description: "Returns the last lines of a job's log (10 by default, up to 1000) as plain text, ANSI colours and " +
			"agent timestamps removed, with first_line (the number of the first returned line; lines count from 1 at the start of the log, " +
			"as in search_logs and read_logs), total_lines, log_bytes, and truncated when earlier lines exist. " +
			"Use it first to see why a job failed: errors are usually at the end.",
		Area: "logs", Kind: Read, Scopes: []string{"read_build_logs"},
	}, func(ctx context.Context, in tailLogsArgs) (tailOut, error) {
		n := in.Tail
		if n == 0 {
			n = defaultTail
		}
		if n < 1 || n > maxTail {
			return tailOut{}, &ArgumentError{Argument: "tail", Reason: "must be between 1 and 1000"}
		}
		t, err := tailLog(ctx, bk, in.jobLogArgs, n, true, lim)
		if err != nil {
			return tailOut{}, err
		}
		return t, nil
	})
	add(&d, Spec{
		Name:  "read_logs",
		Title: "Read a job's log by lines",
		Description: "Returns lines of a job's log from line seek (from 1) on, limit lines at a time (200 by default, up to 2000), " +
			"as plain text without ANSI colours or agent timestamps: lines, first_line, next_seek to read on (absent at the end), " +
			"and total_lines once the end was reached. Line numbers are those search_logs reports, so read around a match with " +
			"seek set a little before its n. Prefer search_logs or tail_logs on long logs.",
		Area: "logs", Kind: Read, Scopes: []string{"read_build_logs"},
	}, func(ctx context.Context, in readLogsArgs) (readOut, error) {
		seek, limit := in.Seek, in.Limit
		if seek == 0 {
			seek = 1
		}
		if limit == 0 {
			limit = defaultReadLines
		}
		if seek < 1 {
			return readOut{}, &ArgumentError{Argument: "seek", Reason: "must be 1 or more"}
		}
		if limit < 1 || limit > maxReadLines {
			return readOut{}, &ArgumentError{Argument: "limit", Reason: "must be between 1 and 2000"}
		}
		return readLog(ctx, bk, in, seek, limit, lim)
	})
	add(&d, Spec{
		Name:  "search_logs",
		Title: "Search a job's log",
		Description: "Searches a job's log line by line with an RE2 regular expression (case-insensitive unless case_sensitive), " +
			"like grep: matches (each with its line number n, text, and before/after context lines), oldest first, or the last ones newest first with reverse. " +
			"Colours and agent timestamps are removed before matching. At most limit matches (50 by default) and 256 KiB of text are returned; " +
			"truncated with next_seek_start says there may be more: pass it as seek_start to continue. " +
			"Line numbers count from 1 at the start of the log and work with read_logs' seek.",
		Area: "logs", Kind: Read, Scopes: []string{"read_build_logs"},
	}, func(ctx context.Context, in searchLogsArgs) (searchOut, error) {
		return searchLog(ctx, bk, in, lim)
	})
	return d.done()
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
		if v < 0 || v > maxContext {
			return 0, 0, &ArgumentError{Argument: name, Reason: "must be between 0 and 20"}
		}
	}
	before, after = in.Context, in.Context
	if in.BeforeContext > 0 {
		before = in.BeforeContext
	}
	if in.AfterContext > 0 {
		after = in.AfterContext
	}
	return before, after, nil
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
	if limit == 0 {
		limit = defaultMatches
	}
	if limit < 1 || limit > maxMatches {
		return searchOut{}, &ArgumentError{Argument: "limit", Reason: "must be between 1 and 1000"}
	}
	if in.SeekStart < 0 {
		return searchOut{}, &ArgumentError{Argument: "seek_start", Reason: "must be 1 or more"}
	}
	body, size, err := bk.JobLog(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID)
	if err != nil {
		return searchOut{}, err
	}
	defer body.Close()
	out := searchOut{JobID: in.JobID, Matches: []logMatch{}}
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
	cost := func(s string) int { return len(s) + 16 }
	for sc.scan() {
		n, text := sc.n, sc.text
		if in.Reverse && in.SeekStart > 0 && n > in.SeekStart {
			break
		}
		for _, m := range open {
			m.After = append(m.After, logLine{n, string(text)})
			held += cost(m.After[len(m.After)-1].Text)
		}
		open = trimOpen(open, after)
		if held > lim.output {
			if !in.Reverse {
				out.Truncated, out.NextSeekStart = true, n+1
				break
			}
			for held > lim.output && len(kept) > 1 {
				held -= matchCost(kept[0], cost)
				kept, dropped = kept[1:], true
			}
		}
		if !in.Reverse && in.SeekStart > 0 && n < in.SeekStart {
			ring.push(n, text)
			continue
		}
		if re.Match(text) != in.InvertMatch {
			if !in.Reverse && len(kept) == limit {
				out.Truncated, out.NextSeekStart = true, n
				break
			}
			m := &logMatch{N: n, Text: string(text), Before: ring.lines()}
			held += cost(m.Text)
			for _, b := range m.Before {
				held += cost(b.Text)
			}
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
				out.Truncated, out.NextSeekStart = true, n+1
				break
			}
		}
		ring.push(n, text)
		if !in.Reverse && len(kept) == limit && len(open) == 0 {
			// Look one line further only to say whether more may follow.
			if sc.scan() {
				out.Truncated, out.NextSeekStart = true, sc.n
			}
			break
		}
	}
	out.ScannedLines = sc.n
	if err := sc.err(); err != nil {
		// What was found before the read failed is still worth having.
		if sc.n == 0 {
			return searchOut{}, logReadError(err)
		}
		out.Truncated, out.Note = true, logReadError(err).Error()+" after line "+strconv.Itoa(sc.n)
		if !in.Reverse && out.NextSeekStart == 0 {
			out.NextSeekStart = sc.n + 1
		}
	}
	if sc.cut {
		out.Truncated = true
		out.Note = "only the first " + strconv.FormatInt(lim.scan>>20, 10) + " MiB of the log were searched"
	}
	if in.Reverse {
		if dropped && len(kept) > 0 {
			out.Truncated, out.NextSeekStart = true, kept[0].N-1
		}
		for i := len(kept) - 1; i >= 0; i-- {
			out.Matches = append(out.Matches, *kept[i])
		}
		return out, nil
	}
	for _, m := range kept {
		out.Matches = append(out.Matches, *m)
	}
	return out, nil
}

func matchCost(m *logMatch, cost func(string) int) int {
	c := cost(m.Text)
	for _, l := range m.Before {
		c += cost(l.Text)
	}
	for _, l := range m.After {
		c += cost(l.Text)
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

func readLog(ctx context.Context, bk logAPI, in readLogsArgs, seek, limit int, lim logLimits) (readOut, error) {
	body, size, err := bk.JobLog(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID)
	if err != nil {
		return readOut{}, err
	}
	defer body.Close()
	out := readOut{JobID: in.JobID, Lines: []string{}, FirstLine: seek}
	if size > 0 {
		out.LogBytes = size
	}
	sc := newLineScanner(body, lim)
	held := 0
	for sc.scan() {
		if sc.n < seek {
			continue
		}
		if len(out.Lines) == limit || held+len(sc.text) > lim.output {
			out.NextSeek = sc.n
			out.Truncated = len(out.Lines) < limit
			break
		}
		out.Lines = append(out.Lines, string(sc.text))
		held += len(sc.text)
	}
	if err := sc.err(); err != nil {
		if len(out.Lines) == 0 {
			return readOut{}, logReadError(err)
		}
		out.Truncated, out.NextSeek = true, out.FirstLine+len(out.Lines)
		out.Note = logReadError(err).Error()
		return out, nil
	}
	if out.NextSeek == 0 {
		if sc.cut {
			out.Truncated = true
		} else {
			out.TotalLines = sc.n
		}
	}
	return out, nil
}

// tailLog reads the last n lines with a range request. With number set and
// a log longer than the range, it counts the lines before the range
// (streaming, so in bounded memory) to give first_line.
func tailLog(ctx context.Context, bk logAPI, in jobLogArgs, n int, number bool, lim logLimits) (tailOut, error) {
	want := int64(min(max(n*bytesPerLine, minTailBytes), maxTailBytes))
	for {
		t, err := bk.JobLogTail(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID, want)
		if err != nil {
			return tailOut{}, err
		}
		lines := logLines(t.Data, t.Offset > 0)
		// Too few whole lines in what was read: read once more, as much as allowed.
		if len(lines) < n && t.Offset > 0 && want < maxTailBytes {
			want = maxTailBytes
			continue
		}
		out := tailOut{JobID: in.JobID, Lines: lines}
		if t.Size >= 0 {
			out.LogBytes = t.Size
		}
		if len(lines) > n {
			out.Lines = lines[len(lines)-n:]
			out.Truncated = true
		}
		before := 0 // lines of the log before lines[0]
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
		if known && len(out.Lines) > 0 {
			out.TotalLines = before + len(lines)
			out.FirstLine = out.TotalLines - len(out.Lines) + 1
		}
		if out.Lines == nil {
			out.Lines = []string{}
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
	n       int    // number of the current line
	text    []byte // the current line, cleaned; valid until the next scan
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

// lineRing keeps the last few lines for before-context, reusing its buffers.
type lineRing struct {
	n     []int
	text  [][]byte
	start int
	size  int
}

func newLineRing(k int) *lineRing {
	return &lineRing{n: make([]int, k), text: make([][]byte, k)}
}

func (r *lineRing) push(n int, text []byte) {
	if len(r.n) == 0 {
		return
	}
	i := (r.start + r.size) % len(r.n)
	if r.size == len(r.n) {
		i = r.start
		r.start = (r.start + 1) % len(r.n)
	} else {
		r.size++
	}
	r.n[i], r.text[i] = n, append(r.text[i][:0], text...)
}

func (r *lineRing) lines() []logLine {
	if r.size == 0 {
		return nil
	}
	out := make([]logLine, 0, r.size)
	for k := 0; k < r.size; k++ {
		i := (r.start + k) % len(r.n)
		out = append(out, logLine{r.n[i], string(r.text[i])})
	}
	return out
}

// logLines splits raw log bytes into display lines. partial says the first
// line may have been cut by the range read, and is dropped.
func logLines(data []byte, partial bool) []string {
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
	var lines []string
	var buf []byte
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		buf = cleanInto(buf[:0], line)
		lines = append(lines, string(buf))
	}
	return lines
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
