package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// ClientSecret returns an OAuth client secret (what names it in errors):
// value when set (local only), else the Secrets Manager secret secretID —
// the string itself or {"client_secret": "…"} — read through the client
// sm makes on first use, and kept.
func ClientSecret(what, value, secretID string, sm func() (SecretGetter, error)) func(context.Context) (string, error) {
	if value != "" {
		return func(context.Context) (string, error) { return value, nil }
	}
	var (
		mu     sync.Mutex
		cached string
	)
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if cached != "" {
			return cached, nil
		}
		client, err := sm()
		if err != nil {
			return "", err
		}
		out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err != nil {
			return "", err
		}
		v := aws.ToString(out.SecretString)
		var doc struct {
			ClientSecret string `json:"client_secret"`
		}
		if json.Unmarshal([]byte(v), &doc) == nil && doc.ClientSecret != "" {
			v = doc.ClientSecret
		}
		if v == "" {
			return "", fmt.Errorf("the %s client secret is empty", what)
		}
		cached = v
		return v, nil
	}
}
