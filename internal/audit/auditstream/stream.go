// Package auditstream is the audit function's stream processor: it turns the
// DynamoDB stream records of the audit table (tool calls) and the policy
// table (policy changes) into audit log lines and daily usage rollups. The
// mcp function writes audit events with internal/audit and links none of
// this.
package auditstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/tables"
)

// StreamAPI is the part of the DynamoDB client the stream processor calls,
// all on the audit table.
type StreamAPI interface {
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

var _ StreamAPI = (*dynamodb.Client)(nil)

// Processor is the audit function: it reads batches of stream records of
// the audit table (tool calls) and the policy table (policy changes),
// writes one JSON line per event to Out (the audit log), and keeps per-user
// and per-tool daily usage rollups in the audit table.
//
// Delivery is at least once, and a batch with a failed record is retried
// from that record on, so every record may arrive again, even one that
// succeeded. Each record is claimed with a marker item seen#<eventID>
// written only if absent:
//
//   - a tool call's marker is written in ONE transaction with the ADDs to
//     its two rollups, so the counters move exactly when the marker appears,
//     whoever races (a retry, a concurrent invocation): counted once;
//   - a policy change's (or warning's) marker is a conditional put.
//
// The line is written after the claim, then the marker is set to "logged".
// A record whose marker is already "logged" changes nothing; one still
// "claimed" (the earlier attempt stopped between claim and line) is logged
// now, so no line is lost — and at worst written twice, with the same
// stream_event_id. Markers expire (MarkerTTL) long after the stream's 24
// hours of retention, the longest a record can be redelivered.
type Processor struct {
	client StreamAPI
	opts   ProcessorOptions

	mu sync.Mutex // one write per line
}

// ProcessorOptions configure a Processor.
type ProcessorOptions struct {
	// Tables are the audit and policy table names (required); rollups and
	// markers go to the audit table.
	Tables StreamTables
	// Out receives the audit log lines (required).
	Out io.Writer
	// Retention sets the rollups' TTL (default 365 days), counted from their day.
	Retention time.Duration
	// MarkerTTL is how long a record's marker is kept (default 7 days; the
	// stream keeps records 24 hours).
	MarkerTTL time.Duration
	// Margin is the time before the invocation's deadline at which records
	// not yet started are reported failed rather than started (default 3s),
	// so that a timeout never fails the whole batch.
	Margin time.Duration
	// Attempts bounds the tries of one transaction that conflicts with
	// another on a rollup (default 4).
	Attempts int
	Now      func() time.Time
}

// NewProcessor returns a Processor writing through client.
func NewProcessor(client StreamAPI, opts ProcessorOptions) (*Processor, error) {
	if opts.Tables.Audit == "" || opts.Tables.Policy == "" {
		return nil, errors.New("audit processor: both the audit and the policy table are required")
	}
	if opts.Out == nil {
		return nil, errors.New("audit processor: an output for the audit log is required")
	}
	if opts.Retention <= 0 {
		opts.Retention = 365 * 24 * time.Hour
	}
	if opts.MarkerTTL <= 0 {
		opts.MarkerTTL = 7 * 24 * time.Hour
	}
	if opts.Margin <= 0 {
		opts.Margin = 3 * time.Second
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Processor{client: client, opts: opts}, nil
}

// Outcomes of one record, counted in the batch line.
const (
	resultLogged    = "logged"
	resultDuplicate = "duplicate"
	resultIgnored   = "ignored"
	resultFailed    = "failed"
	resultPoison    = "poison"
)

// Handle processes one batch and reports the records that failed, by
// sequence number, lowest first (Lambda resumes the shard from the lowest
// one reported and delivers every later record again; the markers make
// that harmless). Records after a failed one are still processed: a
// poison record in the middle never holds the others back, and the
// redelivered ones are recognised. A poison record is logged whole as an
// error line ("audit_poison":true) and reported, so that after the
// mapping's bounded retries it goes to the on-failure destination.
//
// The error is non-nil only when a failed record has no sequence number to
// report; Lambda then retries (and bisects) the whole batch.
func (p *Processor) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var resp events.DynamoDBEventResponse
	counts := map[string]int{}
	var failed []string
	var unreportable int
	deadline, hasDeadline := ctx.Deadline()
	for i, rec := range ev.Records {
		var res string
		switch {
		case ctx.Err() != nil || hasDeadline && time.Until(deadline) < p.opts.Margin:
			res = resultFailed // not started: retried with the rest
		default:
			var err error
			res, err = p.process(ctx, rec)
			if err != nil && res != resultPoison {
				p.line(map[string]any{"level": "WARN", "msg": "audit record failed; it will be retried", "audit": "record_failed",
					"stream_event_id": rec.EventID, "sequence_number": rec.Change.SequenceNumber, "index": i, "err": err.Error()})
			}
		}
		counts[res]++
		if res == resultFailed || res == resultPoison {
			if rec.Change.SequenceNumber == "" {
				unreportable++
				continue
			}
			failed = append(failed, rec.Change.SequenceNumber)
		}
	}
	slices.SortFunc(failed, compareSequence)
	for _, seq := range slices.Compact(failed) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq})
	}
	summary := map[string]any{"level": "INFO", "msg": "audit batch", "audit": "batch", "records": len(ev.Records)}
	for k, v := range counts {
		summary[k] = v
	}
	if len(failed) > 0 {
		summary["level"], summary["lowest_failed_sequence_number"] = "WARN", failed[0]
	}
	p.line(summary)
	if unreportable > 0 {
		return resp, fmt.Errorf("%d failed record(s) without a sequence number: retry the whole batch", unreportable)
	}
	return resp, nil
}

