package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/secrets/secretstest"

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
	if c.minValidity != 168*time.Hour || c.revokeGrace != 0 || c.buildkiteTimeout != 10*time.Second || c.onLambda {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range []map[string]string{
		{"KITEGATE_REVOKE_GRACE": "soon"},
		{"KITEGATE_ROTATION_MIN_VALIDITY": "-1h"},
		{"KITEGATE_BUILDKITE_TIMEOUT": "1m"},
	} {
		if _, err := loadConfig(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestSampleEventDecodes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "rotation-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SecretsManagerSecretRotationEvent
	if err := json.Unmarshal(b, &ev); err != nil || ev.Step != "testSecret" || ev.ClientRequestToken == "" || ev.SecretID == "" {
		t.Fatalf("event %+v, %v", ev, err)
	}
}

// TestRunSteps runs the wiring by hand (an event on standard input) against
// the Secrets Manager fake and the Buildkite simulator, with the policy built
// into the binary.
func TestRunSteps(t *testing.T) {
	const name, newToken = "kitegate/dev/buildkite-token", "bkua_rotated_token_33333333333333333333"
	sim := buildkitetest.New(buildkitetest.WithToken(newToken, buildkitetest.DefaultScopes...))
	t.Cleanup(sim.Close)
	sm := secretstest.New()
	t.Cleanup(sm.Close)
	sm.Put(name, "00000000-0000-0000-0000-00000000000a", `{"token":"`+buildkitetest.DefaultToken+`"}`, "AWSCURRENT")
	sm.ConfigureRotation(name, "arn:aws:lambda:us-east-1:123456789012:function:rotation")
	ctx := context.Background()
	if _, err := secrets.Stage(ctx, sm.Client(), name, newToken, secrets.StageOptions{}); err != nil {
		t.Fatal(err)
	}
	// A rotation whose steps this test runs itself.
	sm.SetRotationFunc(func(context.Context, events.SecretsManagerSecretRotationEvent) error { return nil })
	out, err := sm.Client().RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	sm.WaitRotations()

	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL, "AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"), "AWS_MAX_ATTEMPTS": "1",
	} {
		t.Setenv(k, v)
	}
	lookup := env(map[string]string{"BUILDKITE_API_URL": sim.URL, "KITEGATE_STATE_DIR": t.TempDir()})
	for _, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		ev, _ := json.Marshal(events.SecretsManagerSecretRotationEvent{Step: step, SecretID: secretstest.ARN(name), ClientRequestToken: aws.ToString(out.VersionId)})
		var stdout bytes.Buffer
		if err := run(ctx, lookup, bytes.NewReader(ev), &stdout); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		var res secrets.StepResult
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.Step != step {
			t.Fatalf("%s answered %q: %v", step, stdout.String(), err)
		}
		if strings.Contains(stdout.String(), newToken) || strings.Contains(stdout.String(), buildkitetest.DefaultToken) {
			t.Errorf("%s printed a token: %s", step, stdout.String())
		}
		if step == "finishSecret" && !res.Revoked {
			t.Errorf("finishSecret: %+v", res)
		}
	}
}
