package secrets

import (
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
	// SecretsManager makes the client, only when SecretID is set.
	SecretsManager func() (SecretGetter, error)
}

// Select returns the token source c names, or nil when it names none.
func Select(c Choice) (*Source, error) {
	opts := []Option{WithLogger(c.Logger)}
	if c.TTL > 0 {
		opts = append(opts, WithTTL(c.TTL))
	}
	switch {
	case c.SecretID != "":
		sm, err := c.SecretsManager()
		if err != nil {
			return nil, err
		}
		return SecretsManager(sm, c.SecretID, opts...), nil
	case c.TokenFile != "":
		return File(c.TokenFile, opts...), nil
	case c.Token != "":
		return Static(c.Token), nil
	}
	return nil, nil
}
