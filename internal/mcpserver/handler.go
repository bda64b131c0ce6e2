// Package mcpserver is kitegate's MCP endpoint: Streamable HTTP, stateless,
// JSON responses, on the official MCP Go SDK. Every request is authenticated,
// and is served by an MCP server holding only the tools the caller may call
// under the current policy snapshot; every tools/call, allowed or denied, is
// audited.
package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/metrics"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/ratelimit"
	"github.com/kitegate/kitegate/internal/tools"
)

// PolicySource hands out the current policy snapshot.
type PolicySource interface {
	Snapshot(ctx context.Context) (*policy.Snapshot, error)
}

// AuditWriter keeps audit events.
type AuditWriter interface {
	Write(ctx context.Context, e audit.Event) error
}

// RateLimiter meters allowed tools/calls against per-profile limits and
// the shared Buildkite budget (internal/ratelimit).
type RateLimiter interface {
	// Take counts one call or says which limit it hits and when to retry.
	Take(ctx context.Context, c ratelimit.Call) (ratelimit.Result, error)
	// Observe takes in Buildkite's RateLimit headers seen by a call.
	Observe(remaining int, reset time.Duration)
}

// Config is what the handler needs; Catalog, Policy, Audit and Auth are
// required.
type Config struct {
	Catalog *tools.Catalog
	Policy  PolicySource
	Audit   AuditWriter
	Auth    identity.Authenticator
	// ResourceURL is this server's MCP URL, the audience of caller tokens.
	ResourceURL string
	// AuthorizationServers are advertised in the RFC 9728 metadata.
	AuthorizationServers []string
	// Scopes are advertised in the metadata (scopes_supported) and in the
	// 401 challenge (scope=), so clients ask for them, offline_access among
	// them, with no configuration of their own.
	Scopes []string
	// AllowedOrigins lists browser origins allowed to call; a request with
	// any other Origin header is refused.
	AllowedOrigins []string
	// LoopbackOrigins allows browser origins on this machine too
	// (http(s)://localhost, 127.0.0.1 or [::1], any port): a local server
	// without OIDC, whose MCP clients and inspectors run on the same
	// machine. A page elsewhere, DNS rebinding included, still sends its
	// own origin and is refused.
	LoopbackOrigins bool
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// AuditArgumentBytes caps the arguments kept per audit event (default 4 KiB).
	AuditArgumentBytes int
	// RateLimiter meters allowed calls; nil means no rate limits.
	RateLimiter RateLimiter
	// RequestID returns the platform's id of a request (serve.RequestID:
	// API Gateway's or Lambda's), "" when there is none; kitegate then makes
	// one. Headers the caller sets never become the audit's request_id.
	RequestID func(*http.Request) string
	// MaxServers caps the cached per-profile-set servers (default 256).
	MaxServers int
	// Metrics receives one EMF line per tools/call; nil writes none.
	Metrics *metrics.Writer
	Version string
	Logger  *slog.Logger
	Now     func() time.Time
}

// Handler serves /mcp, /healthz and the protected-resource metadata.
type Handler struct {
	cfg    Config
	logger *slog.Logger
	// sdkLogger drops the SDK's per-request info lines (a stateless server
	// connects and disconnects a session on every request).
	sdkLogger *slog.Logger
	mux       *http.ServeMux
	sdk       *mcp.StreamableHTTPHandler
	offers    *offerCache
}

