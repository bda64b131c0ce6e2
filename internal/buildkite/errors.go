package buildkite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	gobuildkite "github.com/buildkite/go-buildkite/v4"

	"github.com/kitegate/kitegate/internal/redact"
)

// Kind says what went wrong, in terms a caller can act on.
type Kind string

// The kinds of Error.
const (
	Unauthorized    Kind = "unauthorized"     // the token is missing, expired, revoked or unreadable
	Forbidden       Kind = "forbidden"        // the token lacks a scope
	NotFound        Kind = "not_found"        // or not visible to the token
	RateLimited     Kind = "rate_limited"     // 429; see RetryAfter and Scope
	Upstream        Kind = "upstream"         // 5xx, or an answer kitegate cannot read
	InvalidArgument Kind = "invalid_argument" // refused before any call, or a 400
	Validation      Kind = "validation"       // 422 (and 409): Buildkite refused the change
	Timeout         Kind = "timeout"          // no answer within the per-request timeout
	Unavailable     Kind = "unavailable"      // network failure, or the call was canceled
)

// Error is every failure of a Client method: Buildkite's answer mapped once
// into a Kind, with a message safe to show the caller.
type Error struct {
	Kind   Kind
	Status int // HTTP status, 0 when there was no answer
	// Message is Buildkite's message (sanitized: capped, control characters
	// and anything shaped like an API token removed), or kitegate's own.
	Message string
	// RetryAfter is how long until the rate-limit window resets.
	RetryAfter time.Duration
	// Scope is the rate limit that was exhausted: "organization" or "user".
	Scope string
	// Resource names what was asked for, e.g. "pipeline acme/web-app".
	Resource string

	err error // the cause, for errors.Is/As and the log
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("buildkite: ")
	if e.Resource != "" {
		b.WriteString(e.Resource)
		b.WriteString(": ")
	}
	b.WriteString(string(e.Kind))
	if e.Status != 0 {
		fmt.Fprintf(&b, " (%d)", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.err != nil {
		b.WriteString(": ")
		b.WriteString(sanitize(e.err.Error()))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.err }

// SafeMessage says what happened in words a model (or a person) can act on.
// It never contains the token.
func (e *Error) SafeMessage() string {
	what := e.Resource
	if what == "" {
		what = "the resource"
	}
	switch e.Kind {
	case Unauthorized:
		if e.Status == 0 { // no answer: the token never left kitegate
			return "the shared Buildkite token could not be read from its store; try again shortly, and tell an administrator if it persists"
		}
		return "the shared Buildkite token was rejected; an administrator must check it"
	case Forbidden:
		msg := "the shared Buildkite token lacks the scope this needs; an administrator must grant it"
		if e.Message != "" {
			msg += " (Buildkite says: " + e.Message + ")"
		}
		return msg
	case NotFound:
		return "Buildkite says " + what + " was not found (or the token cannot see it)"
	case RateLimited:
		scope := e.Scope
		if scope == "" {
			scope = "unknown scope"
		}
		msg := "Buildkite rate limit reached (" + scope + ")"
		if e.RetryAfter > 0 {
			msg += "; retry in " + e.RetryAfter.Round(time.Second).String()
		}
		return msg
	case Upstream:
		if e.Status != 0 {
			return fmt.Sprintf("Buildkite failed to answer for %s (HTTP %d); try again shortly", what, e.Status)
		}
		return "Buildkite gave an answer kitegate could not read for " + what
	case InvalidArgument:
		if e.Status != 0 {
			return "Buildkite refused the request for " + what + ": " + e.Message
		}
		return e.Message
	case Validation:
		return "Buildkite refused the change to " + what + ": " + e.Message
	case Timeout:
		return "Buildkite did not answer in time for " + what + "; try again"
	case Unavailable:
		return "Buildkite could not be reached for " + what + "; try again shortly"
	}
	return "the Buildkite call for " + what + " failed"
}

// invalid is the error for a refused path segment or option: no call is made.
func invalid(format string, a ...any) *Error {
	return &Error{Kind: InvalidArgument, Message: fmt.Sprintf(format, a...)}
}

// mapError turns whatever a go-buildkite call returned into an *Error
// describing resource; it is the one place errors are classified.
func mapError(err error, resource string) error {
	return mapOrgError(err, "", resource)
}

// mapOrgError is mapError for a call under organization org: Buildkite's
// "No organization found" then names the organization, not the resource.
func mapOrgError(err error, org, resource string) error {
	if err == nil {
		return nil
	}
	mapped := classify(err, resource)
	if e, ok := mapped.(*Error); ok && org != "" && e.Kind == NotFound && strings.Contains(e.Message, "No organization found") {
		e.Resource = "organization " + org
	}
	return mapped
}

func classify(err error, resource string) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		if c.Resource == "" {
			c.Resource = resource
		}
		return &c
	}
	var er *gobuildkite.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		e := fromResponse(er.Response, er.RawBody)
		e.Resource = resource
		return e
	}
	out := &Error{Kind: Unavailable, Resource: resource, err: err}
	var ne net.Error
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		out.Kind = Timeout
	case errors.Is(err, context.Canceled):
		out.Message = "the request was canceled"
	case errors.As(err, &se), errors.As(err, &te), errors.Is(err, errTooLarge):
		out.Kind = Upstream
	}
	return out
}

