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
	in := &dynamodb.ScanInput{
		TableName:        aws.String(s.table),
		FilterExpression: aws.String("begins_with(#k, :p) AND (#u.#sub = :w OR #u.#email = :w OR #u.#email = :lw)"),
		ExpressionAttributeNames: map[string]string{
			"#k": tables.AuthKey, "#u": "user", "#sub": "sub", "#email": "email", "#f": "family",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p":  &types.AttributeValueMemberS{Value: kindRefresh},
			":w":  &types.AttributeValueMemberS{Value: who},
			":lw": &types.AttributeValueMemberS{Value: strings.ToLower(who)},
		},
		ProjectionExpression: aws.String("#f"),
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
			}
			if err := attributevalue.UnmarshalMap(item, &rt); err == nil && rt.Family != "" {
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
