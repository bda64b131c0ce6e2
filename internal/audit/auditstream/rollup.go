package auditstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/tables"
)

// The audit function's own items in the audit table, beside the tool-call
// items (docs/tables.md). Their ids carry a prefix no event id has (event
// ids are hex), and they have none of the index keys (sub, tool, time), so
// they never show in the by-user and by-tool indexes.
const (
	// SeenPrefix starts a stream-record marker's id: seen#<eventID>.
	SeenPrefix = "seen#"
	// UsagePrefix starts a rollup's id: usage#user#<day>#<sub> and
	// usage#tool#<day>#<tool>, day as 2006-01-02 (UTC). The day comes
	// first: it has a fixed width, so a sub or tool with '#' stays readable.
	UsagePrefix = "usage#"
	// DayLayout is a rollup's day.
	DayLayout = "2006-01-02"
)

// Rollup dimensions.
const (
	ByUser = "user"
	ByTool = "tool"
)

// Attribute names of the marker and rollup items.
const (
	attrKind          = "kind"
	attrState         = "state"
	attrSource        = "source"
	attrSequence      = "sequence_number"
	attrLoggedAt      = "logged_at"
	attrDay           = "day"
	attrUserSub       = "user_sub" // not "sub": rollups stay out of the by-user index
	attrToolName      = "tool_name"
	attrEmail         = "email"
	attrCalls         = "calls"
	attrLatencyTotal  = "latency_ms_total"
	attrBuildkiteCall = "buildkite_calls"
	attrOutcomePrefix = "outcome_"

	kindSeen      = "seen"
	kindUsageUser = "usage_user"
	kindUsageTool = "usage_tool"

	stateClaimed = "claimed" // counted (tool calls), line not yet known to be written
	stateLogged  = "logged"  // the line is written
)

// UsageID returns the id of the rollup of dimension by (ByUser, ByTool) for
// key (a sub or a tool name) on day.
func UsageID(by, key string, day time.Time) string {
	return UsagePrefix + by + "#" + day.UTC().Format(DayLayout) + "#" + key
}

func seenID(eventID string) string { return SeenPrefix + eventID }

// Usage is one per-user or per-tool rollup: one day's tool calls.
type Usage struct {
	By  string // ByUser or ByTool
	Key string // the sub or the tool
	Day string // 2006-01-02
	// Calls counts every tools/call; Allowed and Denied split them by
	// decision, Outcomes by outcome (ok, denied, tool_error, ...).
	Calls          int64
	Allowed        int64
	Denied         int64
	Outcomes       map[string]int64
	LatencyMSTotal float64
	BuildkiteCalls int64
	// Email is the user's email on the last counted call (user rollups).
	Email string
}

// MeanLatencyMS is the mean latency of the day's calls.
func (u Usage) MeanLatencyMS() float64 {
	if u.Calls == 0 {
		return 0
	}
	return u.LatencyMSTotal / float64(u.Calls)
}

