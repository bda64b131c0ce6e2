package admin

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/audit/auditstream"
)

// fileEvents reads the local audit file (make run's .local/audit.jsonl, or
// the audit log lines make run-aws's audit function wrote there): every
// line that is an audit event or a "tool_call" audit log line, of the user
// or tool (by, key), within r, newest first, at most limit. It reports
// whether more matched.
func fileEvents(path, by, key string, r Range, limit int) ([]audit.Event, bool, error) {
	all, err := readAuditFile(path)
	if err != nil {
		return nil, false, err
	}
	var out []audit.Event
	for _, e := range all {
		k := e.User.Subject
		if by == "tool" {
			k = e.Tool
		}
		if k != key || (!r.From.IsZero() && e.Time.Before(r.From)) || (!r.To.IsZero() && e.Time.After(r.To)) {
			continue
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b audit.Event) int { return b.Time.Compare(a.Time) })
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// readAuditFile returns the events of the file in order, each id once (an
// event can appear both as make run's line and as an audit log line).
func readAuditFile(path string) ([]audit.Event, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no audit table is set (KITEGATE_AUDIT_TABLE) and there is no local audit file %s yet: make run or make run-aws writes it", path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []audit.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var l struct {
			Audit string `json:"audit"`
			audit.Event
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.ID == "" || (l.Audit != "" && l.Audit != auditstream.RecordToolCall) || seen[l.ID] {
			continue
		}
		seen[l.ID] = true
		out = append(out, l.Event)
	}
	return out, sc.Err()
}

// fileUsage computes, from the local audit file, the daily rollups the
// audit function keeps in the table: one per day from r.From to r.To.
func fileUsage(path, by, key string, r Range) ([]auditstream.Usage, error) {
	all, err := readAuditFile(path)
	if err != nil {
		return nil, err
	}
	dim := auditstream.ByUser
	if by == "tool" {
		dim = auditstream.ByTool
	}
	days := map[string]*auditstream.Usage{}
	from, to := r.From.UTC().Format(auditstream.DayLayout), r.To.UTC().Format(auditstream.DayLayout)
	for _, e := range all {
		k := e.User.Subject
		if by == "tool" {
			k = e.Tool
		}
		day := e.Time.UTC().Format(auditstream.DayLayout)
		if k != key || day < from || day > to {
			continue
		}
		u := days[day]
		if u == nil {
			u = &auditstream.Usage{By: dim, Key: key, Day: day, Outcomes: map[string]int64{}}
			days[day] = u
		}
		u.Calls++
		if e.Decision == audit.Allowed {
			u.Allowed++
		} else {
			u.Denied++
		}
		u.Outcomes[e.Outcome]++
		u.LatencyMSTotal += e.LatencyMS
		u.BuildkiteCalls += int64(e.BuildkiteCalls)
		if e.User.Email != "" {
			u.Email = e.User.Email
		}
	}
	var out []auditstream.Usage
	for d := r.From.UTC(); d.Format(auditstream.DayLayout) <= to; d = d.AddDate(0, 0, 1) {
		if u, ok := days[d.Format(auditstream.DayLayout)]; ok {
			out = append(out, *u)
		}
	}
	return out, nil
}

// localAuditFile is where the audit commands read without a table.
func localAuditFile(get func(string) string) string {
	if f := get("KITEGATE_AUDIT_FILE"); f != "" {
		return f
	}
	return ".local/audit.jsonl"
}
