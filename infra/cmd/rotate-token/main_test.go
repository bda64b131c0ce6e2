package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitegate/kitegate/internal/secrets/secretstest"
)

func TestRun(t *testing.T) {
	const name = "kitegate/dev/buildkite-token"
	sm := secretstest.New()
	t.Cleanup(sm.Close)
	sm.Put(name, "00000000-0000-0000-0000-00000000000a", `{"token":"bkua_old"}`, "AWSCURRENT")
	sm.ConfigureRotation(name, "arn:aws:lambda:us-east-1:123456789012:function:rotation")
	var steps []string
	sm.SetRotationFunc(func(_ context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		steps = append(steps, ev.Step)
		return nil
	})
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL, "AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"), "AWS_MAX_ATTEMPTS": "1",
	} {
		t.Setenv(k, v)
	}
	noEnv := func(string) (string, bool) { return "", false }

	var out bytes.Buffer
	if err := run(context.Background(), []string{"-secret-id", name}, strings.NewReader("bkua_new_token\n"), &out, noEnv); err != nil {
		t.Fatal(err)
	}
	sm.WaitRotations()
	if !strings.Contains(out.String(), "rotation started") || strings.Contains(out.String(), "bkua_new_token") {
		t.Errorf("output %q", out.String())
	}
	if len(steps) != 4 {
		t.Errorf("rotation steps %v", steps)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"token on the command line", []string{"-secret-id", name, "bkua_in_argv"}, "never from the command line"},
		{"no secret", nil, "no secret"},
		{"unfinished rotation", []string{"-secret-id", name}, "-clear-pending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, strings.NewReader("bkua_other"), &bytes.Buffer{}, noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}
