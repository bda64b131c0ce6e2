package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/lambdatest"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/secrets/secretstest"
)

// The bootstraps and the Lambda emulator are built once for this test binary.
func TestMain(m *testing.M) { os.Exit(lambdatest.Main(m)) }

const pkg = "github.com/kitegate/kitegate/functions/discovery"

// TestLambdaScheduledDiscovery runs the deployable discovery bootstrap
// under the Lambda Runtime Interface Emulator on the schedule's event
// (testdata), as template.yaml configures it: the policy table in DynamoDB
// Local, the token from the Secrets Manager fake, Buildkite simulated. The
// first run puts every catalog tool into the policy and records the token's
// health; the second changes nothing.
func TestLambdaScheduledDiscovery(t *testing.T) {
	db := dynamotest.Client(t)
	tabs := dynamotest.NewTables(t, db)
	sim := buildkitetest.New()
	t.Cleanup(sim.Close)
	sm := secretstest.New()
	t.Cleanup(sm.Close)
	const secret = "kitegate/dev/buildkite-token"
	sm.Put(secret, "v1", `{"token":"`+buildkitetest.DefaultToken+`"}`, secretstest.StageCurrent)

	emu := lambdatest.Start(t, lambdatest.Bootstrap(t, pkg, runtime.GOARCH), lambdatest.Options{Timeout: 60 * time.Second, Env: map[string]string{
		"KITEGATE_POLICY_TABLE":            tabs.Policy,
		"KITEGATE_BUILDKITE_SECRET_ID":     secretstest.ARN(secret),
		"KITEGATE_DEFAULT_CLASSIFICATION":  "pending_review",
		"KITEGATE_TOKEN_EXPIRY_WINDOW":     "336h",
		"BUILDKITE_API_URL":                sim.URL,
		"AWS_ENDPOINT_URL_DYNAMODB":        dynamotest.Endpoint(t),
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL,
		"AWS_REGION":                       "us-east-1",
		// DynamoDB Local keeps tables per access key: the one dynamotest uses.
		"AWS_ACCESS_KEY_ID":         "local",
		"AWS_SECRET_ACCESS_KEY":     "local",
		"AWS_EC2_METADATA_DISABLED": "true",
	}})
	event, err := os.ReadFile(filepath.Join("testdata", "schedule-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	invoke := func() discovery.Result {
		t.Helper()
		status, body, err := emu.Invoke(context.Background(), event)
		if err != nil || status != http.StatusOK || strings.Contains(string(body), `"errorMessage"`) {
			t.Fatalf("invoke: status %d, body %s, %v", status, body, err)
		}
		var res discovery.Result
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatalf("result %s: %v", body, err)
		}
		return res
	}

	first := invoke()
	if !first.PolicyWritten || first.Token.Status != discovery.TokenOK {
		t.Errorf("first run: written %v, token %+v; want the catalog written and a healthy token", first.PolicyWritten, first.Token)
	}
	store := policystore.NewDynamoDB(db, tabs.Policy)
	p, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Tools) < 10 || p.Version != first.PolicyVersion {
		t.Errorf("policy table: %d tools at version %d; want the catalog at version %d", len(p.Tools), p.Version, first.PolicyVersion)
	}
	for name, tool := range p.Tools {
		if tool.State != policy.StatePendingReview {
			t.Errorf("tool %s is %s, want %s (the default classification)", name, tool.State, policy.StatePendingReview)
		}
	}
	st, err := discovery.NewTableStatus(db, tabs.Policy).LoadStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Token.Status != discovery.TokenOK {
		t.Errorf("stored token health %+v", st.Token)
	}

	second := invoke()
	if second.PolicyWritten || second.PolicyVersion != first.PolicyVersion {
		t.Errorf("second run wrote the policy (version %d -> %d): want idempotent", first.PolicyVersion, second.PolicyVersion)
	}
	if n := sm.Calls("GetSecretValue"); n != 1 {
		t.Errorf("GetSecretValue called %d times over two warm runs, want 1 (cached)", n)
	}
	if logs := emu.Logs(); strings.Contains(logs, buildkitetest.DefaultToken) {
		t.Error("the function's log holds the token")
	}
}
