// Package discovery keeps the policy in step with the tool catalog this
// build ships and with what the shared Buildkite token can do. A run
// reconciles the catalog with the policy's tools (new tools get their first
// state from the default classification, an approved tool whose definition
// changed goes back to review, a tool that left the catalog is removed,
// tools whose scopes the token lacks are unavailable) and records the
// token's health beside the policy. It is idempotent — a run that finds
// nothing new writes nothing — and safe to run concurrently: policy writes
// are conditional on the version read, and a conflict re-reads and
// re-reconciles.
package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kitegate/kitegate/internal/metrics"
	"github.com/kitegate/kitegate/internal/policy"
)

// Defaults of Config.
const (
	DefaultActor        = "kitegate-discovery"
	DefaultExpiryWindow = 14 * 24 * time.Hour
	DefaultAttempts     = 5
)

// Config configures a Runner.
type Config struct {
	// Store is the policy store discovery reconciles.
	Store policy.Store
	// Status keeps the token health and the last run beside the policy.
	Status StatusStore
	// Catalog is this build's tool catalog (Catalog).
	Catalog []policy.Tool
	// Token reads the shared token's health (a *buildkite.Client). Nil
	// leaves the token unchecked (a local start with no token to hand):
	// availability stays as it is and no token health is recorded.
	Token TokenReader
	// Classification gives new tools their first state; empty means the
	// policy's default_state.
	Classification Classification
	// ExpiryWindow flags a token that expires within it (DefaultExpiryWindow).
	ExpiryWindow time.Duration
	// Actor is recorded as who changed the tools (DefaultActor).
	Actor string
	// Attempts bounds the reconciliations a run tries when other writers
	// keep changing the policy under it (DefaultAttempts).
	Attempts int
	// Metrics receives the run's EMF line (token health); nil writes none.
	Metrics *metrics.Writer
	Logger  *slog.Logger
	Now     func() time.Time
}

// Runner runs discovery.
type Runner struct {
	cfg Config
}

// New checks cfg and returns a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Store == nil || cfg.Status == nil || len(cfg.Catalog) == 0 {
		return nil, errors.New("discovery: a policy store, a status store and a catalog are required")
	}
	if _, err := ParseClassification(string(cfg.Classification)); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if cfg.ExpiryWindow <= 0 {
		cfg.ExpiryWindow = DefaultExpiryWindow
	}
	if cfg.Actor == "" {
		cfg.Actor = DefaultActor
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Runner{cfg: cfg}, nil
}

// Result is what one run did; it is also the Lambda function's response.
type Result struct {
	Changes
	// PolicyVersion is the policy version after the run.
	PolicyVersion int64 `json:"policy_version"`
	// PolicyWritten says whether the run changed the policy; Attempts is
	// how many reconciliations it took (more than one after a conflict).
	PolicyWritten bool `json:"policy_written"`
	Attempts      int  `json:"attempts"`
	// StatusWrites counts the status items written (token health, run summary).
	StatusWrites int         `json:"status_writes"`
	Token        TokenHealth `json:"token"`
}

// Handle is the Lambda handler. The EventBridge schedule delivers its
// input as is; any JSON is accepted and ignored: every run does the same.
func (r *Runner) Handle(ctx context.Context, _ json.RawMessage) (Result, error) {
	return r.Run(ctx)
}

// Run reconciles once. A run that fails leaves the policy either as it was
// or as one complete reconciliation wrote it (each write is one
// transaction), so an EventBridge retry is harmless.
func (r *Runner) Run(ctx context.Context) (Result, error) {
	now := r.cfg.Now().UTC()
	var health TokenHealth
	known := false
	if r.cfg.Token != nil {
		health, known = checkToken(ctx, r.cfg.Token, r.cfg.Catalog, r.cfg.ExpiryWindow, now)
	}
	var scopes tokenScopes
	if known {
		scopes = newTokenScopes(health.Scopes)
	}

	res := Result{Token: health}
	for {
		res.Attempts++
		p, err := r.cfg.Store.Load(ctx)
		if err != nil {
			return res, fmt.Errorf("discovery: %w", err)
		}
		next, ch := reconcile(p, r.cfg.Catalog, r.cfg.Classification, scopes, now)
		res.Changes, res.PolicyVersion = ch, p.Version
		if ch.Empty() {
			break
		}
		stored, err := r.cfg.Store.Apply(ctx, next, r.cfg.Actor)
		if errors.Is(err, policy.ErrConflict) && res.Attempts < r.cfg.Attempts {
			// Another writer (an admin, a concurrent run) got in first:
			// reconcile again from what it wrote.
			continue
		}
		if err != nil {
			return res, fmt.Errorf("discovery: apply after %d attempt(s): %w", res.Attempts, err)
		}
		res.PolicyWritten, res.PolicyVersion = true, stored.Version
		break
	}

	if err := r.saveStatus(ctx, now, &res); err != nil {
		return res, err
	}
	r.log(ctx, res)
	r.emit(ctx, res, now)
	return res, nil
}

// saveStatus records the token health (Since kept while it says the same)
// and, when this run changed the policy, its summary. Unchanged, nothing
// is written; a run that changed nothing never overwrites the summary of
// one that did.
func (r *Runner) saveStatus(ctx context.Context, now time.Time, res *Result) error {
	cur, err := r.cfg.Status.LoadStatus(ctx)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	next := Status{Token: res.Token}
	if r.cfg.Token == nil {
		next.Token = cur.Token // not checked: keep what was recorded
	} else if cur.Token.Status != "" && cur.Token.Equal(res.Token) {
		next.Token.Since = cur.Token.Since
	} else {
		next.Token.Since = now
	}
	res.Token = next.Token
	if res.PolicyWritten {
		ch := res.Changes
		next.Discovery = DiscoveryRun{
			At: now, PolicyVersion: res.PolicyVersion, Added: ch.Added, Changed: ch.Changed, Demoted: ch.Demoted,
			Removed: ch.Removed, Unavailable: ch.Unavailable, Restored: ch.Restored, Token: res.Token.Status,
		}
	}
	res.StatusWrites, err = r.cfg.Status.SaveStatus(ctx, next)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	return nil
}

// log writes the run's one summary line.
func (r *Runner) log(ctx context.Context, res Result) {
	level := slog.LevelInfo
	if (r.cfg.Token != nil && res.Token.Status != TokenOK) || len(res.Demoted) > 0 {
		level = slog.LevelWarn
	}
	r.cfg.Logger.LogAttrs(ctx, level, "discovery: run",
		slog.Int64("policy_version", res.PolicyVersion),
		slog.Bool("policy_written", res.PolicyWritten),
		slog.Int("attempts", res.Attempts),
		slog.Int("status_writes", res.StatusWrites),
		slog.Int("added", len(res.Added)),
		slog.Int("changed", len(res.Changed)),
		slog.Int("demoted", len(res.Demoted)),
		slog.Int("removed", len(res.Removed)),
		slog.Int("unavailable", len(res.Unavailable)),
		slog.Int("restored", len(res.Restored)),
		slog.Any("tools", res.Changes),
		slog.Group("token",
			slog.String("status", res.Token.Status),
			slog.String("uuid", res.Token.UUID),
			slog.Any("scopes", res.Token.Scopes),
			slog.Any("missing_scopes", res.Token.MissingScopes),
			slog.String("expires_at", formatTime(res.Token.ExpiresAt)),
			slog.Bool("expiring_soon", res.Token.ExpiringSoon),
			slog.Any("organizations", res.Token.Organizations),
			slog.Any("problems", res.Token.Problems),
		),
	)
}
