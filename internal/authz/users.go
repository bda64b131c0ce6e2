package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/tables"
)

// RevokeUser revokes every refresh family of a person, named by sub or by
// email (ignoring case), and says how many it revoked. It scans the table:
// an operator command (make user-disable), not a request path.
func (s *Store) RevokeUser(ctx context.Context, who string) (int, error) {
	if who == "" {
		return 0, errors.New("revoke user: no sub or email given")
	}
	// DynamoDB cannot compare ignoring case, and the IdP's email keeps the
	// case it was given in while the kill switch names it in lower case:
	// the sub and email are compared here, as the policy's USER item is
	// (policy.Snapshot.UserDisabled).
	in := &dynamodb.ScanInput{
		TableName:                aws.String(s.table),
		FilterExpression:         aws.String("begins_with(#k, :p)"),
		ExpressionAttributeNames: map[string]string{"#k": tables.AuthKey, "#u": "user", "#f": "family"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": &types.AttributeValueMemberS{Value: kindRefresh},
		},
		ProjectionExpression: aws.String("#f, #u"),
	}
	families := map[string]bool{}
	for page := 0; ; page++ {
		if page == 1000 {
			return 0, errors.New("revoke user: too many pages")
		}
		out, err := s.db.Scan(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("scan refresh tokens: %w", err)
		}
		for _, item := range out.Items {
			var rt struct {
				Family string `dynamodbav:"family"`
				User   User   `dynamodbav:"user"`
			}
			if err := attributevalue.UnmarshalMap(item, &rt); err != nil || rt.Family == "" {
				continue
			}
			if rt.User.Subject == who || (rt.User.Email != "" && strings.ToLower(rt.User.Email) == strings.ToLower(who)) {
				families[rt.Family] = true
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	for f := range families {
		if err := s.revokeFamily(ctx, f, "user disabled by an administrator"); err != nil {
			return 0, err
		}
	}
	return len(families), nil
}
