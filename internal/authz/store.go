package authz

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/tables"
)

// DynamoDBAPI is the part of the DynamoDB client the store uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Key prefixes of the item kinds in the authorization table.
const (
	kindClient   = "client#"
	kindRequest  = "authreq#"
	kindCode     = "code#"
	kindRefresh  = "refresh#"
	kindFamily   = "family#"
	kindConsent  = "consent#"
	codeLifetime = 60 * time.Second // RFC 6749 §4.1.2: short, single use
	// requestLifetime bounds a sign-in from the client's redirect to the code.
	requestLifetime = 15 * time.Minute
	// unusedClientLifetime is how long a registration nobody signed in
	// through is kept: registration is open, so it must not fill the table.
	unusedClientLifetime = 24 * time.Hour
)

// ErrNotFound means the item (a client, a code, a token) is not in the table.
var ErrNotFound = errors.New("not found")

// Client states in the registry.
const (
	ClientActive   = "active"
	ClientDisabled = "disabled"
	ClientClosed   = "closed"
)

// Client is a registered AI client.
type Client struct {
	ID              string    `dynamodbav:"client_id"`
	Name            string    `dynamodbav:"client_name,omitempty"`
	URI             string    `dynamodbav:"client_uri,omitempty"`
	SoftwareID      string    `dynamodbav:"software_id,omitempty"`
	SoftwareVersion string    `dynamodbav:"software_version,omitempty"`
	RedirectURIs    []string  `dynamodbav:"redirect_uris"`
	Source          string    `dynamodbav:"source"` // SourceDynamic, SourceMetadata or SourcePreregistered
	State           string    `dynamodbav:"state"`
	Created         time.Time `dynamodbav:"created"`
	LastUsed        time.Time `dynamodbav:"last_used,omitempty"`
	Users           []string  `dynamodbav:"users,stringset,omitempty"`
	ExpiresAt       int64     `dynamodbav:"expires_at,omitempty"`
	// MetadataUntil is when a metadata document's copy goes stale (Unix).
	MetadataUntil int64 `dynamodbav:"metadata_until,omitempty"`
	// StateChanged is when an administrator (or the idle close) last set
	// the state.
	StateChanged time.Time `dynamodbav:"state_changed,omitempty"`
	// TokensBefore revokes every refresh token of a sign-in before this
	// Unix time (set when the client is closed).
	TokensBefore int64 `dynamodbav:"tokens_before,omitempty"`
}

// Where a client in the registry came from.
const (
	SourceDynamic       = "dynamic"       // RFC 7591 registration
	SourceMetadata      = "metadata"      // a Client ID Metadata Document
	SourcePreregistered = "preregistered" // declared by an administrator
)

// authRequest is a pending authorization: the client's request, then the
// upstream sign-in's state, then the signed-in user.
type authRequest struct {
	ID                  string    `dynamodbav:"id"`
	ClientID            string    `dynamodbav:"client_id"`
	RedirectURI         string    `dynamodbav:"redirect_uri"`
	State               string    `dynamodbav:"state,omitempty"`
	Nonce               string    `dynamodbav:"nonce,omitempty"`
	Scopes              []string  `dynamodbav:"scopes,omitempty"`
	ResponseType        string    `dynamodbav:"response_type"`
	ResponseMode        string    `dynamodbav:"response_mode,omitempty"`
	CodeChallenge       string    `dynamodbav:"code_challenge"`
	CodeChallengeMethod string    `dynamodbav:"code_challenge_method"`
	Audience            []string  `dynamodbav:"aud"`
	Created             time.Time `dynamodbav:"created"`

	// Upstream sign-in.
	Browser          string `dynamodbav:"browser,omitempty"` // hash of the browser-binding cookie
	UpstreamVerifier string `dynamodbav:"upstream_verifier,omitempty"`
	UpstreamNonce    string `dynamodbav:"upstream_nonce,omitempty"`

	// The signed-in user, once the upstream sign-in succeeded.
	User      *User     `dynamodbav:"user,omitempty"`
	AuthTime  time.Time `dynamodbav:"auth_time,omitempty"`
	CSRF      string    `dynamodbav:"csrf,omitempty"`
	Consented bool      `dynamodbav:"consented,omitempty"`
	ExpiresAt int64     `dynamodbav:"expires_at"`
}

