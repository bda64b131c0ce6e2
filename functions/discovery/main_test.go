package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"

	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/tables"
	"github.com/kitegate/kitegate/internal/tools"

	// The tests run the function by hand, with its stand-ins for AWS
	// and Buildkite, whatever the build tags.
	_ "github.com/kitegate/kitegate/internal/local"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadConfig(t *testing.T) {
	c, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.classification != discovery.PendingReview || c.expiryWindow != discovery.DefaultExpiryWindow || c.stateDir != ".local/state" || !c.useSimulatorLocal || c.onLambda {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range []map[string]string{
		{"KITEGATE_DEFAULT_CLASSIFICATION": "approve_read_only"},
		{"KITEGATE_TOKEN_EXPIRY_WINDOW": "two weeks"},
		{"KITEGATE_TOKEN_EXPIRY_WINDOW": "0s"},
		{"KITEGATE_BUILDKITE_TIMEOUT": "1m"},
		{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"},                                             // no table, no secret
		{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "KITEGATE_POLICY_TABLE": "kitegate-policy"}, // no secret
	} {
		if _, err := loadConfig(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// runOnce runs the function by hand and decodes the result it prints.
func runOnce(t *testing.T, vars map[string]string) discovery.Result {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), env(vars), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	var res discovery.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("result %q: %v", out.String(), err)
	}
	return res
}

// `make discover` with nothing configured: the embedded store (seeded from
// the built-in policy, as make run seeds it) and the bundled simulator.
func TestRunByHandEmbedded(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"KITEGATE_STATE_DIR": dir, "KITEGATE_DEFAULT_CLASSIFICATION": "approve-read-only", "KITEGATE_LOG_LEVEL": "error"}
	first := runOnce(t, vars)
	if !first.PolicyWritten || first.PolicyVersion != 2 || first.Token.Status != discovery.TokenOK || len(first.Added) == 0 {
		t.Errorf("first run: %+v", first)
	}
	store, err := policystore.NewEmbedded(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Profiles) == 0 || p.Tools["list_builds"].State != policy.StateApproved || p.Tools["create_build"].State != policy.StatePendingReview || p.Tools["list_agents"].State != policy.StateApproved {
		t.Errorf("policy after the run: %d profiles, list_builds %s, create_build %s, list_agents %s",
			len(p.Profiles), p.Tools["list_builds"].State, p.Tools["create_build"].State, p.Tools["list_agents"].State)
	}
	if st, err := discovery.NewFileStatus(dir).LoadStatus(t.Context()); err != nil || st.Token.Status != discovery.TokenOK || st.Discovery.PolicyVersion != 2 {
		t.Errorf("status: %+v, %v", st, err)
	}
	if second := runOnce(t, vars); second.PolicyWritten || second.StatusWrites != 0 || !second.Changes.Empty() {
		t.Errorf("second run: %+v; want nothing written", second)
	}
}

// The function against DynamoDB Local: the first run writes one
// transaction and the two status items, the second writes nothing.
func TestRunByHandDynamoDB(t *testing.T) {
	sim := buildkitetest.New()
	t.Cleanup(sim.Close)
	db := dynamotest.Client(t)
	table := dynamotest.NewTable(t, db, tables.Policy)
	calls := &dynamotest.Counter{}
	awsOptions = []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithBaseEndpoint(dynamotest.Endpoint(t)),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
		awsconfig.WithAPIOptions([]func(*middleware.Stack) error{calls.Middleware}),
	}
	t.Cleanup(func() { awsOptions = nil })
	vars := map[string]string{
		"KITEGATE_POLICY_TABLE": table, "BUILDKITE_API_URL": sim.URL, "BUILDKITE_API_TOKEN": buildkitetest.DefaultToken,
		"KITEGATE_DEFAULT_CLASSIFICATION": "approved", "KITEGATE_LOG_LEVEL": "error",
	}
	first := runOnce(t, vars)
	if !first.PolicyWritten || first.PolicyVersion != 1 || len(first.Added) != 54 {
		t.Errorf("first run: %+v", first)
	}
	if got := calls.Counts(); got["TransactWriteItems"] != 1 || got["PutItem"] != 2 {
		t.Errorf("first run DynamoDB calls %v; want 1 TransactWriteItems, 2 PutItem", got)
	}
	calls.Reset()
	second := runOnce(t, vars)
	if second.PolicyWritten || second.StatusWrites != 0 {
		t.Errorf("second run: %+v", second)
	}
	if got := calls.Counts(); got["TransactWriteItems"] != 0 || got["PutItem"] != 0 || got["Query"] != 3 {
		t.Errorf("second run DynamoDB calls %v; want 3 Query, no writes", got)
	}
	ops := map[string]bool{}
	for op := range calls.Counts() {
		ops[op] = true
	}
	calls.Reset()
	runOnce(t, map[string]string{ // a wrong token: the health item is written again
		"KITEGATE_POLICY_TABLE": table, "BUILDKITE_API_URL": sim.URL, "BUILDKITE_API_TOKEN": "bkua_wrong", "KITEGATE_LOG_LEVEL": "error",
	})
	for op := range calls.Counts() {
		ops[op] = true
	}
	for op := range ops {
		if !slices.Contains(storeCalls, op) {
			t.Errorf("discovery called %s, which the template does not grant (storeCalls)", op)
		}
	}
	p, err := policystore.NewDynamoDB(db, table).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if p.Tools["get_job_env"].State != policy.StatePendingReview || p.Tools["cancel_build"].State != policy.StateApproved {
		t.Errorf("get_job_env %s, cancel_build %s", p.Tools["get_job_env"].State, p.Tools["cancel_build"].State)
	}
}

// What the schedule sends (its Input, as is), an empty object and any
// other JSON all run discovery.
func TestHandleScheduleInput(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "schedule-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(raw) {
		t.Fatalf("testdata/schedule-event.json is not JSON: %s", raw)
	}
	sim := buildkitetest.New()
	t.Cleanup(sim.Close)
	bk, err := buildkite.New(buildkite.Config{BaseURL: sim.URL, Tokens: secrets.Static(buildkitetest.DefaultToken)})
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := tools.Default(bk)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := policystore.NewEmbedded(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := discovery.New(discovery.Config{Store: store, Status: discovery.NewFileStatus(dir), Catalog: discovery.Catalog(catalog), Token: bk})
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range []string{string(raw), `{}`, `{"detail-type":"Scheduled Event","detail":{}}`, `null`} {
		res, err := r.Handle(t.Context(), json.RawMessage(in))
		if err != nil {
			t.Fatalf("input %s: %v", in, err)
		}
		if (i == 0) != res.PolicyWritten {
			t.Errorf("input %s: policy written %v", in, res.PolicyWritten)
		}
	}
}
