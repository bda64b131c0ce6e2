package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/kitegate/kitegate/internal/metrics"
	"github.com/kitegate/kitegate/internal/tables"
)

// TimeLayout is the audit item's time: UTC, fixed width, so that the
// by-user and by-tool indexes sort it as text.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// PutAPI is the part of the DynamoDB client the audit writer calls.
type PutAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

var _ PutAPI = (*dynamodb.Client)(nil)

// DynamoDB writes each event as one audit-table item with a conditional put
// on its id, so a retried or replayed write never makes a second item. A
// put that still fails after bounded retries is not lost: the whole event
// goes to Fallback as one JSON line with "audit_replay":true, for `make
// audit-replay` (and for the alarm on that marker).
type DynamoDB struct {
	client PutAPI
	table  string
	opts   DynamoDBOptions

	mu sync.Mutex // one write per replay line
}

// DynamoDBOptions tune the writer; zero values take the defaults.
type DynamoDBOptions struct {
	// Retention sets each item's TTL (default 365 days).
	Retention time.Duration
	// Attempts bounds the puts per event (default 3).
	Attempts int
	// Budget bounds the time spent on one event, retries included (default
	// 2s), so the audit never holds an answer near API Gateway's limit.
	Budget time.Duration
	// Backoff is the pause before the second attempt, doubled after (default 25ms).
	Backoff time.Duration
	// Fallback receives replay lines; required.
	Fallback io.Writer
	// Metrics counts each replay line (AuditReplay, which pages); nil counts none.
	Metrics *metrics.Writer
	Now     func() time.Time
}