// User is who signed in at the company IdP.
type User struct {
	Subject string   `dynamodbav:"sub"`
	Email   string   `dynamodbav:"email,omitempty"` // verified only
	Groups  []string `dynamodbav:"groups,omitempty"`
}

// refreshToken is one refresh token of a family; Used marks a rotated one.
type refreshToken struct {
	Family     string    `dynamodbav:"family"`
	ClientID   string    `dynamodbav:"client_id"`
	User       User      `dynamodbav:"user"`
	Scopes     []string  `dynamodbav:"scopes,omitempty"`
	Audience   []string  `dynamodbav:"aud"`
	AuthTime   time.Time `dynamodbav:"auth_time"`
	Used       bool      `dynamodbav:"used"`
	ExpiresAt  int64     `dynamodbav:"expires_at"`
	FamilyEnds int64     `dynamodbav:"family_ends"`
}

// family is a sign-in's chain of refresh tokens; revoking it ends them all.
type family struct {
	ClientID  string `dynamodbav:"client_id"`
	Subject   string `dynamodbav:"sub"`
	Revoked   string `dynamodbav:"revoked,omitempty"` // why, when revoked
	ExpiresAt int64  `dynamodbav:"expires_at"`
}

// Store keeps the authorization server's state in its DynamoDB table.
type Store struct {
	db    DynamoDBAPI
	table string
	now   func() time.Time
}

// NewStore returns a store over table.
func NewStore(db DynamoDBAPI, table string) *Store {
	return &Store{db: db, table: table, now: time.Now}
}

func key(kind, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{tables.AuthKey: &types.AttributeValueMemberS{Value: kind + id}}
}

func (s *Store) get(ctx context.Context, kind, id string, v any) error {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(kind, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("get %s: %w", kind, err)
	}
	if out.Item == nil || expired(out.Item, s.now()) {
		return ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(out.Item, v); err != nil {
		return fmt.Errorf("read %s: %w", kind, err)
	}
	return nil
}

// expired: DynamoDB deletes expired items only eventually.
func expired(item map[string]types.AttributeValue, now time.Time) bool {
	v, ok := item[tables.AuthTTL].(*types.AttributeValueMemberN)
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return err == nil && n > 0 && n <= now.Unix()
}

func (s *Store) put(ctx context.Context, kind, id string, v any, condition string) error {
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		return fmt.Errorf("write %s: %w", kind, err)
	}
	item[tables.AuthKey] = &types.AttributeValueMemberS{Value: kind + id}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}
	if condition != "" {
		in.ConditionExpression = aws.String(condition)
	}
	if _, err := s.db.PutItem(ctx, in); err != nil {
		return fmt.Errorf("put %s: %w", kind, err)
	}
	return nil
}

// Client returns a registered client.
func (s *Store) Client(ctx context.Context, id string) (Client, error) {
	var c Client
	err := s.get(ctx, kindClient, id, &c)
	return c, err
}

// PutClient registers c (or overwrites it).
func (s *Store) PutClient(ctx context.Context, c Client) error {
	return s.put(ctx, kindClient, c.ID, c, "")
}

