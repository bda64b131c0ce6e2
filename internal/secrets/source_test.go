package secrets_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/secrets/secretstest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func TestSecretsManagerCachesAndRefreshes(t *testing.T) {
	ctx := context.Background()
	sm := secretstest.New()
	defer sm.Close()
	sm.Put("kitegate/buildkite", "v1", `{"token":"bkua_one"}`, "AWSCURRENT")
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	src := secrets.SecretsManager(sm.Client(), "kitegate/buildkite", secrets.WithTTL(time.Minute), secrets.WithClock(c.now))

	for range 5 {
		tok, err := src.Token(ctx)
		if err != nil || tok != "bkua_one" {
			t.Fatalf("Token = %q, %v", tok, err)
		}
	}
	if got := sm.Calls("GetSecretValue"); got != 1 {
		t.Errorf("warm cache made %d Secrets Manager calls, want 1", got)
	}

	// Rotation: AWSCURRENT moves; a 401 on the old token forces a refresh.
	sm.Put("kitegate/buildkite", "v2", `{"token":"bkua_two"}`, "AWSCURRENT")
	tok, err := src.Refresh(ctx, "bkua_one")
	if err != nil || tok != "bkua_two" {
		t.Fatalf("Refresh = %q, %v", tok, err)
	}
	// A second caller that also saw the old token fails is served from cache.
	if tok, _ := src.Refresh(ctx, "bkua_one"); tok != "bkua_two" {
		t.Errorf("second Refresh = %q", tok)
	}
	if got := sm.Calls("GetSecretValue"); got != 2 {
		t.Errorf("after refresh %d calls, want 2", got)
	}

	// Outage with a warm cache: past the TTL the cached token keeps serving.
	sm.SetDown(true)
	c.add(2 * time.Minute)
	if tok, err := src.Token(ctx); err != nil || tok != "bkua_two" {
		t.Errorf("Token during outage = %q, %v; want the cached token", tok, err)
	}
}

// During an outage past the TTL the cached token is served and the store
// is asked again only after a pause, not on every Token call.
func TestSecretsManagerOutageIsNotAskedEveryCall(t *testing.T) {
	ctx := context.Background()
	sm := secretstest.New()
	defer sm.Close()
	sm.Put("kitegate/buildkite", "v1", "bkua_one", "AWSCURRENT")
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	src := secrets.SecretsManager(sm.Client(), "kitegate/buildkite", secrets.WithTTL(5*time.Minute), secrets.WithClock(c.now))
	if _, err := src.Token(ctx); err != nil {
		t.Fatal(err)
	}
	sm.SetDown(true)
	c.add(6 * time.Minute)
	for range 20 {
		if tok, err := src.Token(ctx); err != nil || tok != "bkua_one" {
			t.Fatalf("Token during outage = %q, %v", tok, err)
		}
	}
	if got := sm.Calls("GetSecretValue"); got != 2 {
		t.Errorf("%d Secrets Manager calls, want 2 (the first read and one failed re-read)", got)
	}
	c.add(29 * time.Second)
	_, _ = src.Token(ctx)
	if got := sm.Calls("GetSecretValue"); got != 2 {
		t.Errorf("asked again %d times within the pause", got-2)
	}
	c.add(time.Second)
	_, _ = src.Token(ctx)
	if got := sm.Calls("GetSecretValue"); got != 3 {
		t.Errorf("%d calls after the pause, want 3", got)
	}
}

func TestSecretsManagerColdOutageFails(t *testing.T) {
	sm := secretstest.New()
	defer sm.Close()
	sm.Put("kitegate/buildkite", "v1", "bkua_plain", "AWSCURRENT")
	sm.SetDown(true)
	_, err := secrets.SecretsManager(sm.Client(), "kitegate/buildkite").Token(context.Background())
	if err == nil {
		t.Fatal("cold outage returned a token")
	}
	if strings.Contains(err.Error(), "bkua_plain") {
		t.Errorf("error leaks the token: %v", err)
	}
}

func TestSecretsManagerMissingSecret(t *testing.T) {
	sm := secretstest.New()
	defer sm.Close()
	_, err := secrets.SecretsManager(sm.Client(), "nope").Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("err = %v, want a not-found error", err)
	}
}

func TestFileRereadsOnRefresh(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("bkua_first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := secrets.File(path)
	if tok, err := src.Token(ctx); err != nil || tok != "bkua_first" {
		t.Fatalf("Token = %q, %v", tok, err)
	}
	if err := os.WriteFile(path, []byte("bkua_second"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, _ := src.Token(ctx); tok != "bkua_first" {
		t.Errorf("Token within TTL = %q, want the cached one", tok)
	}
	if tok, err := src.Refresh(ctx, "bkua_first"); err != nil || tok != "bkua_second" {
		t.Errorf("Refresh = %q, %v", tok, err)
	}
}

func TestStaticAndEmpty(t *testing.T) {
	if _, err := secrets.Static("").Token(context.Background()); !errors.Is(err, secrets.ErrNoToken) {
		t.Errorf("empty static token: err = %v", err)
	}
	path := filepath.Join(t.TempDir(), "token")
	_ = os.WriteFile(path, []byte(`{"token":""}`), 0o600)
	if _, err := secrets.File(path).Token(context.Background()); !errors.Is(err, secrets.ErrNoToken) {
		t.Errorf("empty JSON token: err = %v", err)
	}
}

func TestSelectPrefersTheSecret(t *testing.T) {
	ctx := context.Background()
	sm := secretstest.New()
	defer sm.Close()
	sm.Put("kitegate/buildkite", "v1", `{"token":"bkua_from_secrets_manager"}`, "AWSCURRENT")
	path := filepath.Join(t.TempDir(), "token")
	_ = os.WriteFile(path, []byte("bkua_from_file"), 0o600)
	smClient := func() (secrets.SecretGetter, error) { return sm.Client(), nil }

	tests := []struct {
		name   string
		choice secrets.Choice
		want   string
	}{
		{"secret over file and token", secrets.Choice{SecretID: "kitegate/buildkite", TokenFile: path, Token: "bkua_env", SecretsManager: smClient}, "bkua_from_secrets_manager"},
		{"file over token", secrets.Choice{TokenFile: path, Token: "bkua_env"}, "bkua_from_file"},
		{"token", secrets.Choice{Token: "bkua_env"}, "bkua_env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := secrets.Select(tt.choice)
			if got, err := src.Token(ctx); err != nil || got != tt.want {
				t.Errorf("Token = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if src := secrets.Select(secrets.Choice{}); src != nil {
		t.Errorf("nothing configured: %v, want nil", src)
	}
}

func TestSelectMakesTheClientOnFirstUse(t *testing.T) {
	sm := secretstest.New()
	defer sm.Close()
	sm.Put("kitegate/buildkite", "v1", "bkua_lazy", "AWSCURRENT")
	made := 0
	src := secrets.Select(secrets.Choice{SecretID: "kitegate/buildkite", SecretsManager: func() (secrets.SecretGetter, error) {
		made++
		return sm.Client(), nil
	}})
	if made != 0 {
		t.Fatalf("the Secrets Manager client was made %d times before any token was needed", made)
	}
	for range 3 {
		if tok, err := src.Token(context.Background()); err != nil || tok != "bkua_lazy" {
			t.Fatalf("Token = %q, %v", tok, err)
		}
	}
	if made != 1 {
		t.Errorf("client made %d times, want once", made)
	}
}
