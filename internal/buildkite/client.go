// Package buildkite is kitegate's thin wrapper over go-buildkite v4: it sends
// the shared API token (refreshing it once after a 401), checks and escapes
// every path segment, bounds every request in time, maps every failure into
// one *Error with a caller-safe message, and counts calls and rate-limit
// headroom for the audit.
package buildkite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gobuildkite "github.com/buildkite/go-buildkite/v4"

	"github.com/kitegate/kitegate/internal/egress"
)

// TokenSource supplies the shared Buildkite API token. Refresh is called
// after a 401 with the token that failed and returns a fresh one.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
	Refresh(ctx context.Context, stale string) (string, error)
}

// DefaultBaseURL is Buildkite's REST API.
const DefaultBaseURL = gobuildkite.DefaultBaseURL

// DefaultTimeout bounds each HTTP request (including one retry after a
// refreshed token) when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Config configures a Client.
type Config struct {
	// BaseURL is the API root, DefaultBaseURL when empty.
	BaseURL string
	// Tokens supplies the token; required.
	Tokens TokenSource
	// Timeout bounds each HTTP request; DefaultTimeout when zero.
	Timeout time.Duration
	// UserAgent is sent on every request; "kitegate" when empty.
	UserAgent string
	// Transport sends the requests; http.DefaultTransport when nil.
	Transport http.RoundTripper
	// Downloads fetches the presigned URLs artifact downloads redirect to.
	// Nil: an egress client limited to egress.ArtifactHosts.
	Downloads *egress.Client
}

// Client calls the Buildkite REST API. It is safe for concurrent use.
type Client struct {
	bk        *gobuildkite.Client
	hc        *http.Client // for answers read as a stream (job logs)
	downloads *egress.Client
	timeout   time.Duration
}

// These are go-buildkite's types, named here so that callers need not import
// go-buildkite themselves.
type (
	User         = gobuildkite.User
	Organization = gobuildkite.Organization
	AccessToken  = gobuildkite.AccessToken
	Pipeline     = gobuildkite.Pipeline
	Step         = gobuildkite.Step
	Build        = gobuildkite.Build
	Job          = gobuildkite.Job
	Agent        = gobuildkite.Agent
	Timestamp    = gobuildkite.Timestamp
	// NewBuild is what CreateBuild sends.
	NewBuild = gobuildkite.CreateBuild
)

// New makes a Client. It does not call Buildkite.
func New(cfg Config) (*Client, error) {
	if cfg.Tokens == nil {
		return nil, errors.New("buildkite client: a token source is required")
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("buildkite client: base URL %q must be an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "kitegate"
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.Downloads == nil {
		if cfg.Downloads, err = egress.New(egress.Config{Hosts: egress.ArtifactHosts, Timeout: cfg.Timeout, UserAgent: cfg.UserAgent}); err != nil {
			return nil, fmt.Errorf("buildkite client: %w", err)
		}
	}
	hc := &http.Client{
		Transport: &transport{base: cfg.Transport, tokens: cfg.Tokens, origin: u.Scheme + "://" + u.Host},
		Timeout:   cfg.Timeout,
		// Never follow a redirect: artifact downloads redirect to presigned
		// URLs on other hosts, which must not see the token. A 3xx is
		// returned as is for the caller to read its Location.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	bk, err := gobuildkite.NewClient(
		gobuildkite.WithHTTPClient(hc),
		gobuildkite.WithBaseURL(base),
		gobuildkite.WithUserAgent(cfg.UserAgent),
	)
	if err != nil {
		return nil, fmt.Errorf("buildkite client: %w", err)
	}
	return &Client{bk: bk, hc: hc, downloads: cfg.Downloads, timeout: cfg.Timeout}, nil
}

// Pagination is what a page-paginated list's Link header says.
type Pagination struct {
	// NextPage is the page after this one, 0 on the last page.
	NextPage int `json:"next_page,omitempty"`
	// LastPage is the number of the last page, 0 when not given.
	LastPage int `json:"last_page,omitempty"`
}

func pagination(resp *gobuildkite.Response) Pagination {
	if resp == nil {
		return Pagination{}
	}
	return Pagination{NextPage: resp.NextPage, LastPage: resp.LastPage}
}

// ListOptions pages through a list. Zero values take Buildkite's defaults
// (page 1, 30 per page).
type ListOptions struct {
	Page    int
	PerPage int
}

func (o ListOptions) check() (gobuildkite.ListOptions, error) {
	if o.Page < 0 {
		return gobuildkite.ListOptions{}, invalid("page must be 1 or more")
	}
	if o.PerPage < 0 || o.PerPage > 100 {
		return gobuildkite.ListOptions{}, invalid("per_page must be between 1 and 100")
	}
	return gobuildkite.ListOptions{Page: o.Page, PerPage: o.PerPage}, nil
}

// get sends a request go-buildkite has no method for and decodes the JSON
// answer into v.
func (c *Client) get(ctx context.Context, u string, v any) (*gobuildkite.Response, error) {
	req, err := c.bk.NewRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	return c.bk.Do(req, v)
}