// rollupUpdate is the transaction action that counts e in one rollup:
// ADDs are atomic, so concurrent calls on the same day and key add up.
func rollupUpdate(table, by, key string, e audit.Event, expires time.Time) types.TransactWriteItem {
	decision := e.Decision
	if decision != audit.Allowed && decision != audit.Denied {
		decision = "decision_other"
	}
	names := map[string]string{
		"#calls": attrCalls, "#dec": decision, "#out": attrOutcomePrefix + sanitizeAttr(e.Outcome),
		"#lat": attrLatencyTotal, "#bk": attrBuildkiteCall, "#kind": attrKind, "#day": attrDay, "#exp": tables.AuditTTL,
	}
	values := map[string]types.AttributeValue{
		":one":  &types.AttributeValueMemberN{Value: "1"},
		":lat":  &types.AttributeValueMemberN{Value: strconv.FormatFloat(max(e.LatencyMS, 0), 'f', -1, 64)},
		":bk":   &types.AttributeValueMemberN{Value: strconv.Itoa(max(e.BuildkiteCalls, 0))},
		":day":  &types.AttributeValueMemberS{Value: e.Time.UTC().Format(DayLayout)},
		":exp":  &types.AttributeValueMemberN{Value: strconv.FormatInt(expires.Unix(), 10)},
		":key":  &types.AttributeValueMemberS{Value: key},
		":kind": &types.AttributeValueMemberS{Value: kindUsageUser},
	}
	set := "#kind = :kind, #day = :day, #exp = :exp, #key = :key"
	if by == ByTool {
		names["#key"] = attrToolName
		values[":kind"] = &types.AttributeValueMemberS{Value: kindUsageTool}
	} else {
		names["#key"] = attrUserSub
		if e.User.Email != "" {
			names["#email"] = attrEmail
			values[":email"] = &types.AttributeValueMemberS{Value: e.User.Email}
			set += ", #email = :email"
		}
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       map[string]types.AttributeValue{tables.AuditID: &types.AttributeValueMemberS{Value: UsageID(by, key, e.Time)}},
		UpdateExpression:          aws.String("SET " + set + " ADD #calls :one, #dec :one, #out :one, #lat :lat, #bk :bk"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}
}

// sanitizeAttr keeps an outcome usable as part of an attribute name.
func sanitizeAttr(s string) string {
	if s == "" {
		return "none"
	}
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// BatchGetAPI is the part of the DynamoDB client ReadUsage calls.
type BatchGetAPI interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

var _ BatchGetAPI = (*dynamodb.Client)(nil)

// maxUsageDays bounds one ReadUsage (a year and a bit).
const maxUsageDays = 400

// ReadUsage returns the rollups of dimension by (ByUser, ByTool) for key on
// every day from from to to (inclusive, UTC days), oldest first; days
// without calls are left out. It reads the items by id (BatchGetItem, 100
// at a time), consistently.
func ReadUsage(ctx context.Context, client BatchGetAPI, table, by, key string, from, to time.Time) ([]Usage, error) {
	if by != ByUser && by != ByTool {
		return nil, fmt.Errorf("usage by %q: want %s or %s", by, ByUser, ByTool)
	}
	from, to = truncDay(from), truncDay(to)
	if to.Before(from) {
		return nil, fmt.Errorf("usage from %s to %s: the range ends before it starts", from.Format(DayLayout), to.Format(DayLayout))
	}
	var ids []string
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		if len(ids) == maxUsageDays {
			return nil, fmt.Errorf("usage: at most %d days at a time", maxUsageDays)
		}
		ids = append(ids, UsageID(by, key, d))
	}
	found := map[string]Usage{}
	for chunk := range slices.Chunk(ids, 100) {
		keys := make([]map[string]types.AttributeValue, len(chunk))
		for i, id := range chunk {
			keys[i] = map[string]types.AttributeValue{tables.AuditID: &types.AttributeValueMemberS{Value: id}}
		}
		req := map[string]types.KeysAndAttributes{table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt == 8 {
				return nil, errors.New("usage: the table kept returning unprocessed keys; try again")
			}
			out, err := client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("audit table %s: read usage: %w", table, err)
			}
			for _, item := range out.Responses[table] {
				u, err := usageFromItem(item)
				if err != nil {
					return nil, err
				}
				found[u.Day] = u
			}
			req = out.UnprocessedKeys
		}
	}
	out := make([]Usage, 0, len(found))
	for _, day := range slices.Sorted(maps.Keys(found)) {
		out = append(out, found[day])
	}
	return out, nil
}

func truncDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func usageFromItem(item map[string]types.AttributeValue) (Usage, error) {
	u := Usage{Day: str(item, attrDay), Email: str(item, attrEmail), Outcomes: map[string]int64{}}
	switch str(item, attrKind) {
	case kindUsageUser:
		u.By, u.Key = ByUser, str(item, attrUserSub)
	case kindUsageTool:
		u.By, u.Key = ByTool, str(item, attrToolName)
	default:
		return Usage{}, fmt.Errorf("usage item %s: kind %q", str(item, tables.AuditID), str(item, attrKind))
	}
	num := func(name string) float64 {
		if n, ok := item[name].(*types.AttributeValueMemberN); ok {
			f, _ := strconv.ParseFloat(n.Value, 64)
			return f
		}
		return 0
	}
	u.Calls, u.Allowed, u.Denied = int64(num(attrCalls)), int64(num(audit.Allowed)), int64(num(audit.Denied))
	u.LatencyMSTotal, u.BuildkiteCalls = num(attrLatencyTotal), int64(num(attrBuildkiteCall))
	for name := range item {
		if o, ok := strings.CutPrefix(name, attrOutcomePrefix); ok {
			u.Outcomes[o] = int64(num(name))
		}
	}
	return u, nil
}
