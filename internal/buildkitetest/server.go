// Package buildkitetest is an in-process simulator of the Buildkite REST API.
//
// It serves the endpoints kitegate's tools call, with Buildkite's paths,
// response shapes, error bodies, page and cursor pagination, rate-limit
// headers and 429s, token scopes and the access-token endpoints. Tests start
// one with New and point a go-buildkite client (or kitegate's wrapper) at
// Server.URL; `make run` mounts NewHandler(...).Handler() on its own listener
// so the server can be tried without a Buildkite account. The seeded data
// (see Seed) looks like a real organization's CI history.
//
// Everything is deterministic: IDs are derived from names, timestamps are
// fixed, and time-dependent behaviour (rate-limit windows, token expiry,
// presigned-URL expiry, timestamps of created builds) uses the injected clock.
//
// Beware when testing 429s through go-buildkite v4: its Client.Do retries a
// GET that answers 429 with exponential backoff for up to 15 minutes. Assert
// 429s with a plain http.Client, a non-GET call, or a clock that moves on.
package buildkitetest

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kitegate/kitegate/internal/egress"
)

// DefaultToken is the API token every simulator accepts unless revoked.
const DefaultToken = "bkua_simulated_token_0000000000000000000"

// DefaultScopes are the scopes of DefaultToken: every scope a tool in
// kitegate's catalog needs.
var DefaultScopes = []string{
	"read_user",
	"read_organizations",
	"read_agents",
	"read_clusters",
	"write_clusters",
	"read_pipelines",
	"write_pipelines",
	"read_builds",
	"write_builds",
	"read_build_logs",
	"read_job_env",
	"read_artifacts",
	"read_suites",
}

// Buildkite's documented default limits, per minute.
const (
	DefaultOrgRateLimit  = 200
	DefaultUserRateLimit = 50
)

// Error messages Buildkite answers with, verbatim.
const (
	msgUnauthenticated = "Authentication required. Please supply a valid API Access Token: https://buildkite.com/docs/apis/rest-api#authentication"
	msgNoOrganization  = "No organization found"
	msgNotFound        = "Not Found"
)

// Request is one request the simulator received.
type Request struct {
	Method   string
	Host     string
	Path     string
	RawQuery string
	Header   http.Header
	// ArtifactStore is true for requests to the presigned artifact URLs,
	// which are not part of the API and need no token.
	ArtifactStore bool
}

// Option configures a Server.
type Option func(*config)

type config struct {
	tokens    []*token
	orgLimit  int
	userLimit int
	clock     func() time.Time
	data      *Data
	storeURL  string
}

// WithToken adds a valid API token with the given scopes, next to DefaultToken.
func WithToken(token string, scopes ...string) Option {
	return func(c *config) { c.tokens = append(c.tokens, newToken(token, nil, scopes)) }
}

// WithExpiringToken adds a valid API token that stops working at expiresAt
// (by the server's clock) and reports it as its expires_at.
func WithExpiringToken(token string, expiresAt time.Time, scopes ...string) Option {
	return func(c *config) { c.tokens = append(c.tokens, newToken(token, &expiresAt, scopes)) }
}

// WithOrgRateLimit sets the per-organization requests per minute (default 200).
func WithOrgRateLimit(n int) Option { return func(c *config) { c.orgLimit = n } }

// WithUserRateLimit sets the per-user requests per minute (default 50).
func WithUserRateLimit(n int) Option { return func(c *config) { c.userLimit = n } }

// WithClock replaces time.Now for rate-limit windows, token and URL expiry,
// and the timestamps of builds created through the API.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithStoreURL makes presigned artifact URLs start with base (ending in
// StorePrefix) instead of pointing at the request's host: for a server made
// by NewHandler whose artifact store is served elsewhere (over TLS).
func WithStoreURL(base string) Option { return func(c *config) { c.storeURL = base } }

// WithData serves d instead of Seed(). The server owns d from then on and
// mutates it (created and canceled builds, ...).
func WithData(d *Data) Option { return func(c *config) { c.data = d } }

