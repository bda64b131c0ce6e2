package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/tables"
)

// Status is what the discovery function found last: the Buildkite token's
// health and the last run that changed something. It is kept beside the
// policy, not in it: it has no version, saving it never changes the policy
// (or its version), and the mcp function never reads it (nor links this
// code). Admins read it in the policy table (partition "STATUS") or in
// status.json beside the local policy store.
type Status struct {
	Token     TokenHealth  `json:"token"`
	Discovery DiscoveryRun `json:"discovery"`
}

// Token health values.
const (
	TokenOK       = "ok"       // readable, every scope the catalog needs, not expiring soon
	TokenDegraded = "degraded" // readable, but missing scopes, expiring soon, or organizations unreadable
	TokenFailed   = "failed"   // GET /v2/access-token failed (rejected token, Buildkite unreachable)
)

// TokenHealth is what GET /v2/access-token and GET /v2/organizations said
// about the shared token. Never the token itself.
type TokenHealth struct {
	// Status is TokenOK, TokenDegraded or TokenFailed; empty when never checked.
	Status        string    `json:"status,omitempty"`
	UUID          string    `json:"uuid,omitempty"`
	Scopes        []string  `json:"scopes,omitempty"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	ExpiringSoon  bool      `json:"expiring_soon,omitempty"`
	Organizations []string  `json:"organizations,omitempty"`
	// MissingScopes are scopes catalog tools need that the token lacks.
	MissingScopes []string `json:"missing_scopes,omitempty"`
	// Problems say, one sentence each, why Status is not ok.
	Problems []string `json:"problems,omitempty"`
	// Since is when the token was first found in this health.
	Since time.Time `json:"since,omitzero"`
}

// DiscoveryRun summarizes the last discovery run that changed the policy
// (a run that changes nothing writes nothing; every run is logged).
type DiscoveryRun struct {
	At            time.Time `json:"at,omitzero"`
	PolicyVersion int64     `json:"policy_version,omitempty"`
	Added         []string  `json:"added,omitempty"`
	// Changed tools have a new definition hash; Demoted are those of them
	// that were approved and went back to pending_review.
	Changed     []string `json:"changed,omitempty"`
	Demoted     []string `json:"demoted,omitempty"`
	Removed     []string `json:"removed,omitempty"`
	Unavailable []string `json:"unavailable,omitempty"`
	Restored    []string `json:"restored,omitempty"`
	// Token is the token health status the run found.
	Token string `json:"token,omitempty"`
}

// Equal reports whether h and o say the same, Since aside.
func (h TokenHealth) Equal(o TokenHealth) bool {
	h.Since, o.Since = time.Time{}, time.Time{}
	return h.ExpiresAt.Equal(o.ExpiresAt) && reflect.DeepEqual(h.normal(), o.normal())
}

func (h TokenHealth) normal() TokenHealth {
	h.ExpiresAt = time.Time{}
	for _, l := range []*[]string{&h.Scopes, &h.Organizations, &h.MissingScopes, &h.Problems} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return h
}

// Sort keys of the status partition.
const (
	statusPartition = tables.StatusPartition
	skTokenHealth   = "TOKEN#health"
	skDiscoveryLast = "DISCOVERY#last"
)

type (
	tokenHealthItem struct {
		Status        string   `dynamodbav:"status,omitempty"`
		UUID          string   `dynamodbav:"uuid,omitempty"`
		Scopes        []string `dynamodbav:"scopes,omitempty"`
		ExpiresAt     string   `dynamodbav:"expires_at,omitempty"`
		ExpiringSoon  bool     `dynamodbav:"expiring_soon"`
		Organizations []string `dynamodbav:"organizations,omitempty"`
		MissingScopes []string `dynamodbav:"missing_scopes,omitempty"`
		Problems      []string `dynamodbav:"problems,omitempty"`
		Since         string   `dynamodbav:"since,omitempty"`
	}
	discoveryRunItem struct {
		At            string   `dynamodbav:"at,omitempty"`
		PolicyVersion int64    `dynamodbav:"policy_version,omitempty"`
		Added         []string `dynamodbav:"added,omitempty"`
		Changed       []string `dynamodbav:"changed,omitempty"`
		Demoted       []string `dynamodbav:"demoted,omitempty"`
		Removed       []string `dynamodbav:"removed,omitempty"`
		Unavailable   []string `dynamodbav:"unavailable,omitempty"`
		Restored      []string `dynamodbav:"restored,omitempty"`
		Token         string   `dynamodbav:"token,omitempty"`
	}
)

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}

func statusKey(sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		tables.PolicyPK: &types.AttributeValueMemberS{Value: statusPartition},
		tables.PolicySK: &types.AttributeValueMemberS{Value: sk},
	}
}

// encodeStatus returns s's two items by sort key, keys included.
func encodeStatus(s Status) (map[string]map[string]types.AttributeValue, error) {
	h, r := s.Token, s.Discovery
	items := map[string]any{
		skTokenHealth: tokenHealthItem{
			Status: h.Status, UUID: h.UUID, Scopes: h.Scopes, ExpiresAt: formatTime(h.ExpiresAt), ExpiringSoon: h.ExpiringSoon,
			Organizations: h.Organizations, MissingScopes: h.MissingScopes, Problems: h.Problems, Since: formatTime(h.Since),
		},
		skDiscoveryLast: discoveryRunItem{
			At: formatTime(r.At), PolicyVersion: r.PolicyVersion, Added: r.Added, Changed: r.Changed, Demoted: r.Demoted,
			Removed: r.Removed, Unavailable: r.Unavailable, Restored: r.Restored, Token: r.Token,
		},
	}
	out := map[string]map[string]types.AttributeValue{}
	for sk, v := range items {
		item, err := attributevalue.MarshalMap(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", sk, err)
		}
		for k, av := range statusKey(sk) {
			item[k] = av
		}
		out[sk] = item
	}
	return out, nil
}

func decodeStatus(items map[string]map[string]types.AttributeValue) (Status, error) {
	var s Status
	var errs []error
	if it, ok := items[skTokenHealth]; ok {
		var h tokenHealthItem
		err := attributevalue.UnmarshalMap(it, &h)
		if err == nil {
			s.Token = TokenHealth{Status: h.Status, UUID: h.UUID, Scopes: h.Scopes, ExpiringSoon: h.ExpiringSoon,
				Organizations: h.Organizations, MissingScopes: h.MissingScopes, Problems: h.Problems}
			var e1, e2 error
			s.Token.ExpiresAt, e1 = parseTime(h.ExpiresAt)
			s.Token.Since, e2 = parseTime(h.Since)
			err = errors.Join(e1, e2)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("status item %q: %w", skTokenHealth, err))
		}
	}
	if it, ok := items[skDiscoveryLast]; ok {
		var r discoveryRunItem
		err := attributevalue.UnmarshalMap(it, &r)
		if err == nil {
			s.Discovery = DiscoveryRun{PolicyVersion: r.PolicyVersion, Added: r.Added, Changed: r.Changed, Demoted: r.Demoted,
				Removed: r.Removed, Unavailable: r.Unavailable, Restored: r.Restored, Token: r.Token}
			s.Discovery.At, err = parseTime(r.At)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("status item %q: %w", skDiscoveryLast, err))
		}
	}
	return s, errors.Join(errs...)
}

// StatusStore keeps the Status. TableStatus and FileStatus are the two.
type StatusStore interface {
	// LoadStatus returns the stored status, or the zero Status.
	LoadStatus(ctx context.Context) (Status, error)
	// SaveStatus stores the parts of s that differ from the stored ones and
	// returns how many of its two parts (token health, discovery run) it
	// wrote. A zero part (Token without Status, Discovery without At) is
	// left as stored.
	SaveStatus(ctx context.Context, s Status) (int, error)
}

var (
	_ StatusStore = (*TableStatus)(nil)
	_ StatusStore = (*FileStatus)(nil)
)

// StatusAPI is the part of the DynamoDB client TableStatus uses.
type StatusAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

var _ StatusAPI = (*dynamodb.Client)(nil)

// TableStatus keeps the Status in the policy table's STATUS partition,
// one item per part.
type TableStatus struct {
	client StatusAPI
	table  string
}

// NewTableStatus returns the status kept in the policy table named table.
func NewTableStatus(client StatusAPI, table string) *TableStatus {
	return &TableStatus{client: client, table: table}
}

// LoadStatus returns the status items (partition "STATUS") with one
// strongly consistent Query; a table without them gives the zero Status.
func (d *TableStatus) LoadStatus(ctx context.Context) (Status, error) {
	items, err := d.queryStatus(ctx)
	if err != nil {
		return Status{}, err
	}
	return decodeStatus(items)
}

func (d *TableStatus) queryStatus(ctx context.Context) (map[string]map[string]types.AttributeValue, error) {
	out, err := d.client.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(d.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": tables.PolicyPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: statusPartition}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("policy table %s: status: %w", d.table, err)
	}
	items := map[string]map[string]types.AttributeValue{}
	for _, it := range out.Items {
		if sk, ok := it[tables.PolicySK].(*types.AttributeValueMemberS); ok {
			items[sk.Value] = it
		}
	}
	return items, nil
}

// SaveStatus writes the status items that differ from the stored ones, one
// PutItem each, and returns how many it wrote (none when nothing differs).
// Two discovery runs saving at once each write complete items: the last
// one stays.
func (d *TableStatus) SaveStatus(ctx context.Context, s Status) (int, error) {
	stored, err := d.queryStatus(ctx)
	if err != nil {
		return 0, err
	}
	want, err := encodeStatus(s)
	if err != nil {
		return 0, err
	}
	if s.Token.Status == "" {
		delete(want, skTokenHealth)
	}
	if s.Discovery.At.IsZero() {
		delete(want, skDiscoveryLast)
	}
	n := 0
	for _, sk := range sortedNames(want) {
		if old, ok := stored[sk]; ok && reflect.DeepEqual(plain(old), plain(want[sk])) {
			continue
		}
		if _, err := d.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.table), Item: want[sk]}); err != nil {
			return n, fmt.Errorf("policy table %s: save %s: %w", d.table, sk, err)
		}
		n++
	}
	return n, nil
}

// plain is an item as Go values, to compare items whatever their
// attribute value representation.
func plain(item map[string]types.AttributeValue) map[string]any {
	var out map[string]any
	if err := attributevalue.UnmarshalMap(item, &out); err != nil {
		return nil
	}
	return out
}

// StatusFile is the file FileStatus keeps in its folder, beside the local
// policy store's policy.json.
const StatusFile = "status.json"

// FileStatus keeps the Status in one JSON file (local mode). It is safe
// for concurrent use within one process.
type FileStatus struct {
	path string
	mu   sync.Mutex
}

// NewFileStatus returns the status kept in dir/status.json.
func NewFileStatus(dir string) *FileStatus {
	return &FileStatus{path: filepath.Join(filepath.Clean(dir), StatusFile)}
}

// LoadStatus returns the stored status, or the zero Status.
func (f *FileStatus) LoadStatus(ctx context.Context) (Status, error) {
	if err := ctx.Err(); err != nil {
		return Status{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read()
}

func (f *FileStatus) read() (Status, error) {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("status: %w", err)
	}
	var s Status
	if err := json.Unmarshal(data, &s); err != nil {
		return Status{}, fmt.Errorf("status %s: %w", f.path, err)
	}
	return s, nil
}

// SaveStatus implements StatusStore.
func (f *FileStatus) SaveStatus(ctx context.Context, s Status) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, err := f.read()
	if err != nil {
		return 0, err
	}
	n := 0
	if s.Token.Status == "" {
		s.Token = cur.Token
	} else if !sameJSON(cur.Token, s.Token) {
		n++
	}
	if s.Discovery.At.IsZero() {
		s.Discovery = cur.Discovery
	} else if !sameJSON(cur.Discovery, s.Discovery) {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return 0, fmt.Errorf("status: %w", err)
	}
	if err := policystore.WriteFileAtomic(f.path, append(data, '\n')); err != nil {
		return 0, err
	}
	return n, nil
}
