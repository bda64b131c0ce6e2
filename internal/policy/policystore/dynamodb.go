package policystore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/tables"
)

// DynamoAPI is the part of the DynamoDB client the policy store calls.
type DynamoAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoAPI = (*dynamodb.Client)(nil)

// DynamoDB is the production Store: the policy table's single partition
// (pk "POLICY") holds one item per tool, toolset and profile, one settings
// item and one version item (docs/tables.md shows every shape). Load reads
// the partition with one strongly consistent Query; Apply writes only the
// items that differ, in one transaction conditioned on the version item, so
// two admins editing at once cannot lose an update.
type DynamoDB struct {
	client DynamoAPI
	table  string
	now    func() time.Time
}

var _ policy.Store = (*DynamoDB)(nil)

// NewDynamoDB returns the store over the policy table named table.
func NewDynamoDB(client DynamoAPI, table string) *DynamoDB {
	return &DynamoDB{client: client, table: table, now: time.Now}
}

// Sort keys of the policy partition.
const (
	skVersion       = tables.PolicyVersionSK
	skSettings      = tables.PolicySettingsSK
	skToolPrefix    = tables.PolicyToolPrefix
	skToolsetPrefix = tables.PolicyToolsetPrefix
	skProfilePrefix = tables.PolicyProfilePrefix
	skClientPrefix  = tables.PolicyClientPrefix
	skUserPrefix    = tables.PolicyUserPrefix
)

// maxTransactItems is DynamoDB's limit of actions per transaction.
const maxTransactItems = 100

// The items as stored. Lists are DynamoDB lists (L), not sets, so that an
// admin can edit them in the console and an empty one is simply absent.
type (
	versionItem struct {
		Version   int64  `dynamodbav:"version"`
		ChangedBy string `dynamodbav:"changed_by,omitempty"`
		ChangedAt string `dynamodbav:"changed_at,omitempty"`
	}
	settingsItem struct {
		ServerDisabled bool         `dynamodbav:"server_disabled"`
		DisabledReason string       `dynamodbav:"disabled_reason,omitempty"`
		DefaultState   policy.State `dynamodbav:"default_state,omitempty"`
	}
	toolItem struct {
		State          policy.State `dynamodbav:"state"`
		Hash           string       `dynamodbav:"hash,omitempty"`
		Digest         *digestItem  `dynamodbav:"digest,omitempty"`
		Class          policy.Class `dynamodbav:"class,omitempty"`
		Scopes         []string     `dynamodbav:"scopes,omitempty"`
		ResumeState    policy.State `dynamodbav:"resume_state,omitempty"`
		ApprovedHash   string       `dynamodbav:"approved_hash,omitempty"`
		ApprovedDigest *digestItem  `dynamodbav:"approved_digest,omitempty"`
		Change         *changeItem  `dynamodbav:"change,omitempty"`
		Note           string       `dynamodbav:"note,omitempty"`
		ChangedBy      string       `dynamodbav:"changed_by,omitempty"`
		ChangedAt      string       `dynamodbav:"changed_at,omitempty"`
	}
	// digestItem is a Digest as a map (M) of short digests.
	digestItem struct {
		Description  string `dynamodbav:"description,omitempty"`
		InputSchema  string `dynamodbav:"input_schema,omitempty"`
		OutputSchema string `dynamodbav:"output_schema,omitempty"`
		Annotations  string `dynamodbav:"annotations,omitempty"`
		Scopes       string `dynamodbav:"scopes,omitempty"`
	}
	// changeItem is a Change as a map (M).
	changeItem struct {
		FromHash string   `dynamodbav:"from_hash,omitempty"`
		ToHash   string   `dynamodbav:"to_hash,omitempty"`
		Parts    []string `dynamodbav:"parts,omitempty"`
		At       string   `dynamodbav:"at,omitempty"`
	}
	toolsetItem struct {
		Tools []string `dynamodbav:"tools,omitempty"`
	}
	clientItem struct {
		Name      string `dynamodbav:"name,omitempty"`
		Disabled  bool   `dynamodbav:"disabled"`
		Closed    bool   `dynamodbav:"closed,omitempty"`
		Removed   bool   `dynamodbav:"removed,omitempty"`
		Note      string `dynamodbav:"note,omitempty"`
		ChangedBy string `dynamodbav:"changed_by,omitempty"`
		ChangedAt string `dynamodbav:"changed_at,omitempty"`
	}
	profileItem struct {
		Toolsets       []string `dynamodbav:"toolsets,omitempty"`
		Users          []string `dynamodbav:"users,omitempty"`
		Groups         []string `dynamodbav:"groups,omitempty"`
		Disabled       bool     `dynamodbav:"disabled"`
		CallsPerMinute int      `dynamodbav:"calls_per_minute,omitempty"`
	}
)

