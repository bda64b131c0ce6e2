package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/ratelimit"
	"github.com/kitegate/kitegate/internal/tools"
)

// callRecord is what running a tool did, filled in by the tool handler
// (in the request) for the guard to audit.
type callRecord struct {
	ran   bool
	err   error
	stats *buildkite.Stats
	// limited is set when a rate limit held the call back.
	limited *ratelimit.Result
}

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
			if rq != nil {
				rq.ownError.Store(true)
			}
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "missing tool call parameters"}
		}
		name := call.Params.Name
		d := h.decide(rq.snapshot, rq.subject, name)
		if !d.Allowed {
			h.record(ctx, rq, call, start, d, &callRecord{})
			rq.ownError.Store(true)
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("tool %q is not available to you: %s", shownName(name), d.Detail)}
		}
		if res, limited := h.rateLimit(ctx, rq, call, start, d); limited {
			return res, nil
		}
		res, err := next(ctx, method, req)
		rec := &rq.call
		if err != nil && rec.err == nil {
			rec.err = err
		}
		if h.cfg.RateLimiter != nil && rec.stats != nil {
			if s := rec.stats.Snapshot(); s.RateLimitRemaining >= 0 {
				h.cfg.RateLimiter.Observe(s.RateLimitRemaining, s.RateLimitReset)
			}
		}
		h.record(ctx, rq, call, start, d, rec)
		return res, err
	}
}

// rateLimit takes the allowed call's count from the rate limiter; when a
// limit is reached it audits the call as rate_limited and returns the tool
// error that tells the caller when to retry. A limiter that cannot count
// lets the call through: Buildkite still enforces its own limits.
func (h *Handler) rateLimit(ctx context.Context, rq *request, call *mcp.CallToolRequest, start time.Time, d policy.Decision) (*mcp.CallToolResult, bool) {
	if h.cfg.RateLimiter == nil {
		return nil, false
	}
	c := ratelimit.Call{Subject: rq.caller.Subject, Org: orgOf(call)}
	for i, name := range d.Profiles {
		p, _ := rq.snapshot.Profile(name)
		if p.CallsPerMinute <= 0 { // a granting profile without a limit: none applies
			c.Profile, c.ProfileLimit = "", 0
			break
		}
		if i == 0 || p.CallsPerMinute > c.ProfileLimit {
			c.Profile, c.ProfileLimit = name, p.CallsPerMinute
		}
	}
	r, err := h.cfg.RateLimiter.Take(ctx, c)
	if err != nil {
		h.logger.WarnContext(ctx, "mcp: rate limiter unavailable; call not limited", "err", err)
		return nil, false
	}
	if r.Allowed {
		return nil, false
	}
	msg := r.Message(h.cfg.Now())
	h.record(ctx, rq, call, start, d, &callRecord{limited: &r, err: errors.New(msg)})
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}, true
}

// orgOf returns the call's org_slug argument, if any.
func orgOf(call *mcp.CallToolRequest) string {
	var args struct {
		Org string `json:"org_slug"`
	}
	if len(call.Params.Arguments) == 0 || json.Unmarshal(call.Params.Arguments, &args) != nil {
		return ""
	}
	return args.Org
}

// decide is policy's decision, narrowed by what only this build knows: a
// tool missing from the catalog, or one whose definition is no longer the
// one an admin approved (definition pinning: the change waits for review,
// whether or not discovery has run since the deploy).
func (h *Handler) decide(snap *policy.Snapshot, sub policy.Subject, name string) policy.Decision {
	d := snap.Decide(sub, name)
	if !d.Allowed {
		return d
	}
	t, ok := h.cfg.Catalog.Lookup(name)
	if !ok {
		return policy.Decision{Reason: "tool_unknown", Detail: fmt.Sprintf("tool %q is not part of this kitegate build", shownName(name)), Profiles: d.Profiles}
	}
	if pt, _ := snap.Tool(name); pt.ApprovedHash != "" && pt.ApprovedHash != t.Hash() {
		return policy.Decision{Reason: "tool_definition_changed", Detail: fmt.Sprintf("tool %q changed since it was approved and awaits review", shownName(name)), Profiles: d.Profiles}
	}
	return d
}

// toolHandler runs one catalog tool with Buildkite call statistics attached.
func (h *Handler) toolHandler(t *tools.Tool) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		rq := fromContext(ctx)
		if rq != nil {
			var stop func()
			ctx, stop = rq.whileConnected(ctx)
			defer stop()
		}
		ctx, stats := buildkite.WithStats(ctx)
		res, err := t.Call(ctx, req.Params.Arguments)
		if rq != nil {
			rq.call = callRecord{ran: true, err: err, stats: stats}
		}
		if err != nil {
			h.logger.WarnContext(ctx, "mcp: tool failed", "tool", t.Name(), "err", err)
		}
		return res, nil
	}
}

