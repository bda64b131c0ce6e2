// Package tables defines kitegate's DynamoDB tables — key schema, indexes,
// streams and TTL attribute — in one Go place. template.yaml declares the
// same tables for AWS (a test keeps the two in step), and
// internal/dynamotest creates them from here against DynamoDB Local.
package tables

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute and index names shared by the code that reads and writes the tables.
const (
	// Policy table: one partition, PolicyPartition, with one item per tool,
	// toolset, profile, the settings and the version (see docs/tables.md).
	PolicyPK        = "pk"
	PolicySK        = "sk"
	PolicyPartition = "POLICY"
	// Sort keys of the policy partition: one item each for the version
	// and the settings, one per tool, toolset and profile (prefix + name).
	PolicyVersionSK     = "VERSION"
	PolicySettingsSK    = "SETTINGS"
	PolicyToolPrefix    = "TOOL#"
	PolicyToolsetPrefix = "TOOLSET#"
	PolicyProfilePrefix = "PROFILE#"
	PolicyClientPrefix  = "CLIENT#"
	PolicyUserPrefix    = "USER#"
	PolicyVersion       = "version"    // the version item's counter
	PolicyChangedBy     = "changed_by" // who made an item's last change
	PolicyChangedAt     = "changed_at" // and when
	// StatusPartition holds discovery's records beside the policy (token
	// health, the last run that changed something).
	StatusPartition = "STATUS"

	// Audit table: one item per tools/call keyed by the event id.
	AuditID        = "id"
	AuditTime      = "time"
	AuditSubject   = "sub"
	AuditTool      = "tool"
	AuditByUser    = "by-user"
	AuditByTool    = "by-tool"
	AuditTTL       = "expires_at"
	RateLimitKey   = "key"
	RateLimitTTL   = "expires_at"
	RateLimitCount = "calls"
	RateLimitLimit = "limit"

	// Authorization table: the authorization server's state (registered
	// clients, pending authorizations, codes, refresh-token families,
	// consents), one item per key, each kind under its own key prefix.
	AuthKey = "oauth_key"
	AuthTTL = "expires_at"
)

// Policy returns the policy table's definition under name: pk/sk strings,
// a stream of new and old images (every change, console edits included).
func Policy(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(PolicyPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(PolicySK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(PolicyPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(PolicySK), KeyType: types.KeyTypeRange},
		},
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
	}
}

// Audit returns the audit table's definition under name: keyed by event id,
// queryable by user and time (AuditByUser) and by tool and time
// (AuditByTool), with a stream of new images. TTL on AuditTTL is turned on
// separately (UpdateTimeToLive; TimeToLiveSpecification in the template).
func Audit(name string) *dynamodb.CreateTableInput {
	byTime := func(index, hash string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{
			IndexName: aws.String(index),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(AuditTime), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}
	}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AuditID), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AuditTime), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AuditSubject), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AuditTool), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(AuditID), KeyType: types.KeyTypeHash},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			byTime(AuditByUser, AuditSubject),
			byTime(AuditByTool, AuditTool),
		},
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage},
	}
}

// RateLimit returns the rate-limit table's definition under name: one
// counter item per minute (internal/ratelimit), expiring on RateLimitTTL.
// No stream: counters are not events.
func RateLimit(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(RateLimitKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(RateLimitKey), KeyType: types.KeyTypeHash},
		},
	}
}

// Auth returns the authorization table's definition under name: one string
// key, no index, no stream; items expire on AuthTTL (pending authorizations
// in minutes, codes in a minute, refresh families at the sign-in lifetime).
func Auth(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AuthKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(AuthKey), KeyType: types.KeyTypeHash},
		},
	}
}

// TTLAttribute returns the TTL attribute of the table defined by def, or "".
func TTLAttribute(def *dynamodb.CreateTableInput) string {
	for _, ks := range def.KeySchema {
		switch aws.ToString(ks.AttributeName) {
		case AuditID:
			return AuditTTL
		case RateLimitKey:
			return RateLimitTTL
		case AuthKey:
			return AuthTTL
		}
	}
	return ""
}
