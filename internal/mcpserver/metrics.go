package mcpserver

import (
	"context"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/metrics"
)

// emit writes one tools/call's metrics line (docs/operations.md): counts of
// calls, denials (also by reason), rate-limited calls and the Buildkite
// statuses that matter to an operator, and the latency. The line carries
// the Lambda request id, the audit event id and the user, so it joins its
// audit item and the function's other log lines.
func (h *Handler) emit(ctx context.Context, e audit.Event) {
	if h.cfg.Metrics == nil {
		return
	}
	status := e.BuildkiteStatus
	ms := []metrics.Metric{
		{Name: metrics.Calls, Unit: metrics.Count, Value: 1},
		{Name: metrics.Denied, Unit: metrics.Count, Value: metrics.Flag(e.Decision == audit.Denied)},
		{Name: metrics.RateLimited, Unit: metrics.Count, Value: metrics.Flag(e.Outcome == audit.OutcomeRateLimited)},
		{Name: metrics.ToolErrors, Unit: metrics.Count, Value: metrics.Flag(e.Outcome == audit.OutcomeToolError || e.Outcome == audit.OutcomeBuildkiteError)},
		{Name: metrics.Buildkite401, Unit: metrics.Count, Value: metrics.Flag(status == 401)},
		{Name: metrics.Buildkite403, Unit: metrics.Count, Value: metrics.Flag(status == 403)},
		{Name: metrics.Buildkite429, Unit: metrics.Count, Value: metrics.Flag(status == 429)},
		{Name: metrics.Buildkite5xx, Unit: metrics.Count, Value: metrics.Flag(status >= 500 && status <= 599)},
		{Name: metrics.Latency, Unit: metrics.Milliseconds, Value: e.LatencyMS},
	}
	var split *metrics.Split
	if e.Decision == audit.Denied {
		split = &metrics.Split{Dimension: "Reason", Value: e.Reason, Metrics: []string{metrics.Denied}}
	}
	var lambdaID string
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		lambdaID = lc.AwsRequestID
	}
	err := h.cfg.Metrics.Emit(ms, split,
		"level", "INFO", "msg", "mcp: tool call",
		"lambda_request_id", lambdaID, "request_id", e.RequestID, "audit_event_id", e.ID,
		"user", e.User.Subject, "tool", e.Tool, "decision", e.Decision, "reason", e.Reason,
		"outcome", e.Outcome, "buildkite_status", status, "version", e.ServerVersion)
	if err != nil {
		h.logger.WarnContext(ctx, "mcp: metrics line not written", "err", err, "audit_event_id", e.ID)
	}
}
