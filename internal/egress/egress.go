// Package egress is the one way kitegate fetches a URL that someone else
// named: an artifact download Buildkite redirects to, a client's metadata
// document. Such a URL may point anywhere, so every request, and every
// redirect it follows, must be https, must carry no userinfo, must name an
// allowed host, and is refused at connection time, after DNS resolution,
// when the address is not a public unicast one (loopback, link-local,
// private, unique-local, CGNAT, unspecified, multicast, reserved…). Answers
// are bounded in time and size.
//
// Requests to the Buildkite API itself do not go through here: that origin
// is configured by the operator, not named by a third party.
package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"syscall"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxBytes     = 1 << 20
	DefaultTimeout      = 10 * time.Second
	DefaultMaxRedirects = 3
)

// ArtifactHosts are the hosts Buildkite's artifact downloads redirect to:
// Buildkite's own and Amazon S3's (virtual-hosted and path-style, global and
// regional). A pattern's "*" matches any run of characters (path.Match).
var ArtifactHosts = []string{
	"buildkite.com", "*.buildkite.com",
	"buildkiteartifacts.com", "*.buildkiteartifacts.com",
	"s3.amazonaws.com", "*.s3.amazonaws.com",
	"s3.*.amazonaws.com", "*.s3.*.amazonaws.com",
	"s3-*.amazonaws.com", "*.s3-*.amazonaws.com",
}

// Config says where a Client may go and how much it may bring back.
type Config struct {
	// Hosts are the host names requests may go to, as path.Match patterns
	// ("*.s3.amazonaws.com"). Matching ignores case. Required unless
	// AnyPublicHost is set.
	Hosts []string
	// AnyPublicHost lets requests go to any host name, still only over https
	// and only to public addresses: for URLs whose host cannot be known in
	// advance (a client's metadata document).
	AnyPublicHost bool
	// MaxBytes caps an answer's body; DefaultMaxBytes when zero.
	MaxBytes int64
	// Timeout bounds a whole request, redirects included; DefaultTimeout
	// when zero.
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed; DefaultMaxRedirects
	// when zero, none when negative.
	MaxRedirects int
	// UserAgent is sent on every request; "kitegate" when empty.
	UserAgent string
}

// ErrRefused is wrapped by every error that refuses a URL or an address.
var ErrRefused = errors.New("egress refused")

// ErrTooLarge is returned when an answer's body exceeds MaxBytes.
var ErrTooLarge = errors.New("answer larger than the limit")

// Client fetches URLs under a Config. It is safe for concurrent use.
type Client struct {
	hc       *http.Client
	guard    *guard
	maxBytes int64
}

// Option changes how a Client is built. Only tests use one.
type Option func(*options)

type options struct {
	loopback bool
	roots    *x509.CertPool
	hosts    map[string]netip.Addr
}

// AllowLoopbackForTesting lets a Client connect to 127.0.0.0/8 and ::1, and
// trusts roots for TLS: for a test server started with
// httptest.NewTLSServer. Every other rule still holds (https, no userinfo,
// the host list, every other internal range). Production wiring never sets
// it; TestSecurityM1LoopbackOptionOnlyInTestsAndSimulator checks that.
func AllowLoopbackForTesting(roots *x509.CertPool) Option {
	return func(o *options) { o.loopback, o.roots = true, roots }
}

// ResolveForTesting stands in for DNS and the network, for a test that
// must reach a server on loopback through a public-looking https URL: a
// host name resolves only through hosts (an IP literal to itself), the
// address it resolves to is checked by the production rules (so a name
// mapped to 127.0.0.1 or 10.0.0.1 is still refused), and a connection that
// passes goes to 127.0.0.1 at the URL's port. roots are trusted for TLS.
// Production wiring never sets it; TestSecurityM1LoopbackOptionOnlyInTestsAndSimulator
// checks that.
func ResolveForTesting(hosts map[string]netip.Addr, roots *x509.CertPool) Option {
	return func(o *options) {
		o.hosts, o.roots = make(map[string]netip.Addr, len(hosts)), roots
		for h, ip := range hosts {
			o.hosts[strings.ToLower(h)] = ip
		}
	}
}

// New makes a Client.
func New(cfg Config, opts ...Option) (*Client, error) {
	if len(cfg.Hosts) == 0 && !cfg.AnyPublicHost {
		return nil, errors.New("egress: no allowed hosts configured")
	}
	for _, h := range cfg.Hosts {
		if _, err := path.Match(h, ""); err != nil || h == "" {
			return nil, fmt.Errorf("egress: bad host pattern %q", h)
		}
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = DefaultMaxRedirects
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "kitegate"
	}
	dialer := &net.Dialer{
		Timeout: cfg.Timeout,
		// Control runs for every connection attempt with the address DNS
		// returned, so a name that resolves (or re-resolves) to an internal
		// address is refused where it matters: at connect time.
		Control: func(network, address string, _ syscall.RawConn) error {
			return checkAddress(address, o.loopback)
		},
	}
	dial := dialer.DialContext
	if o.hosts != nil {
		dial = o.testDial(cfg.Timeout)
	}
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would make the dialed address the proxy's
		DialContext:            dial,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.roots},
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           10,
		IdleConnTimeout:        30 * time.Second,
	}
	rt := &guard{base: tr, cfg: cfg}
	hc := &http.Client{
		Transport: rt,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > max(cfg.MaxRedirects, 0) {
				return fmt.Errorf("%w: more than %d redirects", ErrRefused, max(cfg.MaxRedirects, 0))
			}
			return nil
		},
	}
	return &Client{hc: hc, guard: rt, maxBytes: cfg.MaxBytes}, nil
}

