package admin

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/audit/auditstream"
	"github.com/kitegate/kitegate/internal/tables"
)

// Range bounds audit events by time, both ends inclusive; a zero end is open.
type Range struct {
	From, To time.Time
}

// ParseWhen reads a SINCE or UNTIL bound: "" (open), a date (2026-03-01:
// its start, or its end when end is set), an RFC 3339 time, or a duration
// back from now (24h, or 7d for days).
func ParseWhen(s string, now time.Time, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UTC(), nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n).UTC(), nil
		}
	}
	if t, err := time.Parse(auditstream.DayLayout, s); err == nil {
		if end {
			return t.AddDate(0, 0, 1).Add(-time.Microsecond), nil
		}
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q: want a date (2026-03-01), a time (2026-03-01T12:00:00Z) or a duration back from now (24h, 7d)", s)
}

// Events prints the audit events of a user (by is "user", key a sub) or a
// tool (by is "tool") within r, newest first, at most limit, from the
// by-user or by-tool index.
func (a *Admin) Events(ctx context.Context, by, key string, r Range, limit int) ([]audit.Event, error) {
	index, attr := tables.AuditByUser, tables.AuditSubject
	switch by {
	case "user":
	case "tool":
		index, attr = tables.AuditByTool, tables.AuditTool
	default:
		return nil, fmt.Errorf("audit events by %q: want user or tool", by)
	}
	if limit <= 0 {
		limit = 20
	}
	if !r.From.IsZero() && !r.To.IsZero() && r.To.Before(r.From) {
		return nil, fmt.Errorf("audit events from %s to %s: the range ends before it starts", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
	}
	if a.AuditTable == "" {
		events, more, err := fileEvents(a.AuditFile, by, key, r, limit)
		if err != nil {
			return nil, err
		}
		return events, printEvents(a, events, more)
	}
	cond := "#k = :k"
	names := map[string]string{"#k": attr}
	values := map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: key}}
	// Item times are fixed-width UTC text, so the range is a text range.
	switch from, to := r.From.UTC().Format(audit.TimeLayout), r.To.UTC().Format(audit.TimeLayout); {
	case !r.From.IsZero() && !r.To.IsZero():
		cond += " AND #t BETWEEN :from AND :to"
		values[":from"], values[":to"] = &types.AttributeValueMemberS{Value: from}, &types.AttributeValueMemberS{Value: to}
	case !r.From.IsZero():
		cond += " AND #t >= :from"
		values[":from"] = &types.AttributeValueMemberS{Value: from}
	case !r.To.IsZero():
		cond += " AND #t <= :to"
		values[":to"] = &types.AttributeValueMemberS{Value: to}
	}
	if len(values) > 1 {
		names["#t"] = tables.AuditTime
	}
	out, err := a.Audit.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(a.AuditTable),
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, fmt.Errorf("audit table %s: %w", a.AuditTable, err)
	}
	events := make([]audit.Event, 0, len(out.Items))
	for _, it := range out.Items {
		e, err := audit.EventFromItem(it)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, printEvents(a, events, len(out.LastEvaluatedKey) > 0)
}

func printEvents(a *Admin, events []audit.Event, more bool) error {
	tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TIME\tUSER\tTOOL\tDECISION\tREASON\tOUTCOME\tMS\n")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.1f\n", e.Time.Format(time.RFC3339), e.User.Subject, e.Tool, e.Decision, e.Reason, e.Outcome, e.LatencyMS)
	}
	if more {
		fmt.Fprintf(tw, "(more: raise -n or narrow -since/-until)\n")
	}
	return tw.Flush()
}

