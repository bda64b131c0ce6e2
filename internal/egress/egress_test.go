package egress_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kitegate/kitegate/internal/egress"
)

// tlsServer starts an https test server on 127.0.0.1 counting its requests.
func tlsServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64, *x509.CertPool) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, &hits, pool
}

func hello(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) }

func mustNew(t *testing.T, cfg egress.Config, opts ...egress.Option) *egress.Client {
	t.Helper()
	c, err := egress.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoopbackServerReachableOnlyWithTheTestOption(t *testing.T) {
	srv, hits, pool := tlsServer(t, hello)
	cfg := egress.Config{Hosts: []string{"127.0.0.1", "localhost"}}

	// Without the option: refused when dialing, by IP and by a name that
	// resolves to loopback (the check runs after DNS).
	plain := mustNew(t, cfg)
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		if _, err := plain.Get(context.Background(), u); !errors.Is(err, egress.ErrRefused) {
			t.Errorf("Get(%s) without the test option: err = %v, want ErrRefused", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback server saw %d requests, want 0", n)
	}

	withOpt := mustNew(t, cfg, egress.AllowLoopbackForTesting(pool))
	resp, err := withOpt.Get(context.Background(), srv.URL+"/x")
	if err != nil {
		t.Fatalf("Get with the test option: %v", err)
	}
	if string(resp.Body) != "hello" || resp.Status != 200 {
		t.Errorf("got %d %q, want 200 \"hello\"", resp.Status, resp.Body)
	}
}

func TestURLRules(t *testing.T) {
	srv, hits, pool := tlsServer(t, hello)
	httpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(httpSrv.Close)
	c := mustNew(t, egress.Config{Hosts: []string{"127.0.0.1"}}, egress.AllowLoopbackForTesting(pool))
	other := mustNew(t, egress.Config{Hosts: []string{"*.s3.amazonaws.com"}}, egress.AllowLoopbackForTesting(pool))
	tests := []struct {
		name string
		c    *egress.Client
		url  string
	}{
		{"plain http", c, httpSrv.URL},
		{"userinfo", c, strings.Replace(srv.URL, "https://", "https://user:secretpw@", 1)},
		{"user only", c, strings.Replace(srv.URL, "https://", "https://user@", 1)},
		{"file scheme", c, "file:///etc/passwd"},
		{"gopher scheme", c, "gopher://127.0.0.1:70/"},
		{"relative", c, "/v2/user"},
		{"no host", c, "https:///x"},
		{"host not allowed", other, srv.URL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.c.Get(context.Background(), tt.url); !errors.Is(err, egress.ErrRefused) {
				t.Errorf("Get(%q): err = %v, want ErrRefused", tt.url, err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("servers saw %d requests, want 0", n)
	}
}

// Every redirect is checked again: scheme, userinfo, host and the address
// after DNS. The internal addresses are refused before any packet is sent
// (the dialer's Control hook runs before connect).
func TestRedirectsAreCheckedAgain(t *testing.T) {
	var target atomic.Value
	srv, _, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/final" {
			hello(w, r)
			return
		}
		http.Redirect(w, r, target.Load().(string), http.StatusFound)
	})
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	c := mustNew(t, egress.Config{AnyPublicHost: true}, egress.AllowLoopbackForTesting(pool))
	for _, to := range []string{
		"http://127.0.0.1" + port + "/final",
		"https://user:pw@127.0.0.1" + port + "/final",
		"https://169.254.169.254" + port + "/latest/meta-data/",
		"https://10.0.0.1" + port + "/",
		"https://172.16.0.1" + port + "/",
		"https://192.168.0.1" + port + "/",
		"https://100.64.0.1" + port + "/",
		"https://0.0.0.0" + port + "/",
		"https://[::ffff:169.254.169.254]" + port + "/",
		"https://[fd00::1]" + port + "/",
		"https://[fe80::1]" + port + "/",
		"https://[::]" + port + "/",
	} {
		target.Store(to)
		if _, err := c.Get(context.Background(), srv.URL+"/start"); !errors.Is(err, egress.ErrRefused) {
			t.Errorf("redirect to %s: err = %v, want ErrRefused", to, err)
		}
	}
	target.Store(srv.URL + "/final")
	if resp, err := c.Get(context.Background(), srv.URL+"/start"); err != nil || string(resp.Body) != "hello" {
		t.Errorf("redirect to an allowed URL: %v", err)
	}
	allowed := mustNew(t, egress.Config{Hosts: []string{"127.0.0.1"}}, egress.AllowLoopbackForTesting(pool))
	target.Store(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/final")
	if _, err := allowed.Get(context.Background(), srv.URL+"/start"); !errors.Is(err, egress.ErrRefused) {
		t.Errorf("redirect to a host not on the list: err = %v, want ErrRefused", err)
	}
}

func TestRedirectLimit(t *testing.T) {
	srv, hits, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/again", http.StatusFound)
	})
	c := mustNew(t, egress.Config{Hosts: []string{"127.0.0.1"}, MaxRedirects: 2}, egress.AllowLoopbackForTesting(pool))
	if _, err := c.Get(context.Background(), srv.URL); !errors.Is(err, egress.ErrRefused) {
		t.Errorf("err = %v, want ErrRefused", err)
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("server saw %d requests, want 3 (the first and 2 redirects)", n)
	}
}

func TestSizeLimit(t *testing.T) {
	body := strings.Repeat("a", 2048)
	srv, _, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length
		}
		_, _ = w.Write([]byte(body))
	})
	for _, limit := range []int64{1024, 2047} {
		c := mustNew(t, egress.Config{Hosts: []string{"127.0.0.1"}, MaxBytes: limit}, egress.AllowLoopbackForTesting(pool))
		for _, p := range []string{"/sized", "/chunked"} {
			if _, err := c.Get(context.Background(), srv.URL+p); !errors.Is(err, egress.ErrTooLarge) {
				t.Errorf("limit %d, %s: err = %v, want ErrTooLarge", limit, p, err)
			}
		}
	}
	c := mustNew(t, egress.Config{Hosts: []string{"127.0.0.1"}, MaxBytes: 2048}, egress.AllowLoopbackForTesting(pool))
	for _, p := range []string{"/sized", "/chunked"} {
		if resp, err := c.Get(context.Background(), srv.URL+p); err != nil || len(resp.Body) != 2048 {
			t.Errorf("limit 2048, %s: err = %v", p, err)
		}
	}
}

