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

// toolCall is the request's one tools/call (batches are refused) as
// kitegate handles it, for its one audit event: the arguments read once,
// the decision made once, and what running the tool did.
type toolCall struct {
	start    time.Time
	args     tools.Arguments
	decision policy.Decision
	err      error
	stats    *buildkite.Stats
	// limited is set when a rate limit held the call back.
	limited *ratelimit.Result
}

// guard decides every tools/call and writes the call's one audit event,
// whatever happens to it. The decision was made with the caller's offer
// (servers.go): a granted tool is allowed by a lookup; anything else is
// denied, with policy's reason for it.
func (h *Handler) guard(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		call, ok := req.(*mcp.CallToolRequest)
		if method != "tools/call" || !ok {
			return next(ctx, method, req)
		}
		rq := fromContext(ctx)
		if rq == nil || call.Params == nil {
			if rq != nil {
				rq.ownError.Store(true)
			}
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "missing tool call parameters"}
		}
		c := &rq.call
		c.start = h.cfg.Now()
		c.args = tools.ReadArguments(call.Params.Arguments)
		name := call.Params.Name
		g, granted := rq.offer.grants[name]
		if !granted {
			c.decision = h.refusal(rq.snapshot, rq.subject, name)
			h.record(ctx, rq, call)
			rq.ownError.Store(true)
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("tool %q is not available to you: %s", shownName(name), c.decision.Detail)}
		}
		c.decision = g.decision
		if res, limited := h.rateLimit(ctx, rq, call, g); limited {
			return res, nil
		}
		res, err := next(ctx, method, req)
		if err != nil && c.err == nil {
			c.err = err
		}
		if h.cfg.RateLimiter != nil && c.stats != nil {
			if s := c.stats.Snapshot(); s.RateLimitRemaining >= 0 {
				h.cfg.RateLimiter.Observe(s.RateLimitRemaining, s.RateLimitReset)
			}
		}
		h.record(ctx, rq, call)
		return res, err
	}
}

// rateLimit takes the allowed call's count from the rate limiter; when a
// limit is reached it audits the call as rate_limited and returns the tool
// error that tells the caller when to retry. A limiter that cannot count
// lets the call through: Buildkite still enforces its own limits.
func (h *Handler) rateLimit(ctx context.Context, rq *request, call *mcp.CallToolRequest, g grant) (*mcp.CallToolResult, bool) {
	if h.cfg.RateLimiter == nil {
		return nil, false
	}
	r, err := h.cfg.RateLimiter.Take(ctx, ratelimit.Call{
		Subject: rq.caller.Subject, Org: rq.call.args.String("org_slug"),
		Profile: g.profile, ProfileLimit: g.limit,
	})
	if err != nil {
		h.logger.WarnContext(ctx, "mcp: rate limiter unavailable; call not limited", "err", err)
		return nil, false
	}
	if r.Allowed {
		return nil, false
	}
	msg := r.Message(h.cfg.Now())
	rq.call.limited, rq.call.err = &r, errors.New(msg)
	h.record(ctx, rq, call)
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}, true
}

// refusal is why name is not in the caller's offer: policy's decision, or,
// where policy allows the tool, what only this build knows (inBuild).
func (h *Handler) refusal(snap *policy.Snapshot, sub policy.Subject, name string) policy.Decision {
	d := snap.Decide(sub, name)
	if !d.Allowed {
		return d
	}
	if _, d := h.inBuild(snap, d, name); !d.Allowed {
		return d
	}
	// The offer and Decide read the same snapshot, so this is not reached;
	// were it, the tool was not offered, and that stands.
	return policy.Decision{Reason: policy.ReasonToolUnknown, Detail: fmt.Sprintf("tool %q is not offered to you", shownName(name)), Profiles: d.Profiles}
}

