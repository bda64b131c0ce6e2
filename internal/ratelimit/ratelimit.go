// Package ratelimit shares Buildkite's request budget fairly between
// kitegate's callers, across every Lambda instance: per access profile
// calls-per-minute limits, a per-caller share, and the shared budget of the
// one Buildkite token (50 a minute per token user, 200 per organization),
// all counted in one DynamoDB item per minute with a single conditional
// UpdateItem per call.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/tables"
)

// Scopes of a limit.
const (
	ScopeProfile   = "profile"   // the granting profile's calls_per_minute, per caller
	ScopeCaller    = "caller"    // one caller's share of the token budget
	ScopeToken     = "token"     // the Buildkite token user's budget
	ScopeOrg       = "org"       // the Buildkite organization's budget
	ScopeBuildkite = "buildkite" // Buildkite's own RateLimit headers said stop
)

// Call is one tools/call to meter.
type Call struct {
	// Subject is the caller (OIDC sub).
	Subject string
	// Profile is the granting profile whose limit applies and ProfileLimit
	// its calls per minute per caller; 0 means no profile limit.
	Profile      string
	ProfileLimit int
	// Org is the Buildkite organization the call targets, when known.
	Org string
}

// Result says whether a call may go ahead, and if not, until when it must wait.
type Result struct {
	Allowed bool
	// For a limited call: which limit, its size, and when to retry.
	Scope   string
	Limit   int
	RetryAt time.Time
}

// Limits are the per-minute budgets; zero values take the defaults, a
// negative value turns that limit off.
type Limits struct {
	// TokenPerMinute is Buildkite's budget for the token user (default 50).
	TokenPerMinute int
	// OrgPerMinute is Buildkite's budget per organization (default 200).
	OrgPerMinute int
	// CallerPerMinute caps one caller's share of the token budget, so
	// that nobody starves the rest (default half the token budget).
	CallerPerMinute int
}

func (l Limits) withDefaults() Limits {
	if l.TokenPerMinute == 0 {
		l.TokenPerMinute = 50
	}
	if l.OrgPerMinute == 0 {
		l.OrgPerMinute = 200
	}
	if l.CallerPerMinute == 0 && l.TokenPerMinute > 0 {
		l.CallerPerMinute = max(l.TokenPerMinute/2, 1)
	}
	return l
}

// UpdateAPI is the part of the DynamoDB client the limiter calls.
type UpdateAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ UpdateAPI = (*dynamodb.Client)(nil)

// DynamoDB is the limiter over the rate-limit table. Each minute has one
// item ("minute#2026-03-01T12:05") whose attributes count that minute's
// calls per scope ("token", "org:acme", "caller:alice",
// "profile:oncall:alice"); every call adds one to each scope it falls in,
// in one UpdateItem conditioned on every one of them being under its limit,
// so a limited call counts nowhere. Items expire an hour later (TTL).
// Windows are fixed minutes, like Buildkite's.
type DynamoDB struct {
	client UpdateAPI
	table  string
	limits Limits
	now    func() time.Time

	mu           sync.Mutex
	blockedUntil time.Time // from Buildkite's headers, this instance only
}

// NewDynamoDB returns a limiter over the table named table; now may be nil.
func NewDynamoDB(client UpdateAPI, table string, limits Limits, now func() time.Time) *DynamoDB {
	if now == nil {
		now = time.Now
	}
	return &DynamoDB{client: client, table: table, limits: limits.withDefaults(), now: now}
}

type counter struct {
	attr  string
	scope string
	limit int
}

