package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/tools"
)

// callRecord is filled in by the tool handler for the guard to audit.
type callRecord struct {
	ran   bool
	err   error
	stats *buildkite.Stats
}

type callRecordKey struct{}

// guard decides every tools/call against the request's policy snapshot —
// the server was chosen by the same snapshot, so this is the re-check — and
// writes the call's one audit event, whatever happens to it.
func (h *Handler) guard(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		call, ok := req.(*mcp.CallToolRequest)
		if method != "tools/call" || !ok {
			return next(ctx, method, req)
		}
		start := h.cfg.Now()
		rq := fromContext(ctx)
		if rq == nil || call.Params == nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "missing tool call parameters"}
		}
		name := call.Params.Name
		var d policy.Decision
		d = rq.snapshot.Decide(rq.subject, name)
		if _, inCatalog := h.cfg.Catalog.Lookup(name); d.Allowed && !inCatalog {
			d = policy.Decision{Reason: "tool_unknown", Detail: fmt.Sprintf("tool %q is not part of this kitegate build", name)}
		}
		if !d.Allowed {
			h.record(ctx, rq, call, start, d, &callRecord{})
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("tool %q is not available to you: %s", name, d.Detail)}
		}
		rec := &callRecord{}
		res, err := next(context.WithValue(ctx, callRecordKey{}, rec), method, req)
		if err != nil && rec.err == nil {
			rec.err = err
		}
		h.record(ctx, rq, call, start, d, rec)
		return res, err
	}
}

// toolHandler runs one catalog tool with Buildkite call statistics attached.
func (h *Handler) toolHandler(t *tools.Tool) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ctx, stats := buildkite.WithStats(ctx)
		res, err := t.Call(ctx, req.Params.Arguments)
		if rec, ok := ctx.Value(callRecordKey{}).(*callRecord); ok {
			rec.ran, rec.err, rec.stats = true, err, stats
		}
		if err != nil {
			h.logger.Warn("mcp: tool failed", "tool", t.Name(), "err", err)
		}
		return res, nil
	}
}

func (h *Handler) record(ctx context.Context, rq *request, call *mcp.CallToolRequest, start time.Time, d policy.Decision, rec *callRecord) {
	e := audit.Event{
		ID:        audit.NewID(),
		Time:      start.UTC(),
		RequestID: rq.id,
		User:      audit.User{Subject: rq.caller.Subject, Email: rq.caller.Email, Groups: rq.caller.Groups},
		Client:    clientOf(call),
		Tool:      call.Params.Name,
		Decision:  audit.Denied,
		Reason:    d.Reason,
		Profiles:  d.Profiles,
		Outcome:   audit.OutcomeDenied,
	}
	if rq.snapshot != nil {
		e.PolicyVersion = rq.snapshot.Version()
	}
	e.Arguments, e.ArgumentsTruncated = audit.Redact(call.Params.Arguments, h.cfg.AuditArgumentBytes)
	if d.Allowed {
		e.Decision = audit.Allowed
		e.Outcome = outcome(rec.err)
	}
	if rec.err != nil {
		e.Error = rec.err.Error()
		var bke *buildkite.Error
		if errors.As(rec.err, &bke) {
			e.BuildkiteStatus = bke.Status
		}
	}
	if rec.stats != nil {
		s := rec.stats.Snapshot()
		e.BuildkiteCalls = s.Calls
		if e.BuildkiteStatus == 0 {
			e.BuildkiteStatus = s.LastStatus
		}
		if s.RateLimitRemaining >= 0 {
			e.RateLimitRemaining = &s.RateLimitRemaining
		}
	}
	e.LatencyMS = float64(h.cfg.Now().Sub(start).Microseconds()) / 1000
	if err := h.cfg.Audit.Write(context.WithoutCancel(ctx), e); err != nil {
		// The answer is not lost for a failed audit write: the event goes to
		// the log whole, marked for replay.
		h.logger.Error("mcp: audit write failed", "err", err, "audit_replay", true, "event", e)
	}
}

func outcome(err error) string {
	if err == nil {
		return audit.OutcomeOK
	}
	var ae *tools.ArgumentError
	if errors.As(err, &ae) {
		return audit.OutcomeInvalidArguments
	}
	var bke *buildkite.Error
	if errors.As(err, &bke) {
		return audit.OutcomeBuildkiteError
	}
	return audit.OutcomeToolError
}

func clientOf(call *mcp.CallToolRequest) audit.Client {
	var c audit.Client
	if call.Session != nil {
		if p := call.Session.InitializeParams(); p != nil {
			c.ProtocolVersion = p.ProtocolVersion
			if p.ClientInfo != nil {
				c.Name, c.Version = p.ClientInfo.Name, p.ClientInfo.Version
			}
		}
	}
	if c.Name == "" && call.Extra != nil && call.Extra.Header != nil {
		c.Name = truncate(call.Extra.Header.Get("User-Agent"), 128)
	}
	return c
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
