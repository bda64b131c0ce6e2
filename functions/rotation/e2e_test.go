package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/lambdatest"
	"github.com/kitegate/kitegate/internal/local"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/secrets/secretstest"
	"github.com/kitegate/kitegate/internal/standalone"
	"github.com/kitegate/kitegate/internal/tools"
)

// The bootstraps and the Lambda emulator are built once for this test binary.
func TestMain(m *testing.M) { os.Exit(lambdatest.Main(m)) }

const pkg = "github.com/kitegate/kitegate/functions/rotation"

// TestLambdaRotation runs the deployable rotation bootstrap under the Lambda
// Runtime Interface Emulator as Secrets Manager runs it: RotateSecret on
// the Secrets Manager fake invokes the function once per step with the
// sample event of testdata (its secret and version set), the function
// talks to the fake through the AWS SDK and to the Buildkite simulator,
// and the staged token ends up current with the old one revoked.
func TestLambdaRotation(t *testing.T) {
	const name, newToken = "kitegate/dev/buildkite-token", "bkua_rotated_token_44444444444444444444"
	sim := buildkitetest.New(buildkitetest.WithToken(newToken, buildkitetest.DefaultScopes...))
	t.Cleanup(sim.Close)
	sm := secretstest.New()
	t.Cleanup(sm.Close)
	sm.Put(name, "00000000-0000-0000-0000-00000000000a", `{"token":"`+buildkitetest.DefaultToken+`"}`, "AWSCURRENT")
	sm.ConfigureRotation(name, "arn:aws:lambda:us-east-1:123456789012:function:rotation")
	// The approved tools, whose scopes the new token must cover, are read
	// from the policy table, as on AWS.
	db := dynamotest.Client(t)
	tabs := dynamotest.NewTables(t, db)
	seed, err := (local.Env{}).PolicyStore(context.Background(), standalone.StoreOptions{Dir: t.TempDir(), Catalog: catalog(t)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := seed.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Version = 0
	if _, err := policystore.NewDynamoDB(db, tabs.Policy).Apply(context.Background(), p, "e2e"); err != nil {
		t.Fatal(err)
	}

	emu := lambdatest.Start(t, lambdatest.Bootstrap(t, pkg, runtime.GOARCH), lambdatest.Options{
		Timeout: 300e9,
		// As template.yaml sets it, plus the endpoints and dummy credentials.
		Env: map[string]string{
			"KITEGATE_ROTATION_MIN_VALIDITY":   "168h",
			"KITEGATE_REVOKE_GRACE":            "0s",
			"KITEGATE_POLICY_TABLE":            tabs.Policy,
			"BUILDKITE_API_URL":                sim.URL,
			"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL,
			"AWS_ENDPOINT_URL_DYNAMODB":        dynamotest.Endpoint(t),
			"AWS_REGION":                       "us-east-1",
			// DynamoDB Local keeps tables per access key: the one dynamotest uses.
			"AWS_ACCESS_KEY_ID":         "local",
			"AWS_SECRET_ACCESS_KEY":     "local",
			"AWS_EC2_METADATA_DISABLED": "true",
		},
	})

	sample, err := os.ReadFile(filepath.Join("testdata", "rotation-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	sm.SetRotationFunc(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		var in events.SecretsManagerSecretRotationEvent
		if err := json.Unmarshal(sample, &in); err != nil {
			return err
		}
		in.Step, in.SecretID, in.ClientRequestToken = ev.Step, ev.SecretID, ev.ClientRequestToken
		body, err := json.Marshal(in)
		if err != nil {
			return err
		}
		steps = append(steps, ev.Step)
		status, out, err := emu.Invoke(ctx, body)
		if err != nil {
			return err
		}
		var fnErr struct{ ErrorMessage string }
		if status != http.StatusOK || (json.Unmarshal(out, &fnErr) == nil && fnErr.ErrorMessage != "") {
			return fmt.Errorf("%s: status %d: %s", ev.Step, status, out)
		}
		return nil
	})

	ctx := context.Background()
	if _, err := secrets.Stage(ctx, sm.Client(), name, newToken, secrets.StageOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := sm.Client().RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for v, err := range sm.WaitRotations() {
		if err != nil {
			t.Fatalf("rotation %s: %v", v, err)
		}
	}
	if got := strings.Join(steps, ","); got != "createSecret,setSecret,testSecret,finishSecret" {
		t.Errorf("steps %s", got)
	}

	cur, err := sm.Client().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cur.VersionId) != aws.ToString(out.VersionId) || !strings.Contains(aws.ToString(cur.SecretString), newToken) {
		t.Errorf("AWSCURRENT is version %s, want the rotated %s holding the new token", aws.ToString(cur.VersionId), aws.ToString(out.VersionId))
	}
	for token, want := range map[string]int{buildkitetest.DefaultToken: http.StatusUnauthorized, newToken: http.StatusOK} {
		if got := accessTokenStatus(t, sim.URL, token); got != want {
			t.Errorf("GET /v2/access-token with the %s token: %d, want %d", map[bool]string{true: "old", false: "new"}[token == buildkitetest.DefaultToken], got, want)
		}
	}
	logs, _ := emu.WaitLogs(10*time.Second, `"step":"finishSecret"`)
	for _, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		if !strings.Contains(logs, `"step":"`+step+`"`) {
			t.Errorf("no audit line for %s in the function's log", step)
		}
	}
	if strings.Contains(logs, newToken) || strings.Contains(logs, buildkitetest.DefaultToken) {
		t.Error("the function's log holds a token")
	}

	// A step for a version that is not being rotated fails, and says so.
	bad := strings.Replace(string(sample), "arn:aws:secretsmanager:us-east-1:123456789012:secret:kitegate/dev/buildkite-token-AbCdEf", secretstest.ARN(name), 1)
	status, body, err := emu.Invoke(ctx, []byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "errorMessage") {
		t.Errorf("the sample testSecret for an unknown version: status %d, body %s, want a function error", status, body)
	}
}

func accessTokenStatus(t *testing.T, base, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(base, "/")+"/v2/access-token", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func catalog(t *testing.T) *tools.Catalog {
	t.Helper()
	cat, err := tools.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}
