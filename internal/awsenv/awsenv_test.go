package awsenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoad(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "session",
		"AWS_MAX_ATTEMPTS": "2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" || cfg.RetryMaxAttempts != 2 || creds.AccessKeyID != "AKIDEXAMPLE" || creds.SecretAccessKey != "secret" || creds.SessionToken != "session" || cfg.BaseEndpoint != nil {
		t.Errorf("config %+v, credentials %+v", cfg, creds)
	}
	if cfg, err := Load(env(map[string]string{"AWS_DEFAULT_REGION": "us-east-2", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})); err != nil || cfg.Region != "us-east-2" {
		t.Errorf("AWS_DEFAULT_REGION: %q, %v", cfg.Region, err)
	}
	for name, vars := range map[string]map[string]string{
		"no region":    {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
		"no key":       {"AWS_REGION": "eu-west-1", "AWS_SECRET_ACCESS_KEY": "b"},
		"bad attempts": {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_MAX_ATTEMPTS": "many"},
	} {
		if _, err := Load(env(vars)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestEndpoints: each SDK client goes where its AWS_ENDPOINT_URL_<SERVICE>
// says, and signs with the credentials from the environment.
func TestEndpoints(t *testing.T) {
	var dynamo, secrets atomic.Int32
	serve := func(n *atomic.Int32, body string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			if !strings.Contains(r.Header.Get("Authorization"), "Credential=AKIDEXAMPLE/") {
				t.Errorf("request signed as %q", r.Header.Get("Authorization"))
			}
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			_, _ = w.Write([]byte(body))
		}))
	}
	ddb := serve(&dynamo, `{"TableNames":[]}`)
	defer ddb.Close()
	sm := serve(&secrets, `{"SecretString":"x","Name":"n"}`)
	defer sm.Close()
	cfg, err := Load(env(map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_ENDPOINT_URL_DYNAMODB": ddb.URL, "AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL, "AWS_MAX_ATTEMPTS": "1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("n")}); err != nil {
		t.Fatal(err)
	}
	if dynamo.Load() != 1 || secrets.Load() != 1 {
		t.Errorf("requests: DynamoDB %d, Secrets Manager %d; want 1 each at its own endpoint", dynamo.Load(), secrets.Load())
	}
}