// testDial is ResolveForTesting's stand-in for DNS and the network.
func (o *options) testDial(timeout time.Duration) func(ctx context.Context, network, address string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, fmt.Errorf("%w: unexpected address %q", ErrRefused, address)
		}
		ip, ok := o.hosts[strings.ToLower(host)]
		if !ok {
			if ip, err = netip.ParseAddr(host); err != nil {
				return nil, fmt.Errorf("lookup %s: no such host (test resolver)", host)
			}
		}
		if err := checkAddress(netip.AddrPortFrom(ip, 0).String(), o.loopback); err != nil {
			return nil, err
		}
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}
}

// HTTPClient returns an *http.Client that applies every rule of the Client,
// for libraries that take one. Its answers' bodies fail with ErrTooLarge
// past MaxBytes.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// Response is a fetched answer.
type Response struct {
	// Status is the HTTP status code.
	Status int
	// Header is the answer's header.
	Header http.Header
	// Body is the whole body, at most MaxBytes long.
	Body []byte
}

// Get fetches rawURL and reads its whole body. Any status is returned as a
// Response; an error means no answer (refused, unreachable, too large,
// timed out).
func (c *Client) Get(ctx context.Context, rawURL string) (*Response, error) {
	return c.GetLimited(ctx, rawURL, c.maxBytes)
}

// GetLimited is Get with a body limit of its own, at most MaxBytes.
func (c *Client) GetLimited(ctx context.Context, rawURL string, limit int64) (*Response, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, err
	}
	limit = min(limit, c.maxBytes)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: not a URL", ErrRefused)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > limit {
		return nil, ErrTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, unwrapURLError(err)
	}
	if int64(len(b)) > limit {
		return nil, ErrTooLarge
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Allowed applies the rules that need no network to rawURL: https, no
// userinfo, an allowed host. A URL that passes may still be refused when its
// host resolves to an internal address.
func (c *Client) Allowed(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: not a URL", ErrRefused)
	}
	return c.guard.check(&http.Request{URL: u})
}

// unwrapURLError drops *url.Error's wrapping, whose text repeats the whole
// URL (a presigned URL's signature included).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("request timed out: %w", context.DeadlineExceeded)
		}
		return ue.Err
	}
	return err
}

// CheckURL applies the rules that need no network: an absolute https URL
// with a host and without userinfo. The host list and the address are
// checked when the request is sent.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: not a URL", ErrRefused)
	}
	return checkURL(u)
}

func checkURL(u *url.URL) error {
	switch {
	case u.Scheme != "https":
		return fmt.Errorf("%w: only https URLs are fetched", ErrRefused)
	case u.User != nil:
		return fmt.Errorf("%w: a URL with credentials in it is not fetched", ErrRefused)
	case u.Hostname() == "":
		return fmt.Errorf("%w: the URL has no host", ErrRefused)
	}
	return nil
}

// guard checks every request the client sends, the redirects it follows
// included, and caps every answer's body.
type guard struct {
	base http.RoundTripper
	cfg  Config
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := g.check(req); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Del("Authorization")
	r.Header.Del("Cookie")
	r.Header.Set("User-Agent", g.cfg.UserAgent)
	resp, err := g.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > g.cfg.MaxBytes {
		_ = resp.Body.Close()
		return nil, ErrTooLarge
	}
	resp.Body = &capped{rc: resp.Body, left: g.cfg.MaxBytes}
	return resp, nil
}

func (g *guard) check(req *http.Request) error {
	if err := checkURL(req.URL); err != nil {
		return err
	}
	if g.cfg.AnyPublicHost {
		return nil
	}
	if host := req.URL.Hostname(); !HostAllowed(g.cfg.Hosts, host) {
		return fmt.Errorf("%w: host %q is not an allowed host", ErrRefused, clip(host, 100))
	}
	return nil
}

// HostAllowed says whether host matches one of the patterns, ignoring case
// and a trailing dot.
func HostAllowed(patterns []string, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToLower(p), host); ok {
			return true
		}
	}
	return false
}

// capped fails a read past the limit, so no caller can be fed more than
// MaxBytes.
type capped struct {
	rc   io.ReadCloser
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		n, err := c.rc.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *capped) Close() error { return c.rc.Close() }

// checkAddress refuses a dialed "ip:port" whose IP is not public unicast.
func checkAddress(address string, loopbackOK bool) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unexpected address %q", ErrRefused, address)
	}
	ip := ap.Addr().Unmap()
	if loopbackOK && ip.IsLoopback() {
		return nil
	}
	if why := Internal(ip); why != "" {
		return fmt.Errorf("%w: %s is a %s address", ErrRefused, ip, why)
	}
	return nil
}

// blocked are the ranges no fetch may reach beyond what netip's predicates
// cover: each is internal, shared, reserved or able to embed one of those.
var blocked = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignment"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("2002::/16"), "6to4"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
}

// Internal says why ip is not a public unicast address ("loopback",
// "private", …), or "" when it is one.
func Internal(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsPrivate():
		if ip.Is6() {
			return "unique-local"
		}
		return "private"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	for _, b := range blocked {
		if b.prefix.Contains(ip) {
			return b.why
		}
	}
	return ""
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