// inBuild narrows a decision that allows name by what only this build
// knows: a tool missing from the catalog, one whose definition cannot be
// built, or one whose definition is no longer the one an admin approved
// (definition pinning: the change waits for review, whether or not
// discovery has run since the deploy). It returns the tool when the
// decision stands.
func (h *Handler) inBuild(snap *policy.Snapshot, d policy.Decision, name string) (*tools.Tool, policy.Decision) {
	t, ok := h.cfg.Catalog.Lookup(name)
	if !ok {
		return nil, policy.Decision{Reason: policy.ReasonToolUnknown, Detail: fmt.Sprintf("tool %q is not part of this kitegate build", shownName(name)), Profiles: d.Profiles}
	}
	if err := t.Ready(); err != nil {
		h.logger.Error("mcp: tool definition failed; tool not offered", "tool", name, "err", err)
		return nil, policy.Decision{Reason: policy.ReasonToolUnknown, Detail: fmt.Sprintf("tool %q could not be defined in this kitegate build", shownName(name)), Profiles: d.Profiles}
	}
	if pt, _ := snap.Tool(name); pt.ApprovedHash != "" && pt.ApprovedHash != t.Hash() {
		return nil, policy.Decision{Reason: "tool_definition_changed", Detail: fmt.Sprintf("tool %q changed since it was approved and awaits review", shownName(name)), Profiles: d.Profiles}
	}
	return t, d
}

// toolHandler runs one catalog tool on the arguments the guard read, with
// Buildkite call statistics attached, and leaves what happened in the
// request's state. Only the guard's calls reach it: without the request's
// state it runs nothing.
func (h *Handler) toolHandler(t *tools.Tool) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		rq := fromContext(ctx)
		if rq == nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "tool call outside a request"}
		}
		ctx, stop := rq.whileConnected(ctx)
		defer stop()
		c := &rq.call
		ctx, c.stats = buildkite.WithStats(ctx)
		res, err := t.Call(ctx, c.args)
		c.err = err
		if err != nil {
			h.logger.WarnContext(ctx, "mcp: tool failed", "tool", t.Name(), "err", err)
		}
		return res, nil
	}
}

// record writes the request's tools/call audit event.
func (h *Handler) record(ctx context.Context, rq *request, call *mcp.CallToolRequest) {
	c, d := &rq.call, rq.call.decision
	e := audit.Event{
		ID:              audit.NewID(),
		Time:            c.start.UTC(),
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
	e.Arguments, e.ArgumentsTruncated = h.auditArguments(c.args)
	if d.Allowed {
		e.Decision = audit.Allowed
		e.Outcome = outcome(c.err)
	}
	if c.limited != nil {
		e.Outcome = audit.OutcomeRateLimited
		e.RetryAfterMS = max(c.limited.RetryAt.Sub(h.cfg.Now()).Milliseconds(), 0)
	}
	if c.err != nil {
		e.Error = c.err.Error()
		var bke *buildkite.Error
		if errors.As(c.err, &bke) {
			e.BuildkiteStatus = bke.Status
		}
	}
	if c.stats != nil {
		s := c.stats.Snapshot()
		e.BuildkiteCalls = s.Calls
		if e.BuildkiteStatus == 0 {
			e.BuildkiteStatus = s.LastStatus
		}
		if s.RateLimitRemaining >= 0 {
			e.RateLimitRemaining = &s.RateLimitRemaining
		}
	}
	e.LatencyMS = float64(h.cfg.Now().Sub(c.start).Microseconds()) / 1000
	rq.audited.Store(true)
	e = e.Bounded() // for the log line below as much as for the writer
	if err := h.cfg.Audit.Write(context.WithoutCancel(ctx), e); err != nil {
		// The answer is not lost for a failed audit write: the event goes to
		// the log whole, marked for replay.
		h.logger.ErrorContext(ctx, "mcp: audit write failed", "err", err, "audit_replay", true, "event", e)
	}
	h.emit(ctx, e)
}

// auditArguments are the call's arguments as the audit keeps them:
// redacted and capped, from the values the guard read; arguments that are
// not JSON are kept only as their size.
func (h *Handler) auditArguments(a tools.Arguments) (json.RawMessage, bool) {
	v, err := a.Value()
	if err != nil || len(a.Raw()) == 0 {
		return audit.Redact(a.Raw(), h.cfg.AuditArgumentBytes)
	}
	return audit.RedactValue(v, h.cfg.AuditArgumentBytes)
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