// Load implements Store: one strongly consistent Query of the partition
// (more pages only past 1 MB of policy).
func (d *DynamoDB) Load(ctx context.Context) (policy.Policy, error) {
	items, err := d.query(ctx)
	if err != nil {
		return policy.Policy{}, err
	}
	return decodePolicy(items)
}

func (d *DynamoDB) query(ctx context.Context) (map[string]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(d.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": tables.PolicyPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: tables.PolicyPartition}},
		ConsistentRead:            aws.Bool(true),
	}
	items := map[string]map[string]types.AttributeValue{}
	for {
		out, err := d.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("policy table %s: %w", d.table, err)
		}
		for _, it := range out.Items {
			sk, ok := it[tables.PolicySK].(*types.AttributeValueMemberS)
			if !ok {
				return nil, fmt.Errorf("policy table %s: an item has no string sort key", d.table)
			}
			items[sk.Value] = it
		}
		if len(out.LastEvaluatedKey) == 0 {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func decodePolicy(items map[string]map[string]types.AttributeValue) (policy.Policy, error) {
	var p policy.Policy
	var errs []error
	for sk, it := range items {
		var err error
		switch name, kind := splitSK(sk); kind {
		case skVersion:
			var v versionItem
			if err = attributevalue.UnmarshalMap(it, &v); err == nil {
				p.Version = v.Version
			}
		case skSettings:
			var s settingsItem
			if err = attributevalue.UnmarshalMap(it, &s); err == nil {
				p.Settings = policy.Settings(s)
			}
		case skToolPrefix:
			var t toolItem
			if err = attributevalue.UnmarshalMap(it, &t); err == nil {
				var at time.Time
				at, err = stampTime(t.ChangedAt)
				if p.Tools == nil {
					p.Tools = map[string]policy.Tool{}
				}
				tool := policy.Tool{
					Name: name, Hash: t.Hash, Digest: t.Digest.digest(), Class: t.Class, Scopes: t.Scopes,
					State: t.State, ResumeState: t.ResumeState, ApprovedHash: t.ApprovedHash, ApprovedDigest: t.ApprovedDigest.digest(),
					ChangedBy: t.ChangedBy, ChangedAt: at, Note: t.Note,
				}
				if err == nil && t.Change != nil {
					tool.Change, err = t.Change.change()
				}
				p.Tools[name] = tool
			}
		case skToolsetPrefix:
			var ts toolsetItem
			if err = attributevalue.UnmarshalMap(it, &ts); err == nil {
				if p.Toolsets == nil {
					p.Toolsets = map[string]policy.Toolset{}
				}
				p.Toolsets[name] = policy.Toolset{Name: name, Tools: ts.Tools}
			}
		case skProfilePrefix:
			var pr profileItem
			if err = attributevalue.UnmarshalMap(it, &pr); err == nil {
				if p.Profiles == nil {
					p.Profiles = map[string]policy.Profile{}
				}
				p.Profiles[name] = policy.Profile{Name: name, Toolsets: pr.Toolsets, Users: pr.Users, Groups: pr.Groups, Disabled: pr.Disabled, CallsPerMinute: pr.CallsPerMinute}
			}
		case skClientPrefix:
			var c clientItem
			if err = attributevalue.UnmarshalMap(it, &c); err == nil {
				var at time.Time
				at, err = stampTime(c.ChangedAt)
				if p.Clients == nil {
					p.Clients = map[string]policy.Client{}
				}
				p.Clients[name] = policy.Client{Name: c.Name, Disabled: c.Disabled, Closed: c.Closed, Removed: c.Removed, Note: c.Note, ChangedBy: c.ChangedBy, ChangedAt: at}
			}
		case skUserPrefix:
			var c clientItem
			if err = attributevalue.UnmarshalMap(it, &c); err == nil {
				var at time.Time
				at, err = stampTime(c.ChangedAt)
				if p.Users == nil {
					p.Users = map[string]policy.User{}
				}
				p.Users[name] = policy.User{Disabled: c.Disabled, Note: c.Note, ChangedBy: c.ChangedBy, ChangedAt: at}
			}
		default:
			err = errors.New("unknown kind of item")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("policy item %q: %w", sk, err))
		}
	}
	if len(errs) > 0 {
		// An unreadable item denies everything rather than being skipped:
		// skipping a disabled tool's item could grant what it revoked.
		return policy.Policy{}, errors.Join(errs...)
	}
	return p, nil
}

// stampTime reads a changed_at stamp: empty is the zero time, anything
// else RFC 3339 in UTC.
func stampTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}

