package dynamotest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/google/go-cmp/cmp"
)

// The converter gives what Lambda delivers: compared as the JSON the
// function receives, every attribute type included.
func TestLambdaRecord(t *testing.T) {
	at := time.Unix(1772366400, 0).UTC()
	rec := types.Record{
		AwsRegion: aws.String("us-east-1"), EventID: aws.String("ev-1"), EventName: types.OperationTypeRemove,
		EventSource: aws.String("aws:dynamodb"), EventVersion: aws.String("1.1"),
		UserIdentity: &types.Identity{Type: aws.String("Service"), PrincipalId: aws.String("dynamodb.amazonaws.com")},
		Dynamodb: &types.StreamRecord{
			ApproximateCreationDateTime: &at,
			Keys:                        map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "a"}},
			OldImage: map[string]types.AttributeValue{
				"s": &types.AttributeValueMemberS{Value: "x"}, "n": &types.AttributeValueMemberN{Value: "1.5"},
				"bool": &types.AttributeValueMemberBOOL{Value: true}, "null": &types.AttributeValueMemberNULL{Value: true},
				"b": &types.AttributeValueMemberB{Value: []byte{1, 2}}, "ss": &types.AttributeValueMemberSS{Value: []string{"p", "q"}},
				"ns": &types.AttributeValueMemberNS{Value: []string{"1", "2"}}, "bs": &types.AttributeValueMemberBS{Value: [][]byte{{3}}},
				"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "y"}, &types.AttributeValueMemberN{Value: "2"}}},
				"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.AttributeValueMemberBOOL{Value: false}}},
			},
			SequenceNumber: aws.String("4421584500000000017450439091"), SizeBytes: aws.Int64(120), StreamViewType: types.StreamViewTypeNewAndOldImages,
		},
	}
	const arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-03-01T00:00:00.000"
	got, err := json.Marshal(LambdaEvent([]types.Record{rec}, arn))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Records":[{"awsRegion":"us-east-1","dynamodb":{"ApproximateCreationDateTime":1772366400,
	"Keys":{"id":{"S":"a"}},
	"OldImage":{"b":{"B":"AQI="},"bool":{"BOOL":true},"bs":{"BS":["Aw=="]},"l":{"L":[{"S":"y"},{"N":"2"}]},"m":{"M":{"k":{"BOOL":false}}},
	"n":{"N":"1.5"},"ns":{"NS":["1","2"]},"null":{"NULL":true},"s":{"S":"x"},"ss":{"SS":["p","q"]}},
	"SequenceNumber":"4421584500000000017450439091","SizeBytes":120,"StreamViewType":"NEW_AND_OLD_IMAGES"},
	"eventID":"ev-1","eventName":"REMOVE","eventSource":"aws:dynamodb","eventVersion":"1.1","eventSourceARN":"` + arn + `",
	"userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"}}]}`
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("event JSON (-want +got):\n%s", diff)
	}
	// And it reads back as Lambda's own type.
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(got, &ev); err != nil || ev.Records[0].Change.OldImage["m"].Map()["k"].Boolean() {
		t.Errorf("read back: %v", err)
	}
}

func TestParentsFirst(t *testing.T) {
	sh := func(id, parent string) types.Shard {
		s := types.Shard{ShardId: aws.String(id)}
		if parent != "" {
			s.ParentShardId = aws.String(parent)
		}
		return s
	}
	var got []string
	for _, s := range parentsFirst([]types.Shard{sh("c", "b"), sh("b", "a"), sh("a", "gone"), sh("d", "")}) {
		got = append(got, aws.ToString(s.ShardId))
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}
