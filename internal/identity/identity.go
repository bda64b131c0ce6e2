package identity

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Caller is the verified identity of the person behind an MCP request.
type Caller struct {
	Subject string   // sub
	Email   string   // empty when unknown or unverified
	Groups  []string // from the configured group claim
	Source  string   // "oidc" or "dev"
	// ClientID and ClientName name the OAuth client the token was issued
	// to, when the token says (kitegate's own tokens always do).
	ClientID   string
	ClientName string
}

// Sources of a Caller.
const (
	SourceOIDC = "oidc"
	SourceDev  = "dev"
)

type callerKey struct{}

// NewContext returns a copy of ctx carrying c.
func NewContext(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// FromContext returns the Caller stored in ctx by NewContext (or Middleware).
func FromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Authenticator verifies the bearer token of a request.
//
// Authenticate wraps ErrMissingToken or ErrInvalidToken when the request's
// credentials are at fault. Any other error means the credentials could not
// be checked at all (for example the provider's keys could not be fetched).
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (Caller, error)
}

var (
	// ErrMissingToken means the request carried no bearer token.
	ErrMissingToken = errors.New("missing bearer token")
	// ErrInvalidToken means the request carried a bearer token that was rejected.
	ErrInvalidToken = errors.New("invalid bearer token")
)

// invalidTokenError is an ErrInvalidToken whose description is fixed text,
// safe to send to the client; err holds the detail for the log. Neither ever
// contains the token.
type invalidTokenError struct {
	description string
	err         error
}

func invalid(description string, err error) error {
	return &invalidTokenError{description: description, err: err}
}

func (e *invalidTokenError) Error() string {
	if e.err == nil {
		return "invalid bearer token: " + e.description
	}
	return "invalid bearer token: " + e.description + ": " + e.err.Error()
}

func (e *invalidTokenError) Is(target error) bool { return target == ErrInvalidToken }

func (e *invalidTokenError) Unwrap() error { return e.err }

// maxTokenBytes bounds the work done on a token. Access tokens carrying many
// groups run to a few kilobytes; anything far bigger is not a token.
const maxTokenBytes = 16 << 10

// bearerToken extracts the token of an "Authorization: Bearer" header.
// A request without one, or with another scheme, has no bearer token.
func bearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", ErrMissingToken
	}
	if len(values) > 1 {
		return "", invalid("more than one Authorization header", nil)
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrMissingToken
	}
	token = strings.TrimSpace(token)
	switch {
	case token == "":
		return "", invalid("empty bearer token", nil)
	case len(token) > maxTokenBytes:
		return "", invalid("token too large", nil)
	case strings.ContainsAny(token, " \t"):
		return "", invalid("malformed token", nil)
	}
	return token, nil
}