func splitSK(sk string) (name, kind string) {
	for _, prefix := range []string{skToolPrefix, skToolsetPrefix, skProfilePrefix, skClientPrefix, skUserPrefix} {
		if n, ok := strings.CutPrefix(sk, prefix); ok {
			return n, prefix
		}
	}
	return "", sk
}

// Apply implements Store. It writes the version item and every item that
// differs from the stored policy in one transaction (at most 99 changed
// items per Apply: DynamoDB's transaction limit). Each written item records
// changed_by and changed_at.
func (d *DynamoDB) Apply(ctx context.Context, p policy.Policy, actor string) (policy.Policy, error) {
	if _, err := policy.NewSnapshot(p); err != nil {
		return policy.Policy{}, fmt.Errorf("apply: %w", err)
	}
	items, err := d.query(ctx)
	if err != nil {
		return policy.Policy{}, err
	}
	cur, err := decodePolicy(items)
	if err != nil {
		return policy.Policy{}, err
	}
	if cur.Version != p.Version {
		return policy.Policy{}, fmt.Errorf("apply version %d over version %d: %w", p.Version, cur.Version, policy.ErrConflict)
	}
	now := d.now().UTC()
	next := stamp(cur, p.Clone(), actor, now)
	next.Version = cur.Version + 1

	want, err := encodePolicy(next)
	if err != nil {
		return policy.Policy{}, err
	}
	stampAttrs := map[string]types.AttributeValue{
		tables.PolicyChangedBy: &types.AttributeValueMemberS{Value: actor},
		tables.PolicyChangedAt: &types.AttributeValueMemberS{Value: now.Format(time.RFC3339Nano)},
	}
	var writes []types.TransactWriteItem
	for _, sk := range slices.Sorted(maps.Keys(want)) {
		item := want[sk]
		if sk == skVersion {
			continue
		}
		if old, ok := items[sk]; ok && sameContent(old, item) {
			continue
		}
		if !strings.HasPrefix(sk, skToolPrefix) && !strings.HasPrefix(sk, skClientPrefix) && !strings.HasPrefix(sk, skUserPrefix) {
			maps.Copy(item, stampAttrs) // tools, clients and users carry their own stamps
		}
		writes = append(writes, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(d.table), Item: item}})
	}
	for _, sk := range slices.Sorted(maps.Keys(items)) {
		if _, keep := want[sk]; !keep && sk != skVersion {
			writes = append(writes, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(d.table), Key: policyKey(sk)}})
		}
	}
	if len(writes)+1 > maxTransactItems {
		return policy.Policy{}, fmt.Errorf("apply: %d items changed, more than the %d one transaction can hold; apply the change in parts", len(writes), maxTransactItems-1)
	}
	version := want[skVersion]
	maps.Copy(version, stampAttrs)
	cond := "#v = :v"
	if cur.Version == 0 {
		cond = "attribute_not_exists(#v) OR #v = :v"
	}
	writes = append(writes, types.TransactWriteItem{Put: &types.Put{
		TableName:                 aws.String(d.table),
		Item:                      version,
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#v": tables.PolicyVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(cur.Version)}},
	}})
	_, err = d.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
	if err != nil {
		var tce *types.TransactionCanceledException
		if errors.As(err, &tce) {
			for _, r := range tce.CancellationReasons {
				if c := aws.ToString(r.Code); c == "ConditionalCheckFailed" || c == "TransactionConflict" {
					return policy.Policy{}, fmt.Errorf("apply version %d: another change landed first: %w", p.Version, policy.ErrConflict)
				}
			}
		}
		var tcf *types.TransactionConflictException
		if errors.As(err, &tcf) {
			return policy.Policy{}, fmt.Errorf("apply version %d: another change is in progress: %w", p.Version, policy.ErrConflict)
		}
		return policy.Policy{}, fmt.Errorf("policy table %s: apply: %w", d.table, err)
	}
	return next.Clone(), nil
}

func newDigestItem(d policy.Digest) *digestItem {
	if d == (policy.Digest{}) {
		return nil
	}
	it := digestItem(d)
	return &it
}