// New builds the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Catalog == nil || cfg.Policy == nil || cfg.Audit == nil || cfg.Auth == nil {
		return nil, errors.New("mcpserver: catalog, policy, audit and auth are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.AuditArgumentBytes <= 0 {
		cfg.AuditArgumentBytes = 4 << 10
	}
	if cfg.MaxServers <= 0 {
		cfg.MaxServers = 256
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	h := &Handler{cfg: cfg, logger: cfg.Logger, mux: http.NewServeMux()}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	h.sdkLogger = slog.New(minLevel{h.logger.Handler(), slog.LevelWarn})
	h.offers = newOfferCache(cfg.MaxServers, h.buildOffer)
	h.sdk = mcp.NewStreamableHTTPHandler(h.serverFor, &mcp.StreamableHTTPOptions{
		Stateless:    true,
		JSONResponse: true,
		Logger:       h.sdkLogger,
		// The body is already capped and buffered by serveMCP.
		MaxRequestBodyBytes: cfg.MaxBodyBytes,
	})
	metadataURL := identity.MetadataURL(cfg.ResourceURL)
	meta := identity.ProtectedResourceMetadata(cfg.ResourceURL, cfg.AuthorizationServers, cfg.Scopes)
	// GET and the CORS preflight (OPTIONS), which browser-based clients
	// send before reading the metadata; the SDK's handler answers both.
	for _, m := range []string{"GET", "OPTIONS"} {
		h.mux.Handle(m+" /.well-known/oauth-protected-resource", meta)
		h.mux.Handle(m+" /.well-known/oauth-protected-resource/mcp", meta)
	}
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.Handle("/mcp", identity.Middleware(cfg.Auth, metadataURL, cfg.Scopes, h.logger, http.HandlerFunc(h.serveMCP)))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/mcp" {
		// Refused before authentication: these say nothing about anyone.
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			httpError(w, http.StatusMethodNotAllowed, "method not allowed: use POST")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !h.originAllowed(origin) {
			httpError(w, http.StatusForbidden, "origin not allowed")
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) originAllowed(origin string) bool {
	if slices.Contains(h.cfg.AllowedOrigins, origin) {
		return true
	}
	if !h.cfg.LoopbackOrigins {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	status, code := "ok", http.StatusOK
	if _, err := h.cfg.Policy.Snapshot(r.Context()); err != nil {
		status, code = "policy unavailable", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": status, "version": h.cfg.Version})
}

// request is everything kitegate keeps about one HTTP request, in one
// place, and the one value it puts in the request's context (beside the
// caller, which identity's middleware put there): who calls, the policy
// snapshot it is decided by, the caller's offer under it (the decisions
// and the MCP server) and, for a tools/call, the call (toolCall).
type request struct {
	caller   identity.Caller
	subject  policy.Subject
	snapshot *policy.Snapshot // nil when no policy could be loaded
	offer    *offer
	id       string // the platform's, or kitegate's own
	callerID string // X-Request-Id as the caller sent it, capped
	call     toolCall
	protocol string // the MCP-Protocol-Version header
	// carrier is the context of the HTTP request carrying the call: done
	// when its client goes away or its deadline passes.
	carrier context.Context
	// audited is set once the guard wrote this request's audit event.
	audited atomic.Bool
	// ownError is set when kitegate, not the SDK, wrote the request's
	// JSON-RPC error (answer.go keeps its message).
	ownError atomic.Bool
}

type requestKey struct{}

// whileConnected returns ctx, cancelled too when the HTTP request carrying
// the call ends. The SDK runs a handler on its session's context, which a
// stateless server closes only once the handler has returned: without this
// a tool would go on calling Buildkite for a client that has left.
func (r *request) whileConnected(ctx context.Context) (context.Context, func()) {
	if r.carrier == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(r.carrier, func() { cancel(context.Cause(r.carrier)) })
	return ctx, func() { stop(); cancel(nil) }
}

func fromContext(ctx context.Context) *request {
	r, _ := ctx.Value(requestKey{}).(*request)
	return r
}

// serveMCP checks what the SDK would accept too loosely (size, batches,
// malformed JSON), picks the caller's server, and hands over to the SDK.
func (h *Handler) serveMCP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.rejectedUnread(r, nil, http.StatusRequestEntityTooLarge)
			rpcError(w, http.StatusRequestEntityTooLarge, jsonrpc.CodeInvalidRequest, fmt.Sprintf("request body exceeds %d bytes", h.cfg.MaxBodyBytes))
			return
		}
		rpcError(w, http.StatusBadRequest, jsonrpc.CodeParseError, "could not read the request body")
		return
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		rpcError(w, http.StatusBadRequest, jsonrpc.CodeInvalidRequest, "empty request body")
		return
	case trimmed[0] == '[':
		h.rejectedUnread(r, trimmed, http.StatusBadRequest)
		rpcError(w, http.StatusBadRequest, jsonrpc.CodeInvalidRequest, "JSON-RPC batches are not supported: send one message per request")
		return
	case !json.Valid(trimmed):
		h.rejectedUnread(r, nil, http.StatusBadRequest)
		rpcError(w, http.StatusBadRequest, jsonrpc.CodeParseError, "malformed JSON")
		return
	}
	msg, ok := readMessage(trimmed)
	if !ok {
		rpcError(w, http.StatusBadRequest, jsonrpc.CodeInvalidRequest, "a JSON-RPC message must be a JSON object")
		return
	}
	if msg.refusal == nil && msg.method != "" && msg.id != nil && !knownMethods[msg.method] {
		// The SDK refuses unknown methods with a bare 400; a JSON-RPC
		// client is owed a JSON-RPC answer with its id.
		status := http.StatusOK
		if r.Header.Get("Mcp-Protocol-Version") >= newestProtocol {
			status = http.StatusNotFound // SEP-2575
		}
		writeRPC(w, status, msg.id, jsonrpc.CodeMethodNotFound, fmt.Sprintf("method %q is not supported", truncate(msg.method, 64)))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	req := h.newRequest(r)
	if f := msg.refusal; f != nil {
		// Refused before the SDK reads it: an id it would misread, a
		// missing id, a wrong version tag, JSON nested too deeply.
		if msg.method == "tools/call" {
			h.recordRejected(r.Context(), req, trimmed, f.status)
		}
		rpcError(w, f.status, f.code, f.msg)
		return
	}
	req.offer = h.offers.get(req.snapshot, req.snapshot.Profiles(req.subject))
	a := newAnswer(w, req, msg)
	h.sdk.ServeHTTP(a, r.WithContext(context.WithValue(r.Context(), requestKey{}, req)))
	a.finish()
	// A tools/call the SDK refuses before kitegate's guard sees it (params
	// not an object, a name that is not a string, a bad header…) ran
	// nothing, but it was received: it is audited all the same.
	if msg.method == "tools/call" && !req.audited.Load() {
		h.recordRejected(r.Context(), req, trimmed, a.code)
	}
}

// newRequest is a request's state as far as the HTTP request says it: the
// caller, the ids, the policy snapshot.
func (h *Handler) newRequest(r *http.Request) *request {
	caller, _ := identity.FromContext(r.Context())
	req := &request{
		caller:   caller,
		subject:  policy.Subject{ID: caller.Subject, Email: caller.Email, Groups: caller.Groups, ClientID: caller.ClientID},
		id:       h.requestID(r),
		callerID: audit.Clip(r.Header.Get("X-Request-Id"), maxCallerRequestID),
		protocol: r.Header.Get("Mcp-Protocol-Version"),
		carrier:  r.Context(),
	}
	snap, err := h.cfg.Policy.Snapshot(r.Context())
	if err != nil {
		// Fail closed: no policy, no tools; calls are denied and audited.
		h.logger.ErrorContext(r.Context(), "mcp: policy unavailable", "err", err, "request_id", req.id)
		snap = nil
	}
	req.snapshot = snap
	return req
}

// maxBatchAudits caps the events a refused batch makes: a 1 MiB batch of
// small tools/calls must not become thousands of audit writes.
const maxBatchAudits = 10

// rejectedUnread audits the tools/calls of a request refused before it
// was read as one message, which were received all the same: each
// tools/call of a batch (the first maxBatchAudits), or, for a body too large or not JSON, the call
// its Mcp-Method header names. Nothing ran.
func (h *Handler) rejectedUnread(r *http.Request, batch []byte, status int) {
	var calls [][]byte
	if batch != nil {
		var elems []json.RawMessage
		_ = json.Unmarshal(batch, &elems) // a malformed batch: none read
		for _, e := range elems {
			if msg, ok := readMessage(e); ok && msg.method == "tools/call" && len(calls) < maxBatchAudits {
				calls = append(calls, e)
			}
		}
	} else if r.Header.Get("Mcp-Method") == "tools/call" {
		calls = [][]byte{nil}
	}
	if len(calls) == 0 {
		return
	}
	req := h.newRequest(r)
	for _, c := range calls {
		h.recordRejected(r.Context(), req, c, status)
	}
}

func (h *Handler) serverFor(r *http.Request) *mcp.Server {
	if req := fromContext(r.Context()); req != nil {
		return req.offer.server
	}
	return nil
}

// maxCallerRequestID caps the request id a caller sends.
const maxCallerRequestID = 128

// requestID is the platform's id of the request, or a new one. Request-id
// headers (X-Amzn-Requestid, Apigw-Requestid, X-Request-Id) are set by the
// caller as easily as by a proxy, so none of them is trusted here.
func (h *Handler) requestID(r *http.Request) string {
	if h.cfg.RequestID != nil {
		if id := h.cfg.RequestID(r); id != "" {
			return audit.Clip(id, audit.MaxFieldBytes)
		}
	}
	return audit.NewID()
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// newestProtocol is the first protocol version whose errors map to HTTP
// statuses (SEP-2575).
const newestProtocol = "2026-07-28"

// knownMethods are the requests the SDK's server answers.
var knownMethods = map[string]bool{
	"initialize": true, "ping": true, "server/discover": true,
	"tools/list": true, "tools/call": true,
	"prompts/list": true, "prompts/get": true,
	"resources/list": true, "resources/templates/list": true, "resources/read": true,
	"resources/subscribe": true, "resources/unsubscribe": true, "subscriptions/listen": true,
	"completion/complete": true, "logging/setLevel": true,
}

// rpcError answers with a JSON-RPC error object (id null: the request could
// not be read far enough to know it).
func rpcError(w http.ResponseWriter, status int, code int64, msg string) {
	writeRPC(w, status, json.RawMessage("null"), code, msg)
}

func writeRPC(w http.ResponseWriter, status int, id json.RawMessage, code int64, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(encodeRPC(id, &rpcErr{Code: code, Message: msg}))
}

// minLevel passes on records at or above its level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.level && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(as), m.level}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{m.Handler.WithGroup(name), m.level}
}