// Take counts c against every limit that applies, or reports the first
// that is exhausted. Its one AWS call is an UpdateItem; while Buildkite's
// headers have said the budget is spent it answers from memory. An error
// means the count could not be taken; the caller decides (kitegate lets the
// call through: Buildkite enforces its own limits).
func (l *DynamoDB) Take(ctx context.Context, c Call) (Result, error) {
	now := l.now()
	l.mu.Lock()
	blocked := l.blockedUntil
	l.mu.Unlock()
	if now.Before(blocked) {
		return Result{Scope: ScopeBuildkite, RetryAt: blocked}, nil
	}
	window := now.UTC().Truncate(time.Minute)
	retryAt := window.Add(time.Minute)

	var cs []counter
	if c.ProfileLimit > 0 {
		cs = append(cs, counter{"profile:" + c.Profile + ":" + c.Subject, ScopeProfile, c.ProfileLimit})
	}
	if l.limits.CallerPerMinute > 0 {
		cs = append(cs, counter{"caller:" + c.Subject, ScopeCaller, l.limits.CallerPerMinute})
	}
	if l.limits.TokenPerMinute > 0 {
		cs = append(cs, counter{"token", ScopeToken, l.limits.TokenPerMinute})
	}
	if c.Org != "" && l.limits.OrgPerMinute > 0 {
		cs = append(cs, counter{"org:" + c.Org, ScopeOrg, l.limits.OrgPerMinute})
	}
	if len(cs) == 0 {
		return Result{Allowed: true}, nil
	}

	names := map[string]string{"#exp": tables.RateLimitTTL}
	values := map[string]types.AttributeValue{
		":one": &types.AttributeValueMemberN{Value: "1"},
		":exp": &types.AttributeValueMemberN{Value: strconv.FormatInt(window.Add(time.Hour).Unix(), 10)},
	}
	update := "SET #exp = :exp ADD "
	cond := ""
	for i, ct := range cs {
		n, v := "#c"+strconv.Itoa(i), ":l"+strconv.Itoa(i)
		names[n] = ct.attr
		values[v] = &types.AttributeValueMemberN{Value: strconv.Itoa(ct.limit)}
		if i > 0 {
			update += ", "
			cond += " AND "
		}
		update += n + " :one"
		cond += "(attribute_not_exists(" + n + ") OR " + n + " < " + v + ")"
	}
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(l.table),
		Key:                                 map[string]types.AttributeValue{tables.RateLimitKey: &types.AttributeValueMemberS{Value: "minute#" + window.Format("2006-01-02T15:04")}},
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return Result{Allowed: true}, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return Result{Allowed: true}, fmt.Errorf("rate-limit table %s: %w", l.table, err)
	}
	var old map[string]int
	_ = attributevalue.UnmarshalMap(withoutStrings(ccf.Item), &old)
	for _, ct := range cs {
		if old[ct.attr] >= ct.limit {
			return Result{Scope: ct.scope, Limit: ct.limit, RetryAt: retryAt}, nil
		}
	}
	// The counts moved between the check and the read; the call is still limited.
	return Result{Scope: cs[0].scope, Limit: cs[0].limit, RetryAt: retryAt}, nil
}

// withoutStrings drops the key and other non-number attributes.
func withoutStrings(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(item))
	for k, v := range item {
		if _, ok := v.(*types.AttributeValueMemberN); ok {
			out[k] = v
		}
	}
	return out
}

// Observe takes in what Buildkite's RateLimit headers said after a call:
// with nothing remaining, calls are held back here until the reset instead
// of spending Buildkite 429s. It is kept per instance, in memory.
func (l *DynamoDB) Observe(remaining int, reset time.Duration) {
	if remaining != 0 || reset <= 0 {
		return
	}
	until := l.now().Add(reset)
	l.mu.Lock()
	if until.After(l.blockedUntil) {
		l.blockedUntil = until
	}
	l.mu.Unlock()
}

// Message is what a limited caller reads: which limit, and when to retry.
func (r Result) Message(now time.Time) string {
	wait := max(r.RetryAt.Sub(now).Round(time.Second), time.Second)
	what := ""
	switch r.Scope {
	case ScopeProfile:
		what = fmt.Sprintf("your access profile allows %d calls per minute", r.Limit)
	case ScopeCaller:
		what = fmt.Sprintf("one person may use at most %d Buildkite calls per minute", r.Limit)
	case ScopeToken:
		what = fmt.Sprintf("kitegate's Buildkite budget of %d calls per minute is used up", r.Limit)
	case ScopeOrg:
		what = fmt.Sprintf("the organization's Buildkite budget of %d calls per minute is used up", r.Limit)
	default:
		what = "Buildkite's rate limit is reached"
	}
	return fmt.Sprintf("rate limited: %s; retry after %s (in %s)", what, r.RetryAt.UTC().Format(time.RFC3339), wait)
}