// compareSequence orders stream sequence numbers: decimal strings of up to
// 40 digits, so by length, then as text.
func compareSequence(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func (p *Processor) process(ctx context.Context, rec events.DynamoDBEventRecord) (string, error) {
	r, err := DecodeRecord(rec, p.opts.Tables)
	if err != nil {
		p.poison(rec, err)
		return resultPoison, err
	}
	if r.Time.IsZero() {
		r.Time = p.opts.Now()
	}
	var line any
	switch r.Kind {
	case RecordIgnored:
		return resultIgnored, nil
	case RecordToolCall:
		return p.toolCall(ctx, rec, r)
	case RecordPolicyChange:
		line = policyLine(r)
	case RecordAuditModified:
		line = map[string]any{"level": "WARN", "msg": "a tool-call audit item was changed after it was written", "audit": r.Kind,
			"stream_event_id": r.EventID, "time": r.Time.UTC(), "item_id": r.ItemID, "new": r.Image}
	case RecordAuditDeleted:
		line = map[string]any{"level": "WARN", "msg": "a tool-call audit item was deleted before it expired", "audit": r.Kind,
			"stream_event_id": r.EventID, "time": r.Time.UTC(), "item_id": r.ItemID}
	}
	return p.claimAndLog(ctx, rec, r, nil, line)
}

// toolCall counts the call in its rollups and logs it.
func (p *Processor) toolCall(ctx context.Context, rec events.DynamoDBEventRecord, r Record) (string, error) {
	e := *r.ToolCall
	expires := truncDay(e.Time).Add(p.opts.Retention + 24*time.Hour)
	sub, tool := e.User.Subject, e.Tool
	if sub == "" {
		sub = "-"
	}
	if tool == "" {
		tool = "-"
	}
	line := toolCallLine(r)
	return p.claimAndLog(ctx, rec, r, []types.TransactWriteItem{
		rollupUpdate(p.opts.Tables.Audit, ByUser, sub, e, expires),
		rollupUpdate(p.opts.Tables.Audit, ByTool, tool, e, expires),
	}, line)
}

// claimAndLog claims the record (with the rollup updates in extra, if
// any), then writes its line.
func (p *Processor) claimAndLog(ctx context.Context, rec events.DynamoDBEventRecord, r Record, extra []types.TransactWriteItem, line any) (string, error) {
	claimed, err := p.claim(ctx, rec, extra)
	switch {
	case err != nil:
		return resultFailed, err
	case !claimed:
		return p.redelivered(ctx, r, line)
	}
	return p.logAndMark(ctx, r, line)
}

// redelivered handles a record whose marker was already there: done if
// its line is known to be written, else the line is written now.
func (p *Processor) redelivered(ctx context.Context, r Record, line any) (string, error) {
	out, err := p.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(p.opts.Tables.Audit),
		Key:            map[string]types.AttributeValue{tables.AuditID: &types.AttributeValueMemberS{Value: seenID(r.EventID)}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return resultFailed, fmt.Errorf("audit table %s: read marker of %s: %w", p.opts.Tables.Audit, r.EventID, err)
	}
	if str(out.Item, attrState) == stateLogged {
		return resultDuplicate, nil
	}
	return p.logAndMark(ctx, r, line)
}

// claim writes the record's marker if it is not there, together with
// extra (the rollup updates) in one transaction when there are any. It
// reports false, with no error, when the marker was already there.
func (p *Processor) claim(ctx context.Context, rec events.DynamoDBEventRecord, extra []types.TransactWriteItem) (bool, error) {
	marker := map[string]types.AttributeValue{
		tables.AuditID:  &types.AttributeValueMemberS{Value: seenID(rec.EventID)},
		attrKind:        &types.AttributeValueMemberS{Value: kindSeen},
		attrState:       &types.AttributeValueMemberS{Value: stateClaimed},
		attrSource:      &types.AttributeValueMemberS{Value: StreamTable(rec.EventSourceArn)},
		attrSequence:    &types.AttributeValueMemberS{Value: rec.Change.SequenceNumber},
		tables.AuditTTL: &types.AttributeValueMemberN{Value: strconv.FormatInt(p.opts.Now().Add(p.opts.MarkerTTL).Unix(), 10)},
	}
	cond := aws.String("attribute_not_exists(#id)")
	names := map[string]string{"#id": tables.AuditID}
	if len(extra) == 0 {
		_, err := p.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(p.opts.Tables.Audit), Item: marker, ConditionExpression: cond, ExpressionAttributeNames: names,
		})
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("audit table %s: put marker of %s: %w", p.opts.Tables.Audit, rec.EventID, err)
		}
		return true, nil
	}
	items := append([]types.TransactWriteItem{{Put: &types.Put{
		TableName: aws.String(p.opts.Tables.Audit), Item: marker, ConditionExpression: cond, ExpressionAttributeNames: names,
	}}}, extra...)
	backoff := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		_, err := p.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return true, nil
		}
		var tce *types.TransactionCanceledException
		conflict := false
		if errors.As(err, &tce) {
			for i, r := range tce.CancellationReasons {
				switch aws.ToString(r.Code) {
				case "ConditionalCheckFailed":
					if i == 0 {
						return false, nil // the marker is there: counted before
					}
				case "TransactionConflict":
					conflict = true
				}
			}
		}
		var tcf *types.TransactionConflictException
		if errors.As(err, &tcf) {
			conflict = true
		}
		if !conflict || attempt >= p.opts.Attempts {
			return false, fmt.Errorf("audit table %s: count %s: %w", p.opts.Tables.Audit, rec.EventID, err)
		}
		// Another transaction holds a rollup (or this marker): wait, retry.
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
		backoff *= 2
	}
}

