// Package audit records who called which tool, what policy decided and what
// happened: the Event every tools/call produces, allowed or denied, and the
// writers that keep it.
package audit

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Decisions.
const (
	Allowed = "allowed"
	Denied  = "denied"
)

// Outcomes.
const (
	OutcomeOK               = "ok"
	OutcomeDenied           = "denied"
	OutcomeInvalidArguments = "invalid_arguments"
	OutcomeToolError        = "tool_error"
	OutcomeBuildkiteError   = "buildkite_error"
	// OutcomeRateLimited is an allowed call held back by a rate limit; the
	// caller was told when to retry (RetryAfterMS).
	OutcomeRateLimited = "rate_limited"
)

// User is the person a call is attributed to.
type User struct {
	Subject string   `json:"sub"`
	Email   string   `json:"email,omitempty"`
	Groups  []string `json:"groups,omitempty"`
}

// Client is the MCP client the person used.
type Client struct {
	Name            string `json:"name,omitempty"`
	Version         string `json:"version,omitempty"`
	ID              string `json:"id,omitempty"`
	ProtocolVersion string `json:"protocol_version,omitempty"`
}

// Event is one tools/call. ID is the idempotency key of its audit item.
// Writers store Bounded(): no field a caller chose is kept whole.
type Event struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// RequestID is the platform's id of the request (Lambda's or API
	// Gateway's), or one kitegate made; never one the caller chose.
	RequestID string `json:"request_id,omitempty"`
	// CallerRequestID is an id the caller sent (X-Request-Id), kept apart
	// from RequestID and capped: it correlates, it does not identify.
	CallerRequestID string `json:"caller_request_id,omitempty"`
	User            User   `json:"user"`
	Client          Client `json:"client"`
	Tool            string `json:"tool"`
	// Arguments are size-capped and redacted (see Redact).
	Arguments          json.RawMessage `json:"arguments,omitempty"`
	ArgumentsTruncated bool            `json:"arguments_truncated,omitempty"`
	Decision           string          `json:"decision"`
	Reason             string          `json:"reason"`
	Profiles           []string        `json:"profiles,omitempty"`
	PolicyVersion      int64           `json:"policy_version"`
	Outcome            string          `json:"outcome"`
	// Error is the detail behind a failed outcome, for admins; never a secret.
	Error              string  `json:"error,omitempty"`
	BuildkiteCalls     int     `json:"buildkite_calls"`
	BuildkiteStatus    int     `json:"buildkite_status,omitempty"`
	RateLimitRemaining *int    `json:"buildkite_rate_limit_remaining,omitempty"`
	TokenUUID          string  `json:"buildkite_token_uuid,omitempty"`
	LatencyMS          float64 `json:"latency_ms"`
	// RetryAfterMS is, for a rate-limited call, how long the caller was told to wait.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
	// ServerVersion is the kitegate release that answered (internal/version).
	ServerVersion string `json:"server_version,omitempty"`
}

// NewID returns a random 128-bit identifier in hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