// Clients lists the registry (a scan: an operator command, not a request path).
func (s *Store) Clients(ctx context.Context) ([]Client, error) {
	var out []Client
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(s.table),
		FilterExpression:          aws.String("begins_with(#k, :p)"),
		ExpressionAttributeNames:  map[string]string{"#k": tables.AuthKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: kindClient}},
	}
	for page := 0; page < 1000; page++ {
		res, err := s.db.Scan(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("scan clients: %w", err)
		}
		for _, item := range res.Items {
			if expired(item, s.now()) {
				continue
			}
			var c Client
			if err := attributevalue.UnmarshalMap(item, &c); err != nil {
				return nil, fmt.Errorf("read client: %w", err)
			}
			out = append(out, c)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	return nil, errors.New("scan clients: too many pages")
}

// putMetadataClient writes a metadata document's copy into the registry:
// the document's fields only, so a state an administrator set, the users
// and the last use stay as they are. A new entry gets c's state, creation
// time and expiry.
func (s *Store) putMetadataClient(ctx context.Context, c Client, isNew bool) (Client, error) {
	set := map[string]any{
		"client_id": c.ID, "client_name": c.Name, "client_uri": c.URI, "software_id": c.SoftwareID,
		"software_version": c.SoftwareVersion, "redirect_uris": c.RedirectURIs, "source": c.Source,
		"metadata_until": c.MetadataUntil,
	}
	if isNew {
		set["expires_at"] = c.ExpiresAt
	}
	names := map[string]string{"#state": "state", "#created": "created"}
	values := map[string]types.AttributeValue{
		":state":   &types.AttributeValueMemberS{Value: c.State},
		":created": &types.AttributeValueMemberS{Value: c.Created.Format(time.RFC3339Nano)},
	}
	parts := []string{"#state = if_not_exists(#state, :state)", "#created = if_not_exists(#created, :created)"}
	i := 0
	for k, v := range set {
		av, err := attributevalue.Marshal(v)
		if err != nil {
			return Client{}, fmt.Errorf("write client: %w", err)
		}
		i++
		n, val := fmt.Sprintf("#a%d", i), fmt.Sprintf(":a%d", i)
		names[n], values[val] = k, av
		parts = append(parts, n+" = "+val)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(kindClient, c.ID),
		UpdateExpression:          aws.String("SET " + strings.Join(parts, ", ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return Client{}, fmt.Errorf("update client: %w", err)
	}
	var stored Client
	if err := attributevalue.UnmarshalMap(out.Attributes, &stored); err != nil {
		return Client{}, fmt.Errorf("read client: %w", err)
	}
	return stored, nil
}

// SetClientState changes a client's state; disabling or closing also
// revokes its refresh tokens (they are checked against the client state).
func (s *Store) SetClientState(ctx context.Context, id, state string) (Client, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(kindClient, id),
		UpdateExpression:          aws.String("SET #s = :s, state_changed = :at"),
		ConditionExpression:       aws.String("attribute_exists(#k)"),
		ExpressionAttributeNames:  map[string]string{"#s": "state", "#k": tables.AuthKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: state}, ":at": &types.AttributeValueMemberS{Value: s.now().UTC().Format(time.RFC3339Nano)}},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
			return Client{}, ErrNotFound
		}
		return Client{}, fmt.Errorf("update client: %w", err)
	}
	var c Client
	err = attributevalue.UnmarshalMap(out.Attributes, &c)
	return c, err
}

// clientUsed records a sign-in or refresh through a client by user: the
// registry's users and last use, and the registration kept for good.
func (s *Store) clientUsed(ctx context.Context, id, subject string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(kindClient, id),
		UpdateExpression:          aws.String("SET last_used = :t ADD #u :u REMOVE expires_at"),
		ConditionExpression:       aws.String("attribute_exists(#k)"),
		ExpressionAttributeNames:  map[string]string{"#u": "users", "#k": tables.AuthKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberS{Value: s.now().UTC().Format(time.RFC3339Nano)}, ":u": &types.AttributeValueMemberSS{Value: []string{subject}}},
	})
	if err != nil {
		return fmt.Errorf("record client use: %w", err)
	}
	return nil
}

func (s *Store) putRequest(ctx context.Context, r *authRequest) error {
	r.ExpiresAt = r.Created.Add(requestLifetime).Unix()
	return s.put(ctx, kindRequest, r.ID, r, "")
}

func (s *Store) request(ctx context.Context, id string) (*authRequest, error) {
	var r authRequest
	if err := s.get(ctx, kindRequest, id, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *Store) deleteRequest(ctx context.Context, id string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(kindRequest, id)})
	if err != nil {
		return fmt.Errorf("delete authorization: %w", err)
	}
	return nil
}