func (it *digestItem) digest() policy.Digest {
	if it == nil {
		return policy.Digest{}
	}
	return policy.Digest(*it)
}

func newChangeItem(c policy.Change) *changeItem {
	if c.FromHash == "" && c.ToHash == "" && len(c.Parts) == 0 && c.At.IsZero() {
		return nil
	}
	it := &changeItem{FromHash: c.FromHash, ToHash: c.ToHash, Parts: c.Parts}
	if !c.At.IsZero() {
		it.At = c.At.UTC().Format(time.RFC3339Nano)
	}
	return it
}

func (it *changeItem) change() (policy.Change, error) {
	c := policy.Change{FromHash: it.FromHash, ToHash: it.ToHash, Parts: it.Parts}
	if it.At != "" {
		at, err := time.Parse(time.RFC3339Nano, it.At)
		if err != nil {
			return policy.Change{}, fmt.Errorf("change.at: %w", err)
		}
		c.At = at.UTC()
	}
	return c, nil
}

func policyKey(sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		tables.PolicyPK: &types.AttributeValueMemberS{Value: tables.PolicyPartition},
		tables.PolicySK: &types.AttributeValueMemberS{Value: sk},
	}
}

// encodePolicy returns p's items by sort key, keys included; toolsets,
// profiles and settings without their changed_by/changed_at stamps.
func encodePolicy(p policy.Policy) (map[string]map[string]types.AttributeValue, error) {
	out := map[string]map[string]types.AttributeValue{}
	var errs []error
	put := func(sk string, v any) {
		item, err := attributevalue.MarshalMap(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("encode %s: %w", sk, err))
			return
		}
		maps.Copy(item, policyKey(sk))
		out[sk] = item
	}
	put(skVersion, versionItem{Version: p.Version})
	put(skSettings, settingsItem(p.Settings))
	for name, t := range p.Tools {
		it := toolItem{
			State: t.State, Hash: t.Hash, Digest: newDigestItem(t.Digest), Class: t.Class, Scopes: t.Scopes,
			ResumeState: t.ResumeState, ApprovedHash: t.ApprovedHash, ApprovedDigest: newDigestItem(t.ApprovedDigest),
			Change: newChangeItem(t.Change), Note: t.Note, ChangedBy: t.ChangedBy,
		}
		if !t.ChangedAt.IsZero() {
			it.ChangedAt = t.ChangedAt.UTC().Format(time.RFC3339Nano)
		}
		put(skToolPrefix+name, it)
	}
	for name, ts := range p.Toolsets {
		put(skToolsetPrefix+name, toolsetItem{Tools: ts.Tools})
	}
	for id, c := range p.Clients {
		it := clientItem{Name: c.Name, Disabled: c.Disabled, Closed: c.Closed, Removed: c.Removed, Note: c.Note, ChangedBy: c.ChangedBy}
		if !c.ChangedAt.IsZero() {
			it.ChangedAt = c.ChangedAt.UTC().Format(time.RFC3339Nano)
		}
		put(skClientPrefix+id, it)
	}
	for who, u := range p.Users {
		it := clientItem{Disabled: u.Disabled, Note: u.Note, ChangedBy: u.ChangedBy}
		if !u.ChangedAt.IsZero() {
			it.ChangedAt = u.ChangedAt.UTC().Format(time.RFC3339Nano)
		}
		put(skUserPrefix+who, it)
	}
	for name, pr := range p.Profiles {
		put(skProfilePrefix+name, profileItem{Toolsets: pr.Toolsets, Users: pr.Users, Groups: pr.Groups, Disabled: pr.Disabled, CallsPerMinute: pr.CallsPerMinute})
	}
	return out, errors.Join(errs...)
}

// sameContent reports whether a stored item says what want says, ignoring
// the stamps on items that do not carry them in the Policy.
func sameContent(stored, want map[string]types.AttributeValue) bool {
	s := maps.Clone(stored)
	if _, hasStamp := want[tables.PolicyChangedBy]; !hasStamp {
		delete(s, tables.PolicyChangedBy)
		delete(s, tables.PolicyChangedAt)
	}
	return reflect.DeepEqual(plain(s), plain(want))
}

// plain turns attribute values into comparable Go values.
func plain(item map[string]types.AttributeValue) map[string]any {
	var out map[string]any
	if err := attributevalue.UnmarshalMap(item, &out); err != nil {
		return nil
	}
	return out
}
