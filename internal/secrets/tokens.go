package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/policy"
)

// TokenInfo is what Buildkite says about a token (GET /v2/access-token):
// never the token itself.
type TokenInfo struct {
	UUID   string
	Scopes []string
	// ExpiresAt is zero for a token that does not expire.
	ExpiresAt time.Time
}

// ErrTokenRejected means Buildkite answered 401 for the token: it is wrong,
// expired or revoked.
var ErrTokenRejected = errors.New("Buildkite rejected the token (401)")

// TokenAPI asks Buildkite about one token, authenticating with that token.
type TokenAPI interface {
	// Describe is GET /v2/access-token; ErrTokenRejected on a 401.
	Describe(ctx context.Context, token string) (TokenInfo, error)
	// Revoke is DELETE /v2/access-token; ErrTokenRejected on a 401 (the
	// token was already revoked).
	Revoke(ctx context.Context, token string) error
}

// BuildkiteTokens is the TokenAPI over internal/buildkite: one client per
// call, holding only the token it is asked about and never refreshing it.
type BuildkiteTokens struct {
	// BaseURL is the API root (buildkite.DefaultBaseURL when empty).
	BaseURL string
	// Timeout bounds each request (buildkite.DefaultTimeout when zero).
	Timeout time.Duration
	// Transport sends the requests (http.DefaultTransport when nil).
	Transport http.RoundTripper
	// UserAgent is sent on every request.
	UserAgent string
}

var _ TokenAPI = BuildkiteTokens{}

// fixedToken is a buildkite.TokenSource of one token: a 401 stands.
type fixedToken string

func (t fixedToken) Token(context.Context) (string, error)           { return string(t), nil }
func (t fixedToken) Refresh(context.Context, string) (string, error) { return string(t), nil }

func (b BuildkiteTokens) client(token string) (*buildkite.Client, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	return buildkite.New(buildkite.Config{BaseURL: b.BaseURL, Tokens: fixedToken(token), Timeout: b.Timeout, Transport: b.Transport, UserAgent: b.UserAgent})
}

// Describe implements TokenAPI.
func (b BuildkiteTokens) Describe(ctx context.Context, token string) (TokenInfo, error) {
	c, err := b.client(token)
	if err != nil {
		return TokenInfo{}, err
	}
	t, err := c.AccessToken(ctx)
	if err != nil {
		return TokenInfo{}, rejected(err)
	}
	info := TokenInfo{UUID: t.UUID, Scopes: t.Scopes}
	if t.ExpiresAt != nil {
		info.ExpiresAt = t.ExpiresAt.Time
	}
	return info, nil
}

// Revoke implements TokenAPI.
func (b BuildkiteTokens) Revoke(ctx context.Context, token string) error {
	c, err := b.client(token)
	if err != nil {
		return err
	}
	return rejected(c.RevokeAccessToken(ctx))
}

func rejected(err error) error {
	var e *buildkite.Error
	if errors.As(err, &e) && e.Kind == buildkite.Unauthorized {
		return ErrTokenRejected
	}
	return err
}

// RequiredScopes says which Buildkite token scopes the approved tools need.
type RequiredScopes interface {
	// RequiredScopes maps each scope to the approved tools that need it.
	RequiredScopes(ctx context.Context) (map[string][]string, error)
}

// PolicyLoader is the one policy.Store method PolicyScopes calls.
type PolicyLoader interface {
	Load(ctx context.Context) (policy.Policy, error)
}

// PolicyScopes reads the required scopes from the approved tools of the
// stored policy.
type PolicyScopes struct {
	Store PolicyLoader
}

var _ RequiredScopes = PolicyScopes{}

// RequiredScopes implements RequiredScopes. An unreadable or empty policy is
// an error: a token must not be promoted against a policy nobody can read.
func (p PolicyScopes) RequiredScopes(ctx context.Context) (map[string][]string, error) {
	pol, err := p.Store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	if pol.Version == 0 {
		return nil, errors.New("the policy store is empty")
	}
	out := map[string][]string{}
	for name, t := range pol.Tools {
		if t.State != policy.StateApproved {
			continue
		}
		for _, s := range t.Scopes {
			out[s] = append(out[s], name)
		}
	}
	for _, tools := range out {
		slices.Sort(tools)
	}
	return out, nil
}

// missingScopes lists, sorted, the required scopes that have lacks, each
// with the tools that need it: "read_builds (get_build, list_builds)".
func missingScopes(required map[string][]string, has []string) (names []string, described string) {
	for s := range required {
		if !slices.Contains(has, s) {
			names = append(names, s)
		}
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, s := range names {
		parts[i] = s + " (" + strings.Join(required[s], ", ") + ")"
	}
	return names, strings.Join(parts, ", ")
}