// fromResponse maps an error answer. body is the (capped) response body.
func fromResponse(resp *http.Response, body []byte) *Error {
	var parsed struct {
		Message string            `json:"message"`
		Errors  []json.RawMessage `json:"errors"`
		Scope   string            `json:"scope"`
		Reset   *float64          `json:"reset"`
	}
	_ = json.Unmarshal(body, &parsed) // a non-JSON body leaves the status to speak
	e := &Error{Status: resp.StatusCode, Message: sanitize(parsed.Message)}
	if details := errorDetails(parsed.Errors); details != "" {
		e.Message = strings.TrimSpace(e.Message + " (" + details + ")")
	}
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized:
		e.Kind = Unauthorized
	case s == http.StatusForbidden:
		e.Kind = Forbidden
	case s == http.StatusNotFound:
		e.Kind = NotFound
	case s == http.StatusTooManyRequests:
		e.Kind = RateLimited
		e.Scope = sanitize(parsed.Scope)
		e.RetryAfter = retryAfter(resp.Header, e.Scope, parsed.Reset)
	case s == http.StatusBadRequest:
		e.Kind = InvalidArgument
	case s == http.StatusUnprocessableEntity, s == http.StatusConflict:
		e.Kind = Validation
	default:
		e.Kind = Upstream
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// errorDetails renders a 422's "errors" list, whose items are strings or
// {"field", "code"/"message"} objects.
func errorDetails(items []json.RawMessage) string {
	var parts []string
	for _, raw := range items {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			parts = append(parts, sanitize(s))
			continue
		}
		var o struct{ Field, Code, Message string }
		if json.Unmarshal(raw, &o) == nil {
			what := o.Message
			if what == "" {
				what = o.Code
			}
			parts = append(parts, sanitize(strings.TrimPrefix(o.Field+": "+what, ": ")))
		}
		if len(parts) == 5 {
			break
		}
	}
	return strings.Join(parts, "; ")
}

// retryAfter prefers the 429 body's reset, then the RateLimit-*-Reset header
// of the exhausted scope, then Retry-After.
func retryAfter(h http.Header, scope string, bodyReset *float64) time.Duration {
	if bodyReset != nil && *bodyReset >= 0 {
		return time.Duration(*bodyReset * float64(time.Second))
	}
	names := []string{"RateLimit-Reset", "RateLimit-User-Reset", "Retry-After"}
	if scope == "user" {
		names[0], names[1] = names[1], names[0]
	}
	for _, n := range names {
		if v, err := strconv.Atoi(strings.TrimSpace(h.Get(n))); err == nil && v >= 0 {
			return time.Duration(v) * time.Second
		}
	}
	return 0
}

const maxMessage = 300

// sanitize makes upstream text safe to log and to show: printable, capped,
// with the token and anything credential-shaped redacted (internal/redact).
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = redact.String(s)
	s = strings.TrimSpace(s)
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