// saveCode stores a code for request id; it lives codeLifetime.
func (s *Store) saveCode(ctx context.Context, id, code string) error {
	return s.put(ctx, kindCode, hash(code), struct {
		Request   string `dynamodbav:"request"`
		ExpiresAt int64  `dynamodbav:"expires_at"`
	}{id, s.now().Add(codeLifetime).Unix()}, "attribute_not_exists("+tables.AuthKey+")")
}

// takeCode consumes a code: the delete is conditional and returns the old
// item, so of two concurrent exchanges exactly one gets the request.
func (s *Store) takeCode(ctx context.Context, code string) (string, error) {
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.table),
		Key:                 key(kindCode, hash(code)),
		ConditionExpression: aws.String("attribute_exists(" + tables.AuthKey + ")"),
		ReturnValues:        types.ReturnValueAllOld,
	})
	if err != nil {
		if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
			return "", ErrNotFound
		}
		return "", fmt.Errorf("take code: %w", err)
	}
	if expired(out.Attributes, s.now()) {
		return "", ErrNotFound
	}
	var item struct {
		Request string `dynamodbav:"request"`
	}
	if err := attributevalue.UnmarshalMap(out.Attributes, &item); err != nil || item.Request == "" {
		return "", fmt.Errorf("read code: %w", errors.Join(err, ErrNotFound))
	}
	return item.Request, nil
}

func (s *Store) putFamily(ctx context.Context, id string, f family) error {
	return s.put(ctx, kindFamily, id, f, "attribute_not_exists("+tables.AuthKey+")")
}

func (s *Store) family(ctx context.Context, id string) (family, error) {
	var f family
	err := s.get(ctx, kindFamily, id, &f)
	return f, err
}

// revokeFamily ends every refresh token of a family.
func (s *Store) revokeFamily(ctx context.Context, id, why string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(kindFamily, id),
		UpdateExpression:          aws.String("SET revoked = :r"),
		ConditionExpression:       aws.String("attribute_exists(" + tables.AuthKey + ")"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": &types.AttributeValueMemberS{Value: why}},
	})
	if err != nil {
		if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
			return nil // already gone
		}
		return fmt.Errorf("revoke refresh family: %w", err)
	}
	return nil
}

func (s *Store) putRefresh(ctx context.Context, token string, r refreshToken) error {
	return s.put(ctx, kindRefresh, hash(token), r, "attribute_not_exists("+tables.AuthKey+")")
}

func (s *Store) refresh(ctx context.Context, token string) (refreshToken, error) {
	var r refreshToken
	err := s.get(ctx, kindRefresh, hash(token), &r)
	return r, err
}

// useRefresh marks a refresh token used; false means it already was (a
// replay, or a concurrent refresh that won).
func (s *Store) useRefresh(ctx context.Context, token string) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(kindRefresh, hash(token)),
		UpdateExpression:          aws.String("SET used = :t"),
		ConditionExpression:       aws.String("attribute_exists(#k) AND used = :f"),
		ExpressionAttributeNames:  map[string]string{"#k": tables.AuthKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}, ":f": &types.AttributeValueMemberBOOL{Value: false}},
	})
	if err != nil {
		if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
			return false, nil
		}
		return false, fmt.Errorf("use refresh token: %w", err)
	}
	return true, nil
}

func (s *Store) consented(ctx context.Context, clientID, subject string) (bool, error) {
	var v struct {
		At time.Time `dynamodbav:"at"`
	}
	err := s.get(ctx, kindConsent, clientID+"#"+subject, &v)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (s *Store) putConsent(ctx context.Context, clientID, subject string) error {
	return s.put(ctx, kindConsent, clientID+"#"+subject, struct {
		At time.Time `dynamodbav:"at"`
	}{s.now().UTC()}, "")
}

// hash keys secrets (codes, refresh tokens): the table never holds one a
// reader could replay.
func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomID returns 32 random bytes, base64url: ids, codes, tokens, nonces.
func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
