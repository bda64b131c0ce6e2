package secrets

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"log/slog"
	"time"
)

// Choice is where a function may find the Buildkite token, most preferred
// first: a Secrets Manager secret, a file, the token itself.
type Choice struct {
	SecretID  string
	TokenFile string
	Token     string
	// TTL is how long a fetched token is cached (0: the default).
	TTL    time.Duration
	Logger *slog.Logger
	// SecretsManager makes the client, only when SecretID is set, and only
	// when the token is first needed: a cold start does not pay for
	// loading the AWS configuration.
	SecretsManager func() (SecretGetter, error)
}

// lazyGetter makes its client on first use.
type lazyGetter struct {
	make   func() (SecretGetter, error)
	once   sync.Once
	client SecretGetter
	err    error
}

func (l *lazyGetter) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	l.once.Do(func() { l.client, l.err = l.make() })
	if l.err != nil {
		return nil, l.err
	}
	return l.client.GetSecretValue(ctx, in, opts...)
}

// Select returns the token source c names, or nil when it names none.
func Select(c Choice) *Source {
	opts := []Option{WithLogger(c.Logger)}
	if c.TTL > 0 {
		opts = append(opts, WithTTL(c.TTL))
	}
	switch {
	case c.SecretID != "":
		return SecretsManager(&lazyGetter{make: c.SecretsManager}, c.SecretID, opts...)
	case c.TokenFile != "":
		return File(c.TokenFile, opts...)
	case c.Token != "":
		return Static(c.Token)
	}
	return nil
}