// logAndMark writes the line, then marks the record logged. A failed mark
// is only a warning: the line is out, and at worst a redelivery writes it
// again with the same stream_event_id.
func (p *Processor) logAndMark(ctx context.Context, r Record, line any) (string, error) {
	if err := p.line(line); err != nil {
		return resultFailed, err
	}
	_, err := p.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(p.opts.Tables.Audit),
		Key:                       map[string]types.AttributeValue{tables.AuditID: &types.AttributeValueMemberS{Value: seenID(r.EventID)}},
		UpdateExpression:          aws.String("SET #state = :logged, #at = :at"),
		ConditionExpression:       aws.String("attribute_exists(#id)"),
		ExpressionAttributeNames:  map[string]string{"#state": attrState, "#at": attrLoggedAt, "#id": tables.AuditID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":logged": &types.AttributeValueMemberS{Value: stateLogged}, ":at": &types.AttributeValueMemberS{Value: p.opts.Now().UTC().Format(audit.TimeLayout)}},
	})
	if err != nil {
		p.line(map[string]any{"level": "WARN", "msg": "audit line written, marker not updated: a redelivery may write it again", "audit": "mark_failed", "stream_event_id": r.EventID, "err": err.Error()})
	}
	return resultLogged, nil
}

// ToolCallLine is the audit log line of one tool call: the Event's fields
// at the top level, beside what the line is and which stream record it
// came from.
type ToolCallLine struct {
	Level         string `json:"level"`
	Msg           string `json:"msg"`
	Audit         string `json:"audit"` // "tool_call"
	StreamEventID string `json:"stream_event_id"`
	audit.Event
}

func toolCallLine(r Record) ToolCallLine {
	return ToolCallLine{Level: "INFO", Msg: "tool call", Audit: RecordToolCall, StreamEventID: r.EventID, Event: *r.ToolCall}
}

// PolicyChangeLine is the audit log line of one policy change.
type PolicyChangeLine struct {
	Level         string    `json:"level"`
	Msg           string    `json:"msg"`
	Audit         string    `json:"audit"` // "policy_change"
	StreamEventID string    `json:"stream_event_id"`
	Time          time.Time `json:"time"`
	PolicyChange
}

func policyLine(r Record) PolicyChangeLine {
	level := "INFO"
	if r.Policy.ChangedBy == UnknownActor || r.Policy.Kind == ChangeKillSwitch || r.Policy.Kind == ChangeUnknownItem {
		level = "WARN"
	}
	return PolicyChangeLine{Level: level, Msg: r.Policy.Summary, Audit: RecordPolicyChange, StreamEventID: r.EventID, Time: r.Time.UTC(), PolicyChange: *r.Policy}
}

// maxPoisonBytes caps the record copied into a poison line.
const maxPoisonBytes = 64 << 10

// poison logs a record that cannot be processed, whole (capped), so that
// its content survives even though the on-failure destination only gets
// the batch's shard and sequence numbers.
func (p *Processor) poison(rec events.DynamoDBEventRecord, cause error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		raw, _ = json.Marshal(fmt.Sprintf("%+v", rec))
	}
	line := map[string]any{"level": "ERROR", "msg": "poison stream record: reported as failed, it goes to the on-failure destination after the retries",
		"audit": "poison", "audit_poison": true, "err": cause.Error(), "stream_event_id": rec.EventID,
		"sequence_number": rec.Change.SequenceNumber, "event_source_arn": rec.EventSourceArn}
	if len(raw) > maxPoisonBytes {
		line["record_truncated"], line["record_prefix"] = true, string(raw[:maxPoisonBytes])
	} else {
		line["record"] = json.RawMessage(raw)
	}
	p.line(line)
}

// line writes one JSON line with a single Write.
func (p *Processor) line(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode audit line: %w", err)
	}
	b = append(b, '\n')
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.opts.Out.Write(b); err != nil {
		return fmt.Errorf("write audit line: %w", err)
	}
	return nil
}
