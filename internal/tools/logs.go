package tools

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"unicode/utf8"
)

type tailLogsArgs struct {
	OrgSlug      string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	PipelineSlug string `json:"pipeline_slug" jsonschema:"the pipeline slug, e.g. web-app"`
	BuildNumber  string `json:"build_number" jsonschema:"the build number, e.g. \"42\""`
	JobID        string `json:"job_id" jsonschema:"the job's UUID (list_jobs or get_build with include_jobs gives it)"`
	Tail         int    `json:"tail,omitempty" jsonschema:"how many lines from the end of the log, 1 to 1000 (default 10)"`
}

type tailOut struct {
	JobID string   `json:"job_id"`
	Lines []string `json:"lines"`
	// FirstLine is the 1-based number of Lines[0] in the log, when the whole
	// log was read and numbers are therefore known.
	FirstLine  int   `json:"first_line,omitempty"`
	TotalLines int   `json:"total_lines,omitempty"`
	LogBytes   int64 `json:"log_bytes,omitempty"`
	// Truncated says the log has earlier lines than those returned.
	Truncated bool `json:"truncated"`
}

const (
	defaultTail = 10
	maxTail     = 1000
	// Bytes asked for per wanted line on the first read, and the most read.
	bytesPerLine = 512
	minTailBytes = 8 << 10
	maxTailBytes = 256 << 10
	// maxLineBytes cuts a single overlong line (a progress bar, a minified blob).
	maxLineBytes = 2000
)

func logTools(bk Buildkite) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "tail_logs",
		Title: "Tail a job's log",
		Description: "Returns the last lines of a job's log (10 by default, up to 1000) as plain text, ANSI colours and " +
			"agent timestamps removed: lines, first_line and total_lines when the whole log was read (so line numbers are known), " +
			"log_bytes, and truncated when earlier lines exist. Use it to see why a job failed: errors are usually at the end.",
		Area: "logs", Kind: Read, Scopes: []string{"read_build_logs"},
	}, func(ctx context.Context, in tailLogsArgs) (any, error) {
		n := in.Tail
		if n == 0 {
			n = defaultTail
		}
		if n < 1 || n > maxTail {
			return nil, &ArgumentError{Argument: "tail", Reason: "must be between 1 and 1000"}
		}
		want := int64(min(max(n*bytesPerLine, minTailBytes), maxTailBytes))
		for {
			t, err := bk.JobLogTail(ctx, in.OrgSlug, in.PipelineSlug, in.BuildNumber, in.JobID, want)
			if err != nil {
				return nil, err
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
			if t.Offset > 0 {
				out.Truncated = true
			} else if len(out.Lines) > 0 {
				out.TotalLines = len(lines)
				out.FirstLine = len(lines) - len(out.Lines) + 1
			}
			if out.Lines == nil {
				out.Lines = []string{}
			}
			return out, nil
		}
	})
	return d.done()
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
	raw := bytes.Split(data, []byte("\n"))
	lines := make([]string, 0, len(raw))
	for _, l := range raw {
		lines = append(lines, cleanLine(l))
	}
	return lines
}

// ansi matches terminal escape sequences: CSI (colours, cursor moves),
// string sequences such as OSC and the agent's APC timestamps
// ("\x1b_bk;t=…\x07"), and the two-byte escapes.
var ansi = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]|\x1b[\]_PX^][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]?`)

// cleanLine strips escapes and keeps what a terminal would show after the
// last carriage return.
func cleanLine(b []byte) string {
	b = bytes.TrimSuffix(b, []byte("\r"))
	s := ansi.ReplaceAllString(string(b), "")
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r >= ' ' && r != 0x7f {
			return r
		}
		return -1
	}, s)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > maxLineBytes {
		cut := maxLineBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + " …[line cut]"
	}
	return s
}
