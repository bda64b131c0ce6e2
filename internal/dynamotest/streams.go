package dynamotest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// Stream reads one table's stream from DynamoDB Local with the
// dynamodbstreams API (DescribeStream, GetShardIterator, GetRecords), the
// way Lambda's event source mapping does, and hands the records over as
// the events.DynamoDBEvent Lambda would deliver.
type Stream struct {
	// ARN is the table's latest stream.
	ARN string

	client *dynamodbstreams.Client
	after  map[string]string // shard id -> last sequence number read
}

// NewStream opens the stream of table (created with a StreamSpecification,
// as every table of internal/tables that has one).
func NewStream(t testing.TB, db *dynamodb.Client, table string) *Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := OpenStream(ctx, db, dynamodbstreams.NewFromConfig(Config(Endpoint(t), nil)), table)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// OpenStream opens the stream of table outside a test (make run-aws feeds
// the streams to the audit function with it).
func OpenStream(ctx context.Context, db *dynamodb.Client, streams *dynamodbstreams.Client, table string) (*Stream, error) {
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return nil, fmt.Errorf("describe table %s: %w", table, err)
	}
	arn := aws.ToString(out.Table.LatestStreamArn)
	if arn == "" {
		return nil, fmt.Errorf("table %s has no stream", table)
	}
	return &Stream{ARN: arn, client: streams, after: map[string]string{}}, nil
}

// Read is Next outside a test.
func (s *Stream) Read() ([]types.Record, error) { return s.next() }

// maxPages bounds the GetRecords calls of one Next per shard.
const maxPages = 1000

// Next returns the records written to the stream since the last call (all
// of them on the first), shard by shard, parents first, in stream order.
func (s *Stream) Next(t testing.TB) []types.Record {
	t.Helper()
	recs, err := s.next()
	if err != nil {
		t.Fatalf("read stream %s: %v", s.ARN, err)
	}
	return recs
}

// NextEvent is Next as the event Lambda would deliver.
func (s *Stream) NextEvent(t testing.TB) events.DynamoDBEvent {
	t.Helper()
	return LambdaEvent(s.Next(t), s.ARN)
}

func (s *Stream) next() ([]types.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var shards []types.Shard
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(s.ARN)}
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("describe stream: more than %d pages of shards", maxPages)
		}
		out, err := s.client.DescribeStream(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describe stream: %w", err)
		}
		shards = append(shards, out.StreamDescription.Shards...)
		if out.StreamDescription.LastEvaluatedShardId == nil {
			break
		}
		in.ExclusiveStartShardId = out.StreamDescription.LastEvaluatedShardId
	}
	var recs []types.Record
	for _, sh := range parentsFirst(shards) {
		id := aws.ToString(sh.ShardId)
		itIn := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(s.ARN), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
		if seq, ok := s.after[id]; ok {
			itIn.ShardIteratorType, itIn.SequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(seq)
		}
		it, err := s.client.GetShardIterator(ctx, itIn)
		if err != nil {
			return nil, fmt.Errorf("shard %s: get iterator: %w", id, err)
		}
		iter := it.ShardIterator
		for page := 0; iter != nil; page++ {
			if page == maxPages {
				return nil, fmt.Errorf("shard %s: more than %d pages", id, maxPages)
			}
			out, err := s.client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				return nil, fmt.Errorf("shard %s: get records: %w", id, err)
			}
			// An open shard always has a next iterator; an empty page
			// means everything written so far has been read.
			if len(out.Records) == 0 {
				break
			}
			recs = append(recs, out.Records...)
			s.after[id] = aws.ToString(out.Records[len(out.Records)-1].Dynamodb.SequenceNumber)
			iter = out.NextShardIterator
		}
	}
	return recs, nil
}

// parentsFirst orders shards so that a shard comes after its parent.
func parentsFirst(shards []types.Shard) []types.Shard {
	byID := map[string]types.Shard{}
	for _, sh := range shards {
		byID[aws.ToString(sh.ShardId)] = sh
	}
	var out []types.Shard
	done := map[string]bool{}
	var visit func(types.Shard, int)
	visit = func(sh types.Shard, depth int) {
		id := aws.ToString(sh.ShardId)
		if done[id] || depth > len(shards) {
			return
		}
		if p, ok := byID[aws.ToString(sh.ParentShardId)]; ok {
			visit(p, depth+1)
		}
		if !done[id] {
			done[id] = true
			out = append(out, sh)
		}
	}
	for _, sh := range shards {
		visit(sh, 0)
	}
	return out
}

// LambdaEvent converts records of the stream arn, as the dynamodbstreams
// API returns them, into the event Lambda delivers to a function.
func LambdaEvent(recs []types.Record, arn string) events.DynamoDBEvent {
	ev := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, 0, len(recs))}
	for _, r := range recs {
		ev.Records = append(ev.Records, LambdaRecord(r, arn))
	}
	return ev
}

// LambdaRecord converts one record of the stream arn (the API's records do
// not carry it; Lambda's do).
func LambdaRecord(r types.Record, arn string) events.DynamoDBEventRecord {
	out := events.DynamoDBEventRecord{
		AWSRegion:      aws.ToString(r.AwsRegion),
		EventID:        aws.ToString(r.EventID),
		EventName:      string(r.EventName),
		EventSource:    aws.ToString(r.EventSource),
		EventVersion:   aws.ToString(r.EventVersion),
		EventSourceArn: arn,
	}
	if r.UserIdentity != nil {
		out.UserIdentity = &events.DynamoDBUserIdentity{Type: aws.ToString(r.UserIdentity.Type), PrincipalID: aws.ToString(r.UserIdentity.PrincipalId)}
	}
	if d := r.Dynamodb; d != nil {
		out.Change = events.DynamoDBStreamRecord{
			Keys:           LambdaAttributes(d.Keys),
			NewImage:       LambdaAttributes(d.NewImage),
			OldImage:       LambdaAttributes(d.OldImage),
			SequenceNumber: aws.ToString(d.SequenceNumber),
			SizeBytes:      aws.ToInt64(d.SizeBytes),
			StreamViewType: string(d.StreamViewType),
		}
		if d.ApproximateCreationDateTime != nil {
			out.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *d.ApproximateCreationDateTime}
		}
	}
	return out
}

// LambdaAttributes converts a stream image (nil stays nil).
func LambdaAttributes(m map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = LambdaAttribute(v)
	}
	return out
}

// LambdaAttribute converts one attribute value.
func LambdaAttribute(v types.AttributeValue) events.DynamoDBAttributeValue {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *types.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value)
	case *types.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value)
	case *types.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value)
	case *types.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value)
	case *types.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = LambdaAttribute(e)
		}
		return events.NewListAttribute(l)
	case *types.AttributeValueMemberM:
		return events.NewMapAttribute(LambdaAttributes(v.Value))
	}
	return events.NewNullAttribute() // NULL, and any member a later SDK adds
}
