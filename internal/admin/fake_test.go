package admin

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitegate/kitegate/internal/audit"
)

// failingPut stands in for an unreachable table, only to produce replay
// lines; the replay itself runs against DynamoDB Local.
type failingPut struct{}

var _ audit.PutAPI = failingPut{}

func (failingPut) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, errors.New("table unreachable")
}
