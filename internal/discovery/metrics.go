package discovery

import (
	"context"
	"time"

	"github.com/kitegate/kitegate/internal/metrics"
)

// emit writes the run's metrics line (docs/operations.md): the token's
// health as 0/1 gauges an alarm can watch (failed, degraded, expiring
// soon), its days to expiry, and what the run changed.
func (r *Runner) emit(ctx context.Context, res Result, now time.Time) {
	if r.cfg.Metrics == nil {
		return
	}
	t := res.Token
	ms := []metrics.Metric{
		{Name: metrics.TokenFailed, Unit: metrics.Count, Value: metrics.Flag(t.Status == TokenFailed)},
		{Name: metrics.TokenDegraded, Unit: metrics.Count, Value: metrics.Flag(t.Status == TokenDegraded)},
		{Name: metrics.TokenExpiringSoon, Unit: metrics.Count, Value: metrics.Flag(t.ExpiringSoon)},
		{Name: metrics.TokenMissingScopes, Unit: metrics.Count, Value: float64(len(t.MissingScopes))},
		{Name: metrics.ToolsAdded, Unit: metrics.Count, Value: float64(len(res.Added))},
		{Name: metrics.ToolsDemoted, Unit: metrics.Count, Value: float64(len(res.Demoted))},
		{Name: metrics.ToolsUnavailable, Unit: metrics.Count, Value: float64(len(res.Unavailable))},
		{Name: metrics.ToolsRemoved, Unit: metrics.Count, Value: float64(len(res.Removed))},
	}
	if !t.ExpiresAt.IsZero() {
		// A token without an expiry publishes no days: nothing to count down.
		ms = append(ms, metrics.Metric{Name: metrics.TokenDaysToExpiry, Unit: metrics.None, Value: t.ExpiresAt.Sub(now).Hours() / 24})
	}
	if err := r.cfg.Metrics.Emit(ms, nil, "level", "INFO", "msg", "discovery: metrics",
		"token_status", t.Status, "policy_version", res.PolicyVersion); err != nil {
		r.cfg.Logger.WarnContext(ctx, "discovery: metrics line not written", "err", err)
	}
}
