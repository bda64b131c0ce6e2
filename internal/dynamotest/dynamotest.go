// Package dynamotest gives tests a DynamoDB Local client and uniquely named
// tables built from internal/tables, the same definitions template.yaml
// declares. DynamoDB Local is started outside the test binary by
// infra/local/dynamodb.sh (make test, .ci/run), which exports EndpointEnv.
package dynamotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/kitegate/kitegate/internal/tables"
)

// EndpointEnv names the variable holding DynamoDB Local's URL.
const EndpointEnv = "KITEGATE_TEST_DYNAMODB_ENDPOINT"

// Endpoint returns DynamoDB Local's URL. Without one the test skips, except
// in CI (CI=true), where it fails: a DynamoDB test must never pass by not
// running.
func Endpoint(t testing.TB) string {
	t.Helper()
	ep := os.Getenv(EndpointEnv)
	if ep != "" {
		return ep
	}
	const why = EndpointEnv + " is not set: run the tests with `make test` (infra/local/dynamodb.sh starts DynamoDB Local)"
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
	return ""
}

// Config returns an AWS config for endpoint with dummy credentials, the
// SDK's standard retries and transport. The HTTP client is h when not nil.
func Config(endpoint string, h aws.HTTPClient) aws.Config {
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(endpoint),
	}
	if h != nil {
		cfg.HTTPClient = h
	}
	return cfg
}

// Client returns a client for DynamoDB Local (see Endpoint).
func Client(t testing.TB) *dynamodb.Client {
	return dynamodb.NewFromConfig(Config(Endpoint(t), nil))
}

// Counter is an HTTP transport that counts the DynamoDB operations sent
// through it, by operation name (PutItem, Query, ...).
type Counter struct {
	Next http.RoundTripper

	mu  sync.Mutex
	ops map[string]int
}

// RoundTrip implements http.RoundTripper.
func (c *Counter) RoundTrip(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	c.add(op)
	next := c.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// Middleware counts operations from inside the SDK, each attempt once
// (for configs built by config.LoadDefaultConfig, whose HTTP client cannot
// be swapped when AWS_CA_BUNDLE is set): pass it to config.WithAPIOptions.
func (c *Counter) Middleware(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("kitegateCount", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		c.add(awsmiddleware.GetOperationName(ctx))
		return next.HandleFinalize(ctx, in)
	}), middleware.After)
}

func (c *Counter) add(op string) {
	c.mu.Lock()
	if c.ops == nil {
		c.ops = map[string]int{}
	}
	c.ops[op]++
	c.mu.Unlock()
}

// Counts returns a copy of the counts so far.
func (c *Counter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.ops))
	for k, v := range c.ops {
		out[k] = v
	}
	return out
}

// Total returns the number of operations so far.
func (c *Counter) Total() int {
	n := 0
	for _, v := range c.Counts() {
		n += v
	}
	return n
}

// Reset sets every count back to zero.
func (c *Counter) Reset() {
	c.mu.Lock()
	c.ops = nil
	c.mu.Unlock()
}

// CountingClient returns a DynamoDB Local client whose calls are counted.
func CountingClient(t testing.TB) (*dynamodb.Client, *Counter) {
	c := &Counter{}
	return dynamodb.NewFromConfig(Config(Endpoint(t), &http.Client{Transport: c, Timeout: 30 * time.Second})), c
}

// Tables are the names of one test's freshly created tables.
type Tables struct {
	Policy, Audit, RateLimit string
}

// NewTables creates a policy, an audit and a rate-limit table with unique
// names (streams and TTL as in production) and deletes them when the test
// ends.
func NewTables(t testing.TB, c *dynamodb.Client) Tables {
	t.Helper()
	return Tables{
		Policy:    NewTable(t, c, tables.Policy),
		Audit:     NewTable(t, c, tables.Audit),
		RateLimit: NewTable(t, c, tables.RateLimit),
	}
}

// NewTable creates the table def describes under a unique name, turns on
// its TTL, and deletes it when the test ends.
func NewTable(t testing.TB, c *dynamodb.Client, def func(name string) *dynamodb.CreateTableInput) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	in := def("kitegate-test-" + hex.EncodeToString(b[:]))
	name := aws.ToString(in.TableName)
	if _, err := c.CreateTable(ctx, in); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			t.Logf("delete table %s: %v", name, err)
		}
	})
	if attr := tables.TTLAttribute(in); attr != "" {
		_, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(name),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(true)},
		})
		if err != nil {
			t.Fatalf("table %s: turn on TTL: %v", name, err)
		}
	}
	return name
}
