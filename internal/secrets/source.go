// Package secrets supplies the shared Buildkite API token: from an
// environment variable or a file locally, from Secrets Manager on AWS, always
// through an in-memory cache that is refreshed when Buildkite rejects the
// cached token.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kitegate/kitegate/internal/redact"
)

// ErrNoToken means no token could be had from the backing store.
var ErrNoToken = errors.New("no Buildkite token available")

// Source is a cached token source, safe for concurrent use. It implements
// the TokenSource that internal/buildkite consumes.
type Source struct {
	fetch  func(ctx context.Context) (string, error)
	ttl    time.Duration
	now    func() time.Time
	logger *slog.Logger

	mu        sync.Mutex
	token     string
	fetchedAt time.Time
}

// Option configures a Source.
type Option func(*Source)

// WithTTL sets how long a fetched token is used before it is fetched again
// (0 means until Buildkite rejects it).
func WithTTL(d time.Duration) Option { return func(s *Source) { s.ttl = d } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// WithLogger sets the logger (nil discards).
func WithLogger(l *slog.Logger) Option { return func(s *Source) { s.logger = l } }

func newSource(fetch func(context.Context) (string, error), opts []Option) *Source {
	// Every token read is remembered for redaction, so its exact value —
	// and, after a rotation, the previous one — is removed from results,
	// errors, audit events and logs wherever it shows up.
	remembered := func(ctx context.Context) (string, error) {
		tok, err := fetch(ctx)
		if err == nil {
			redact.Remember(tok)
		}
		return tok, err
	}
	s := &Source{fetch: remembered, ttl: 5 * time.Minute, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// Static serves a fixed token (BUILDKITE_API_TOKEN in local mode).
func Static(token string) *Source {
	return newSource(func(context.Context) (string, error) {
		if token == "" {
			return "", ErrNoToken
		}
		return token, nil
	}, nil)
}

// File reads the token from a file, again after each TTL and on refresh, so
// replacing the file rotates the token without a restart.
func File(path string, opts ...Option) *Source {
	return newSource(func(context.Context) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read token file: %w", err)
		}
		return parseSecret(string(b))
	}, opts)
}

// SecretGetter is the one Secrets Manager call the source makes.
type SecretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretsManager reads the AWSCURRENT version of secretID.
func SecretsManager(client SecretGetter, secretID string, opts ...Option) *Source {
	return newSource(func(ctx context.Context) (string, error) {
		out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
			SecretId:     aws.String(secretID),
			VersionStage: aws.String("AWSCURRENT"),
		})
		if err != nil {
			return "", fmt.Errorf("get secret %s: %w", secretID, err)
		}
		return parseSecret(aws.ToString(out.SecretString))
	}, opts)
}

// parseSecret accepts the token alone or a JSON object {"token": "..."}, the
// shape the rotation function writes.
func parseSecret(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var v struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return "", errors.New("secret is JSON but not {\"token\": \"...\"}")
		}
		s = strings.TrimSpace(v.Token)
	}
	if s == "" {
		return "", ErrNoToken
	}
	return s, nil
}

// Token returns the cached token, fetching it when there is none or it is
// older than the TTL. When a re-fetch fails, the token in hand is kept: a
// store outage must not fail calls that a valid token would serve.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && (s.ttl <= 0 || s.now().Sub(s.fetchedAt) < s.ttl) {
		return s.token, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		if s.token != "" {
			// Keep serving it, and leave the failing store alone for a
			// while: asking again on every Buildkite request would add a
			// failing AWS call (and its retries) to each one, all of them
			// waiting on this lock.
			s.fetchedAt = s.now().Add(min(s.ttl, retryAfterFailure) - s.ttl)
			s.logger.Warn("secrets: refresh failed, keeping the cached token", "err", err, "retry_in", min(s.ttl, retryAfterFailure).String())
			return s.token, nil
		}
		return "", err
	}
	s.token, s.fetchedAt = tok, s.now()
	return tok, nil
}

// retryAfterFailure is how long a cached token is served without asking the
// store again after a re-read failed (at most the TTL). A Buildkite 401
// still forces a read at once (Refresh).
const retryAfterFailure = 30 * time.Second

// Refresh fetches the token again after stale was rejected. Concurrent
// callers holding the same stale token cause one fetch: a caller whose stale
// token was already replaced gets the replacement.
func (s *Source) Refresh(ctx context.Context, stale string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.token != stale {
		return s.token, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		return "", err
	}
	s.token, s.fetchedAt = tok, s.now()
	return tok, nil
}
