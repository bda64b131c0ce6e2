package buildkite

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxErrorBody caps how much of an error answer is read.
const maxErrorBody = 64 << 10

// transport authenticates every request with the shared token, refreshes it
// once after a 401, and records what it saw in the request's Stats.
type transport struct {
	base   http.RoundTripper
	tokens TokenSource
	origin string // scheme://host the token may be sent to
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Belt and braces with CheckRedirect: the token goes to the API origin only.
	if req.URL.Scheme+"://"+req.URL.Host != t.origin {
		closeBody(req)
		return nil, &Error{Kind: InvalidArgument, Message: "refusing to send the Buildkite token to another host"}
	}
	ctx := req.Context()
	token, err := t.tokens.Token(ctx)
	if err != nil {
		closeBody(req)
		return nil, &Error{Kind: Unauthorized, Message: "the Buildkite token could not be read", err: err}
	}
	resp, err := t.send(req, req.Body, token)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		if body, ok := replayBody(req); ok {
			fresh, rerr := t.tokens.Refresh(ctx, token)
			// A refresh that fails or yields the same token cannot help:
			// the 401 stands. Buildkite's word is what the caller gets.
			if rerr == nil && fresh != "" && fresh != token {
				drain(resp)
				if resp, err = t.send(req, body, fresh); err != nil {
					return nil, err
				}
			} else if body != nil {
				_ = body.Close()
			}
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		// go-buildkite's Client.Do retries a GET answered 429 with
		// exponential backoff for up to 15 minutes, far beyond API Gateway's
		// 30 s, while spending the shared budget. Failing the round trip is
		// the only way to stop that from outside, so, against the usual
		// RoundTripper contract, a 429 is returned as an error here.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		drain(resp)
		return nil, fromResponse(resp, body)
	}
	return resp, nil
}

func (t *transport) send(req *http.Request, body io.ReadCloser, token string) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := t.base.RoundTrip(r)
	if s := statsFrom(req.Context()); s != nil {
		s.record(resp)
	}
	return resp, err
}

// replayBody returns a fresh copy of the request body, and whether the
// request can be sent again at all.
func replayBody(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	return b, true
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
}

// Stats is what the Buildkite calls made with one context did, for the audit.
// The transport updates it under a lock, so calls may run concurrently; read
// the fields once those calls have returned, or take a Snapshot at any time.
type Stats struct {
	mu sync.Mutex

	// Calls counts HTTP requests sent (a retry after a refreshed token is a
	// second call).
	Calls int
	// LastStatus is the HTTP status of the latest answer, 0 if none.
	LastStatus int
	// RateLimitRemaining is the lowest of the organization and user
	// remaining counts seen, -1 if no answer carried one.
	RateLimitRemaining int
	// RateLimitReset is the reset time that goes with RateLimitRemaining.
	RateLimitReset time.Duration
}

// StatsSnapshot is a copy of a Stats' fields at one moment.
type StatsSnapshot struct {
	Calls              int
	LastStatus         int
	RateLimitRemaining int
	RateLimitReset     time.Duration
}

// Snapshot copies the fields under the lock.
func (s *Stats) Snapshot() StatsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return StatsSnapshot{Calls: s.Calls, LastStatus: s.LastStatus, RateLimitRemaining: s.RateLimitRemaining, RateLimitReset: s.RateLimitReset}
}

type statsKey struct{}

// WithStats returns a context whose Buildkite calls are counted in the
// returned Stats.
func WithStats(ctx context.Context) (context.Context, *Stats) {
	s := &Stats{RateLimitRemaining: -1}
	return context.WithValue(ctx, statsKey{}, s), s
}

func statsFrom(ctx context.Context) *Stats {
	s, _ := ctx.Value(statsKey{}).(*Stats)
	return s
}

func (s *Stats) record(resp *http.Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Calls++
	if resp == nil {
		return
	}
	s.LastStatus = resp.StatusCode
	for _, prefix := range []string{"RateLimit", "RateLimit-User"} {
		remaining, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get(prefix + "-Remaining")))
		if err != nil || remaining < 0 {
			continue
		}
		if s.RateLimitRemaining < 0 || remaining <= s.RateLimitRemaining {
			s.RateLimitRemaining = remaining
			reset, _ := strconv.Atoi(strings.TrimSpace(resp.Header.Get(prefix + "-Reset")))
			s.RateLimitReset = time.Duration(max(reset, 0)) * time.Second
		}
	}
}

// errTooLarge stops reading an answer larger than kitegate will hold.
var errTooLarge = errors.New("answer too large")