// Server is a simulated Buildkite REST API.
type Server struct {
	// URL is the API base URL with a trailing slash, e.g.
	// "http://127.0.0.1:41234/", ready for buildkite.WithBaseURL. It is empty
	// for a server made by NewHandler.
	URL string

	api      *httptest.Server
	store    *httptest.Server
	storeURL string // base of presigned artifact URLs; empty: derive from the request host

	clock     func() time.Time
	orgLimit  int
	userLimit int
	secret    []byte

	mu        sync.Mutex
	data      *Data
	tokens    map[string]*token
	windows   map[string]*window
	requests  []Request
	failCode  int
	failCount int
	latency   time.Duration
}

type token struct {
	value       string
	uuid        string
	scopes      []string
	description string
	createdAt   time.Time
	expiresAt   *time.Time
	revoked     bool
}

func newToken(value string, expiresAt *time.Time, scopes []string) *token {
	return &token{
		value:       value,
		uuid:        uuidFor("access-token", value),
		scopes:      slices.Clone(scopes),
		description: "kitegate (simulated)",
		createdAt:   seedEpoch.Add(-90 * 24 * time.Hour),
		expiresAt:   expiresAt,
	}
}

type window struct {
	start time.Time
	count int
}

// New starts a simulator listening on 127.0.0.1, seeded with Seed() unless
// WithData is given. A second 127.0.0.1 listener plays the artifact store that
// artifact downloads redirect to, over https as S3 does, so a client that
// follows the redirect leaves the API origin; Downloads returns a client
// that trusts it. Close it when done.
func New(opts ...Option) *Server {
	s := newServer(opts)
	s.store = httptest.NewTLSServer(http.HandlerFunc(s.serveStore))
	s.storeURL = s.store.URL + StorePrefix
	s.api = httptest.NewServer(s.Handler())
	s.URL = s.api.URL + "/"
	return s
}

// NewHandler makes a simulator that does not listen: mount Handler() at the
// root of a listener of your own. Presigned artifact URLs then point at
// /_artifact-store/ on the host the request came to.
func NewHandler(opts ...Option) *Server {
	return newServer(opts)
}

func newServer(opts []Option) *Server {
	c := &config{orgLimit: DefaultOrgRateLimit, userLimit: DefaultUserRateLimit, clock: time.Now}
	for _, o := range opts {
		o(c)
	}
	if c.data == nil {
		c.data = Seed()
	}
	s := &Server{
		clock:     c.clock,
		orgLimit:  c.orgLimit,
		userLimit: c.userLimit,
		secret:    []byte("buildkitetest-presign-secret"),
		data:      c.data,
		tokens:    map[string]*token{},
		windows:   map[string]*window{},
		storeURL:  c.storeURL,
	}
	s.tokens[DefaultToken] = newToken(DefaultToken, nil, DefaultScopes)
	for _, t := range c.tokens {
		s.tokens[t.value] = t
	}
	return s
}

// Downloads returns an egress client for the artifact store of a server
// made by New: https to 127.0.0.1 only, trusting the store's certificate.
func (s *Server) Downloads() *egress.Client {
	return StoreClient(s.store.Certificate())
}

// StoreClient returns an egress client that fetches from a simulated
// artifact store on 127.0.0.1 whose TLS certificate is cert. It is the only
// place outside tests that lets an egress client reach loopback, and it
// exists for the simulator alone.
func StoreClient(cert *x509.Certificate) *egress.Client {
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	// New fails only on an empty or malformed host list; this one is constant.
	c, _ := egress.New(egress.Config{Hosts: []string{"127.0.0.1"}}, egress.AllowLoopbackForTesting(pool))
	return c
}

// Handler returns the simulator as an http.Handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Close stops the listeners of a server made by New. It is a no-op for one
// made by NewHandler.
func (s *Server) Close() {
	if s.api != nil {
		s.api.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
}

// Requests returns a copy of every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// AddToken makes token valid with the given scopes (replacing it if known).
func (s *Server) AddToken(token string, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = newToken(token, nil, scopes)
}

// RevokeToken makes token invalid, as DELETE /v2/access-token does.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[token]; ok {
		t.revoked = true
	}
}

// FailNext makes the next n API requests answer status with a JSON error
// body, before authentication, as an overloaded or failing Buildkite would.
func (s *Server) FailNext(status int, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode, s.failCount = status, n
}