func TestNoCredentialsForwarded(t *testing.T) {
	var got atomic.Value
	srv, _, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization") + "|" + r.Header.Get("Cookie"))
	})
	c := mustNew(t, egress.Config{Hosts: []string{"127.0.0.1"}}, egress.AllowLoopbackForTesting(pool))
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Cookie", "a=b")
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := got.Load().(string); s != "|" {
		t.Errorf("server saw Authorization|Cookie = %q, want none", s)
	}
}

func TestInternal(t *testing.T) {
	tests := map[string]string{
		"127.0.0.1": "loopback", "127.255.0.9": "loopback", "::1": "loopback",
		"169.254.169.254": "link-local", "fe80::1": "link-local",
		"10.1.2.3": "private", "172.31.255.255": "private", "192.168.1.1": "private",
		"fd00:ec2::254": "unique-local", "fc00::1": "unique-local",
		"100.64.0.1": "carrier-grade NAT", "100.127.255.254": "carrier-grade NAT",
		"0.0.0.0": "unspecified", "::": "unspecified", "0.1.2.3": "this-network",
		"224.0.0.1": "multicast", "ff02::1": "multicast", "255.255.255.255": "broadcast",
		"::ffff:10.0.0.1": "private", "64:ff9b::a9fe:a9fe": "NAT64", "2002:a9fe:a9fe::": "6to4",
		"2001:0:4136:e378::1": "IETF protocol assignment", "240.0.0.1": "reserved",
		"fec0::1": "site-local", "198.18.0.1": "benchmarking",
		"8.8.8.8": "", "52.216.1.1": "", "2600:1f18::1": "", "100.128.0.1": "", "172.32.0.1": "",
	}
	for addr, want := range tests {
		if got := egress.Internal(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Internal(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestArtifactHosts(t *testing.T) {
	tests := map[string]bool{
		"buildkiteartifacts.com": true, "x.buildkiteartifacts.com": true,
		"my-bucket.s3.amazonaws.com": true, "my-bucket.s3.us-east-1.amazonaws.com": true,
		"s3.eu-west-1.amazonaws.com": true, "my-bucket.s3-us-west-2.amazonaws.com": true,
		"S3.AMAZONAWS.COM": true,
		"evil.example":     false, "s3.amazonaws.com.evil.example": false,
		"ec2.us-east-1.amazonaws.com": false, "buildkite.com.evil.example": false,
	}
	for host, want := range tests {
		if got := egress.HostAllowed(egress.ArtifactHosts, host); got != want {
			t.Errorf("HostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := egress.New(egress.Config{}); err == nil {
		t.Error("New with no hosts: want an error (fail closed)")
	}
	if _, err := egress.New(egress.Config{Hosts: []string{"[x"}}); err == nil {
		t.Error("New with a bad pattern: want an error")
	}
}

// The test resolver reaches a loopback server through a public-looking
// name, and still applies the address rules to what the name resolves to.
func TestResolveForTesting(t *testing.T) {
	srv, hits, pool := tlsServer(t, hello)
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	c := mustNew(t, egress.Config{AnyPublicHost: true}, egress.ResolveForTesting(map[string]netip.Addr{
		"example.com":        netip.MustParseAddr("93.184.215.14"),
		"inside.example.com": netip.MustParseAddr("10.0.0.7"),
		"local.example.com":  netip.MustParseAddr("127.0.0.1"),
	}, pool))
	resp, err := c.Get(context.Background(), "https://example.com"+port+"/doc")
	if err != nil || string(resp.Body) != "hello" {
		t.Fatalf("a public name: %v %v", resp, err)
	}
	for _, u := range []string{"https://inside.example.com" + port, "https://local.example.com" + port, "https://127.0.0.1" + port} {
		if _, err := c.Get(context.Background(), u); !errors.Is(err, egress.ErrRefused) {
			t.Errorf("Get(%s): %v, want ErrRefused", u, err)
		}
	}
	if _, err := c.Get(context.Background(), "https://unknown.example.org"+port); err == nil || errors.Is(err, egress.ErrRefused) {
		t.Errorf("an unknown name: %v, want a lookup error", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the server saw %d requests, want 1", n)
	}
}