// NewDynamoDB returns a writer to the audit table named table.
func NewDynamoDB(client PutAPI, table string, opts DynamoDBOptions) (*DynamoDB, error) {
	if opts.Fallback == nil {
		return nil, errors.New("audit: a fallback writer for replay lines is required")
	}
	if opts.Retention <= 0 {
		opts.Retention = 365 * 24 * time.Hour
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.Budget <= 0 {
		opts.Budget = 2 * time.Second
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 25 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &DynamoDB{client: client, table: table, opts: opts}, nil
}

// Write stores e. It returns nil once e is either in the table or written
// to the fallback as a replay line; an error means neither happened.
func (w *DynamoDB) Write(ctx context.Context, e Event) error {
	e = e.Bounded() // the item and a replay line must both fit
	ctx, cancel := context.WithTimeout(ctx, w.opts.Budget)
	defer cancel()
	item, err := Item(e, w.opts.Now().Add(w.opts.Retention))
	if err != nil {
		return w.replay(e, err)
	}
	backoff := w.opts.Backoff
	for attempt := 1; ; attempt++ {
		_, err = w.put(ctx, item)
		if err == nil {
			return nil
		}
		if attempt >= w.opts.Attempts || !retryable(err) {
			break
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < backoff {
			break
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
		backoff *= 2
	}
	return w.replay(e, err)
}

// put writes item unless its id is already there; dup reports that case,
// which is success: the event was written before.
func (w *DynamoDB) put(ctx context.Context, item map[string]types.AttributeValue) (dup bool, err error) {
	_, err = w.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(w.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": tables.AuditID},
	}, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }) // Write retries, within its budget
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("audit table %s: put %s: %w", w.table, itemID(item), err)
	}
	return false, nil
}

func retryable(err error) bool {
	var ae smithy.APIError // a malformed item fails every time
	if errors.As(err, &ae) && ae.ErrorCode() == "ValidationException" {
		return false
	}
	return !errors.Is(err, context.Canceled)
}

// ReplayLine is the fallback line for an event that could not be stored.
type ReplayLine struct {
	AuditReplay bool   `json:"audit_replay"`
	Level       string `json:"level"`
	Msg         string `json:"msg"`
	Err         string `json:"err"`
	Event       *Event `json:"event"`
}

func (w *DynamoDB) replay(e Event, cause error) error {
	// Counted first: the alarm fires even if the line cannot be written.
	_ = w.opts.Metrics.Emit([]metrics.Metric{{Name: metrics.AuditReplay, Unit: metrics.Count, Value: 1}}, nil, "audit_event_id", e.ID)
	b, err := json.Marshal(ReplayLine{AuditReplay: true, Level: "ERROR", Msg: "audit write failed; replay this line with make audit-replay", Err: Clip(cause.Error(), MaxErrorBytes), Event: &e})
	if err != nil {
		return errors.Join(cause, err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.opts.Fallback.Write(b); err != nil {
		return errors.Join(cause, fmt.Errorf("write replay line: %w", err))
	}
	return nil
}

// ReplayStats count what Replay did.
type ReplayStats struct {
	Lines     int // lines read
	Events    int // replay lines found
	Written   int // events put into the table
	Duplicate int // events already in the table
	Failed    int // replay lines that could not be put (see the error)
}

// maxReplayErrors caps the failed lines Replay names in its error.
const maxReplayErrors = 20

// Replay reads lines (a log export, or the writer's fallback output) from r
// and puts every event marked "audit_replay":true into the table; other
// lines are skipped. Text before the first '{' of a line (a timestamp,
// a log stream name) is ignored, as is one level of wrapping in a
// "message" field. Events already in the table are counted, not
// rewritten. Each event is Bounded() first, so a line written before the
// caps existed goes in too. A line that still cannot be put is counted in
// Failed, named in the returned error, and skipped: the lines after it are
// replayed all the same.
func (w *DynamoDB) Replay(ctx context.Context, r io.Reader) (ReplayStats, error) {
	var st ReplayStats
	var errs []error
	fail := func(err error) {
		st.Failed++
		if len(errs) < maxReplayErrors {
			errs = append(errs, fmt.Errorf("line %d: %s", st.Lines, Clip(err.Error(), MaxErrorBytes)))
		}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, tooLong, err := readLine(br, maxReplayLine)
		if len(line) == 0 && err != nil {
			if err != io.EOF {
				errs = append(errs, fmt.Errorf("line %d: %w", st.Lines+1, err))
			}
			break
		}
		st.Lines++
		if tooLong {
			st.Events++
			fail(fmt.Errorf("longer than %d bytes; not read", maxReplayLine))
			continue
		}
		e, ok := replayEvent(line)
		if !ok {
			continue
		}
		st.Events++
		item, err := Item(e.Bounded(), w.opts.Now().Add(w.opts.Retention))
		if err != nil {
			fail(err)
			continue
		}
		dup, err := w.put(ctx, item)
		switch {
		case err != nil:
			fail(err)
		case dup:
			st.Duplicate++
		default:
			st.Written++
		}
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
	}
	if st.Failed > maxReplayErrors {
		errs = append(errs, fmt.Errorf("and %d more failed lines", st.Failed-maxReplayErrors))
	}
	return st, errors.Join(errs...)
}

// maxReplayLine is the longest line Replay reads: far above any bounded
// replay line, and above the 900 KB lines written before the caps.
const maxReplayLine = 4 << 20

// readLine reads one line without its newline. A line longer than limit is
// consumed whole and reported as tooLong, without being kept.
func readLine(br *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > limit {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			return nil, true, nil
		}
		return bytes.TrimRight(line, "\r\n"), false, err
	}
}

func replayEvent(line []byte) (*Event, bool) {
	i := bytes.IndexByte(line, '{')
	if i < 0 {
		return nil, false
	}
	var l struct {
		AuditReplay bool            `json:"audit_replay"`
		Event       *Event          `json:"event"`
		Message     json.RawMessage `json:"message"`
	}
	if json.Unmarshal(line[i:], &l) != nil {
		return nil, false
	}
	if l.AuditReplay && l.Event != nil && l.Event.ID != "" {
		return l.Event, true
	}
	if len(l.Message) > 0 {
		var inner string
		if json.Unmarshal(l.Message, &inner) == nil {
			return replayEventInner([]byte(inner))
		}
		return replayEventInner(l.Message)
	}
	return nil, false
}

func replayEventInner(b []byte) (*Event, bool) {
	var l struct {
		AuditReplay bool   `json:"audit_replay"`
		Event       *Event `json:"event"`
	}
	if json.Unmarshal(b, &l) != nil || !l.AuditReplay || l.Event == nil || l.Event.ID == "" {
		return nil, false
	}
	return l.Event, true
}

// item is an audit-table item (docs/tables.md). Top-level attributes, so
// that the console shows them as columns and the indexes can use sub, tool
// and time.
type item struct {
	ID                 string   `dynamodbav:"id"`
	Time               string   `dynamodbav:"time"`
	RequestID          string   `dynamodbav:"request_id,omitempty"`
	CallerRequestID    string   `dynamodbav:"caller_request_id,omitempty"`
	Subject            string   `dynamodbav:"sub"`
	Email              string   `dynamodbav:"email,omitempty"`
	Groups             []string `dynamodbav:"groups,omitempty"`
	ClientName         string   `dynamodbav:"client_name,omitempty"`
	ClientVersion      string   `dynamodbav:"client_version,omitempty"`
	ClientID           string   `dynamodbav:"client_id,omitempty"`
	ProtocolVersion    string   `dynamodbav:"protocol_version,omitempty"`
	Tool               string   `dynamodbav:"tool"`
	Arguments          string   `dynamodbav:"arguments,omitempty"`
	ArgumentsTruncated bool     `dynamodbav:"arguments_truncated,omitempty"`
	Decision           string   `dynamodbav:"decision"`
	Reason             string   `dynamodbav:"reason"`
	Profiles           []string `dynamodbav:"profiles,omitempty"`
	PolicyVersion      int64    `dynamodbav:"policy_version"`
	Outcome            string   `dynamodbav:"outcome"`
	Error              string   `dynamodbav:"error,omitempty"`
	BuildkiteCalls     int      `dynamodbav:"buildkite_calls"`
	BuildkiteStatus    int      `dynamodbav:"buildkite_status,omitempty"`
	RateLimitRemaining *int     `dynamodbav:"buildkite_rate_limit_remaining,omitempty"`
	TokenUUID          string   `dynamodbav:"buildkite_token_uuid,omitempty"`
	LatencyMS          float64  `dynamodbav:"latency_ms"`
	RetryAfterMS       int64    `dynamodbav:"retry_after_ms,omitempty"`
	ServerVersion      string   `dynamodbav:"server_version,omitempty"`
	ExpiresAt          int64    `dynamodbav:"expires_at"`
}

// Item returns e, Bounded(), as an audit-table item that expires at
// expires (TTL).
// Empty sub and tool are stored as "-": index keys cannot be empty.
func Item(e Event, expires time.Time) (map[string]types.AttributeValue, error) {
	if e.ID == "" {
		return nil, errors.New("audit event without an id")
	}
	e = e.Bounded()
	it := item{
		ID: e.ID, Time: e.Time.UTC().Format(TimeLayout), RequestID: e.RequestID, CallerRequestID: e.CallerRequestID,
		Subject: orDash(e.User.Subject), Email: e.User.Email, Groups: e.User.Groups,
		ClientName: e.Client.Name, ClientVersion: e.Client.Version, ClientID: e.Client.ID, ProtocolVersion: e.Client.ProtocolVersion,
		Tool: orDash(e.Tool), Arguments: string(e.Arguments), ArgumentsTruncated: e.ArgumentsTruncated,
		Decision: e.Decision, Reason: e.Reason, Profiles: e.Profiles, PolicyVersion: e.PolicyVersion,
		Outcome: e.Outcome, Error: e.Error, BuildkiteCalls: e.BuildkiteCalls, BuildkiteStatus: e.BuildkiteStatus,
		RateLimitRemaining: e.RateLimitRemaining, TokenUUID: e.TokenUUID, LatencyMS: e.LatencyMS,
		RetryAfterMS: e.RetryAfterMS, ServerVersion: e.ServerVersion, ExpiresAt: expires.Unix(),
	}
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return nil, fmt.Errorf("audit item %s: %w", e.ID, err)
	}
	return av, nil
}

// EventFromItem is the inverse of Item, for readers of the table and its stream.
func EventFromItem(av map[string]types.AttributeValue) (Event, error) {
	var it item
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return Event{}, fmt.Errorf("audit item: %w", err)
	}
	t, err := time.Parse(TimeLayout, it.Time)
	if err != nil {
		return Event{}, fmt.Errorf("audit item %s: time: %w", it.ID, err)
	}
	e := Event{
		ID: it.ID, Time: t, RequestID: it.RequestID, CallerRequestID: it.CallerRequestID,
		User:   User{Subject: it.Subject, Email: it.Email, Groups: it.Groups},
		Client: Client{Name: it.ClientName, Version: it.ClientVersion, ID: it.ClientID, ProtocolVersion: it.ProtocolVersion},
		Tool:   it.Tool, ArgumentsTruncated: it.ArgumentsTruncated,
		Decision: it.Decision, Reason: it.Reason, Profiles: it.Profiles, PolicyVersion: it.PolicyVersion,
		Outcome: it.Outcome, Error: it.Error, BuildkiteCalls: it.BuildkiteCalls, BuildkiteStatus: it.BuildkiteStatus,
		RateLimitRemaining: it.RateLimitRemaining, TokenUUID: it.TokenUUID, LatencyMS: it.LatencyMS, RetryAfterMS: it.RetryAfterMS,
		ServerVersion: it.ServerVersion,
	}
	if it.Arguments != "" {
		e.Arguments = json.RawMessage(it.Arguments)
	}
	return e, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func itemID(av map[string]types.AttributeValue) string {
	if s, ok := av[tables.AuditID].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return "?"
}
