package authz

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/tables"
)

// preregisteredID is the shape of a client id an administrator chooses:
// it cannot look like a metadata document URL or a registered id's base64.
var preregisteredID = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{2,63}$`)

// ErrExists means the registry already holds a client with that id.
var ErrExists = errors.New("already in the registry")

// Preregistered checks a client an administrator declares (make
// client-add): an id of 3 to 64 lowercase letters, digits, dots and
// dashes, a name, and redirect URIs by the rules of registration. Such a
// client is public (PKCE, no secret), like every client of kitegate, and is
// kept until an administrator disables it.
func Preregistered(id, name string, redirectURIs []string, now time.Time) (Client, error) {
	if !preregisteredID.MatchString(id) {
		return Client{}, fmt.Errorf("client id %q: use 3 to 64 lowercase letters, digits, dots and dashes (for example claude-desktop)", id)
	}
	reg := registration{RedirectURIs: redirectURIs, ClientName: name}
	if name == "" {
		return Client{}, errors.New("a pre-registered client needs a name (shown on the consent page)")
	}
	if err := reg.check(); err != nil {
		return Client{}, err
	}
	// TokensBefore: a client added again under the id of a removed one
	// (make client-remove) never honours the old one's refresh tokens.
	return Client{
		ID: id, Name: name, RedirectURIs: redirectURIs, Source: SourcePreregistered,
		State: ClientActive, Created: now.UTC(), TokensBefore: now.Unix(),
	}, nil
}

// RemoveClient deletes a pre-registered client from the registry and
// returns it: its refresh tokens stop working at once (their client is
// gone, and one added again under the id refuses older tokens). Only
// pre-registered clients are removed (ErrNotPreregistered): a dynamic or
// metadata client could come back by registering or being presented
// again, so it is disabled instead. ErrNotFound when there is no such
// client.
func (s *Store) RemoveClient(ctx context.Context, id string) (Client, error) {
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 key(kindClient, id),
		ConditionExpression:                 aws.String("attribute_exists(#k) AND #src = :pre"),
		ExpressionAttributeNames:            map[string]string{"#k": tables.AuthKey, "#src": "source"},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":pre": &types.AttributeValueMemberS{Value: SourcePreregistered}},
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if ccf, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		if len(ccf.Item) == 0 {
			return Client{}, ErrNotFound
		}
		return Client{}, ErrNotPreregistered
	}
	if err != nil {
		return Client{}, fmt.Errorf("remove client: %w", err)
	}
	var c Client
	err = attributevalue.UnmarshalMap(out.Attributes, &c)
	return c, err
}

// ErrNotPreregistered refuses to remove a client that registered itself.
var ErrNotPreregistered = errors.New("only a pre-registered client can be removed; disable a registered or metadata client (make client-disable)")

// AddClient puts a new client into the registry; ErrExists when its id is
// taken.
func (s *Store) AddClient(ctx context.Context, c Client) error {
	err := s.put(ctx, kindClient, c.ID, c, "attribute_not_exists("+tables.AuthKey+")")
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		return ErrExists
	}
	return err
}