// SetLatency delays every response by d (or until the request is canceled).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Data returns the data the server serves. Hold no reference across
// requests: the server mutates it under its own lock.
func (s *Server) Data() *Data {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if strings.HasPrefix(r.URL.Path, StorePrefix) {
		s.serveStore(w, r)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(r, false)

	if s.failCount > 0 {
		s.failCount--
		writeJSON(w, s.failCode, map[string]string{"message": http.StatusText(s.failCode)})
		return
	}

	tok := s.authenticate(r)
	if tok == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": msgUnauthenticated})
		return
	}

	rt, params := match(r.Method, r.URL.Path)
	if !s.allow(w, params["org"]) {
		return
	}
	if rt == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": msgNotFound})
		return
	}
	if rt.scope != "" && !slices.Contains(tok.scopes, rt.scope) {
		writeJSON(w, http.StatusForbidden, map[string]string{
			"message": "Your access token does not have the required scopes for this endpoint. Required scope: " + rt.scope,
		})
		return
	}
	base := s.URL
	if base == "" {
		base = "http://" + r.Host + "/"
	}
	rt.handle(s, &call{w: w, r: r, params: params, tok: tok, rend: renderer{base: base}})
}

func (s *Server) record(r *http.Request, store bool) {
	s.requests = append(s.requests, Request{
		Method:        r.Method,
		Host:          r.Host,
		Path:          r.URL.Path,
		RawQuery:      r.URL.RawQuery,
		Header:        r.Header.Clone(),
		ArtifactStore: store,
	})
}

// authenticate returns the token of a valid "Authorization: Bearer" header.
func (s *Server) authenticate(r *http.Request) *token {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil
	}
	t := s.tokens[strings.TrimSpace(v)]
	if t == nil || t.revoked || (t.expiresAt != nil && !s.clock().Before(*t.expiresAt)) {
		return nil
	}
	return t
}

// allow counts the request against the organization's and the user's
// per-minute windows, sets the rate-limit headers and answers 429 when either
// is exhausted. Requests outside an organization (/v2/user,
// /v2/access-token, ...) and those naming an unknown organization count
// against the user's first organization, so every authenticated response
// carries both sets of headers.
func (s *Server) allow(w http.ResponseWriter, orgSlug string) bool {
	if s.findOrg(orgSlug) == nil && len(s.data.Organizations) > 0 {
		orgSlug = s.data.Organizations[0].Slug
	}
	now := s.clock()
	start := now.Truncate(time.Minute)
	reset := int(start.Add(time.Minute).Sub(now).Seconds() + 0.999)
	count := func(key string) int {
		win := s.windows[key]
		if win == nil || !win.start.Equal(start) {
			win = &window{start: start}
			s.windows[key] = win
		}
		win.count++
		return win.count
	}
	orgCount := count("org:" + orgSlug)
	userCount := count("user:" + s.data.User.ID)
	h := w.Header()
	set := func(prefix string, limit, n int) {
		h.Set(prefix+"-Limit", itoa(limit))
		h.Set(prefix+"-Remaining", itoa(max(0, limit-n)))
		h.Set(prefix+"-Reset", itoa(reset))
	}
	set("RateLimit", s.orgLimit, orgCount)
	set("RateLimit-User", s.userLimit, userCount)

	scope, limit, current := "", 0, 0
	switch {
	case orgCount > s.orgLimit:
		scope, limit, current = "organization", s.orgLimit, orgCount
	case userCount > s.userLimit:
		scope, limit, current = "user", s.userLimit, userCount
	default:
		return true
	}
	h.Set("Retry-After", itoa(reset))
	writeJSON(w, http.StatusTooManyRequests, rateLimitedJSON{
		Message: "You have exceeded your API rate limit. Please wait " + itoa(reset) + " seconds before making more requests.",
		Scope:   scope,
		Limit:   limit,
		Current: current,
		Reset:   reset,
	})
	return false
}

type rateLimitedJSON struct {
	Message string `json:"message"`
	Scope   string `json:"scope"`
	Limit   int    `json:"limit"`
	Current int    `json:"current"`
	Reset   int    `json:"reset"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if status == http.StatusNoContent {
		return
	}
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client hung up; nothing to do
}

func sha1Sum(b []byte) []byte {
	h := sha1.Sum(b)
	return h[:]
}

func (s *Server) sign(parts ...string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(m.Sum(nil))
}