// Usage prints the daily usage rollups of a user or a tool (by is "user" or
// "tool") from the first to the last day of r, oldest first.
func (a *Admin) Usage(ctx context.Context, by, key string, r Range) ([]auditstream.Usage, error) {
	dim := auditstream.ByUser
	if by == "tool" {
		dim = auditstream.ByTool
	} else if by != "user" {
		return nil, fmt.Errorf("usage by %q: want user or tool", by)
	}
	var days []auditstream.Usage
	var err error
	if a.AuditTable == "" {
		days, err = fileUsage(a.AuditFile, by, key, r)
	} else {
		days, err = auditstream.ReadUsage(ctx, a.Rollups, a.AuditTable, dim, key, r.From, r.To)
	}
	if err != nil {
		return nil, err
	}
	tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "DAY\tCALLS\tALLOWED\tDENIED\tMEAN MS\tBUILDKITE CALLS\tOUTCOMES\n")
	var total int64
	for _, u := range days {
		total += u.Calls
		var outs []string
		for _, o := range slices.Sorted(maps.Keys(u.Outcomes)) {
			outs = append(outs, o+"="+strconv.FormatInt(u.Outcomes[o], 10))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%d\t%s\n", u.Day, u.Calls, u.Allowed, u.Denied, u.MeanLatencyMS(), u.BuildkiteCalls, strings.Join(outs, " "))
	}
	fmt.Fprintf(tw, "(%s %s: %d calls from %s to %s)\n", by, key, total, r.From.UTC().Format(auditstream.DayLayout), r.To.UTC().Format(auditstream.DayLayout))
	return days, tw.Flush()
}

// LogQuery is a CloudWatch Logs Insights query over the audit log.
type LogQuery struct {
	LogGroup   string
	Range      Range
	User, Tool string
	// Kind is "tool_call" (default), "policy_change", "poison" or "all".
	Kind  string
	Limit int
}

// Text returns the query text.
func (q LogQuery) Text() (string, error) {
	kind := q.Kind
	if kind == "" {
		kind = auditstream.RecordToolCall
	}
	var filters []string
	fields := "@timestamp, audit, user.sub, user.email, client.name, tool, decision, reason, outcome, latency_ms, buildkite_token_uuid, request_id, policy_version"
	switch kind {
	case auditstream.RecordToolCall:
		filters = append(filters, `audit = "tool_call"`)
	case auditstream.RecordPolicyChange:
		fields = "@timestamp, kind, item, changed_by, msg, diff.0, diff.1, diff.2"
		filters = append(filters, `audit = "policy_change"`)
	case "poison":
		fields = "@timestamp, err, stream_event_id, sequence_number, event_source_arn"
		filters = append(filters, `audit = "poison"`)
	case "all":
		fields += ", kind, item, changed_by, msg"
		filters = append(filters, `ispresent(audit)`)
	default:
		return "", fmt.Errorf("audit-log -kind %q: want tool_call, policy_change, poison or all", kind)
	}
	if q.User != "" {
		filters = append(filters, "user.sub = "+strconv.Quote(q.User))
	}
	if q.Tool != "" {
		filters = append(filters, "tool = "+strconv.Quote(q.Tool))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	return fmt.Sprintf("fields %s\n| filter %s\n| sort @timestamp desc\n| limit %d", fields, strings.Join(filters, " and "), limit), nil
}

// Print writes the query and the AWS CLI command that runs it over the range.
func (q LogQuery) Print(a *Admin, now time.Time) error {
	text, err := q.Text()
	if err != nil {
		return err
	}
	from, to := q.Range.From, q.Range.To
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-24 * time.Hour)
	}
	if to.Before(from) {
		return fmt.Errorf("audit-log from %s to %s: the range ends before it starts", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	fmt.Fprintf(a.Out, "# CloudWatch Logs Insights, log group %s, %s to %s:\n%s\n\n", q.LogGroup, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), text)
	fmt.Fprintf(a.Out, "# or with the AWS CLI (then: aws logs get-query-results --query-id ID):\naws logs start-query --log-group-name %s --start-time %d --end-time %d --query-string %s\n",
		shellQuote(q.LogGroup), from.Unix(), to.Unix(), shellQuote(text))
	return nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