func (h *Handler) record(ctx context.Context, rq *request, call *mcp.CallToolRequest, start time.Time, d policy.Decision, rec *callRecord) {
	e := audit.Event{
		ID:              audit.NewID(),
		Time:            start.UTC(),
		RequestID:       rq.id,
		CallerRequestID: rq.callerID,
		User:            audit.User{Subject: rq.caller.Subject, Email: rq.caller.Email, Groups: rq.caller.Groups},
		Client:          clientOf(call, rq.caller),
		Tool:            call.Params.Name,
		Decision:        audit.Denied,
		Reason:          d.Reason,
		Profiles:        d.Profiles,
		Outcome:         audit.OutcomeDenied,
		// Which release answered: a change in behaviour shows in the audit.
		ServerVersion: h.cfg.Version,
	}
	if rq.snapshot != nil {
		e.PolicyVersion = rq.snapshot.Version()
	}
	e.Arguments, e.ArgumentsTruncated = audit.Redact(call.Params.Arguments, h.cfg.AuditArgumentBytes)
	if d.Allowed {
		e.Decision = audit.Allowed
		e.Outcome = outcome(rec.err)
	}
	if rec.limited != nil {
		e.Outcome = audit.OutcomeRateLimited
		e.RetryAfterMS = max(rec.limited.RetryAt.Sub(h.cfg.Now()).Milliseconds(), 0)
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
	rq.audited.Store(true)
	e = e.Bounded() // for the log line below as much as for the writer
	if err := h.cfg.Audit.Write(context.WithoutCancel(ctx), e); err != nil {
		// The answer is not lost for a failed audit write: the event goes to
		// the log whole, marked for replay.
		h.logger.ErrorContext(ctx, "mcp: audit write failed", "err", err, "audit_replay", true, "event", e)
	}
	h.emit(ctx, e)
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

func clientOf(call *mcp.CallToolRequest, caller identity.Caller) audit.Client {
	c := audit.Client{ID: caller.ClientID}
	if call.Session != nil {
		if p := call.Session.InitializeParams(); p != nil {
			c.ProtocolVersion = p.ProtocolVersion
			if p.ClientInfo != nil {
				c.Name, c.Version = p.ClientInfo.Name, p.ClientInfo.Version
			}
		}
	}
	if caller.ClientName != "" {
		c.Name = truncate(caller.ClientName, 128) // the registry's name outranks the self-reported one
	}
	if c.Name == "" && call.Extra != nil && call.Extra.Header != nil {
		c.Name = truncate(call.Extra.Header.Get("User-Agent"), 128)
	}
	return c
}

// shownName is a tool name as an answer may repeat it: the caller chose
// it, so it is capped (policy names are at most 64 bytes).
func shownName(name string) string { return audit.Clip(name, audit.MaxToolBytes) }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ReasonRequestRejected is the audit reason of a tools/call refused by the
// MCP layer before the guard: malformed params, a missing id, bad headers.
const ReasonRequestRejected = "request_rejected"

// recordRejected audits a tools/call that never reached the guard. Nothing
// ran; what the caller sent is kept only as far as it can be read.
func (h *Handler) recordRejected(ctx context.Context, rq *request, body []byte, status int) {
	var msg struct {
		Params struct {
			Name      json.RawMessage `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"params"`
	}
	_ = json.Unmarshal(body, &msg) // what cannot be read stays empty
	var name string
	if json.Unmarshal(msg.Params.Name, &name) != nil {
		name = "" // not a string: no tool was named
	}
	e := audit.Event{
		ID: audit.NewID(), Time: h.cfg.Now().UTC(), RequestID: rq.id, CallerRequestID: rq.callerID,
		User:     audit.User{Subject: rq.caller.Subject, Email: rq.caller.Email, Groups: rq.caller.Groups},
		Tool:     name,
		Decision: audit.Denied, Reason: ReasonRequestRejected, Outcome: audit.OutcomeDenied,
		Error:         fmt.Sprintf("the MCP layer refused the request (HTTP %d) before any tool was chosen", status),
		ServerVersion: h.cfg.Version,
	}
	if rq.snapshot != nil {
		e.PolicyVersion = rq.snapshot.Version()
	}
	e.Arguments, e.ArgumentsTruncated = audit.Redact(msg.Params.Arguments, h.cfg.AuditArgumentBytes)
	e = e.Bounded()
	if err := h.cfg.Audit.Write(context.WithoutCancel(ctx), e); err != nil {
		h.logger.Error("mcp: audit write failed", "err", err, "audit_replay", true, "event", e)
	}
}
