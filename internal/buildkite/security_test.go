package buildkite_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/egress"
)

const (
	ssrfJob      = "01890f3a-0000-4000-8000-000000000001"
	ssrfArtifact = "01890f3a-0000-4000-8000-0000000000a1"
)

// Finding M1: get_artifact fetched whatever http(s) Location Buildkite's
// /download redirect named (loopback, link-local, private, plain http, with
// userinfo) and returned the body inline. Every such Location is refused
// now, before and at connection time, and the internal service sees
// nothing.
func TestSecurityM1DownloadRedirectToInternalAddressesRefused(t *testing.T) {
	var internalHits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		_, _ = w.Write([]byte("INTERNAL-ONLY-SECRET"))
	}))
	t.Cleanup(internal.Close)
	internalTLS := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		_, _ = w.Write([]byte("INTERNAL-ONLY-SECRET"))
	}))
	t.Cleanup(internalTLS.Close)
	tlsPort := internalTLS.URL[strings.LastIndex(internalTLS.URL, ":"):]

	var location atomic.Value
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/download") {
			w.Header().Set("Location", location.Load().(string))
			w.WriteHeader(http.StatusFound)
			return
		}
		internalHits.Add(1) // a relative Location fetched from the API origin
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(api.Close)

	// The production default: egress limited to Buildkite's and S3's hosts,
	// no test option.
	c := newClient(t, api.URL, &tokens{current: staleToken})
	// A client whose host list admits everything still refuses internal
	// addresses when it dials.
	open, err := egress.New(egress.Config{AnyPublicHost: true})
	if err != nil {
		t.Fatal(err)
	}
	anyHost, err := buildkite.New(buildkite.Config{BaseURL: api.URL, Tokens: &tokens{current: staleToken}, Timeout: 2 * time.Second, Downloads: open})
	if err != nil {
		t.Fatal(err)
	}

	for _, loc := range []string{
		internal.URL + "/latest/meta-data/iam/security-credentials/role",
		strings.Replace(internal.URL, "http://", "http://user:secretpw@", 1) + "/basic",
		strings.Replace(internalTLS.URL, "https://", "https://user:secretpw@", 1) + "/basic",
		internalTLS.URL + "/latest/meta-data/",
		"https://localhost" + tlsPort + "/",
		"https://169.254.169.254/latest/meta-data/",
		"https://10.0.0.8/", "https://100.64.0.1/", "https://[fd00:ec2::254]/",
		"/v2/user",
		"file:///etc/passwd",
	} {
		location.Store(loc)
		for name, cl := range map[string]*buildkite.Client{"default hosts": c, "any public host": anyHost} {
			u, err := cl.ArtifactDownloadURL(context.Background(), "acme", "web-app", "42", ssrfJob, ssrfArtifact)
			if err == nil {
				// A URL that passes the rules that need no network must
				// still be refused when fetched.
				if _, err = cl.FetchArtifact(context.Background(), u, 64<<10); err == nil {
					t.Errorf("%s: Location %q was fetched", name, loc)
				}
				continue
			}
			if be := asError(t, err); strings.Contains(be.SafeMessage(), "secretpw") || strings.Contains(be.SafeMessage(), "127.0.0.1") {
				t.Errorf("%s: message %q repeats the URL", name, be.SafeMessage())
			}
		}
		// FetchArtifact refuses the same URLs when handed them directly.
		if _, err := anyHost.FetchArtifact(context.Background(), loc, 64<<10); err == nil {
			t.Errorf("FetchArtifact(%q) succeeded", loc)
		}
	}
	if n := internalHits.Load(); n != 0 {
		t.Errorf("internal services saw %d requests, want 0", n)
	}
}

// Finding M1, positive side: a download on an allowed host is fetched, with
// no token, and the allowed hosts are configurable.
func TestSecurityM1DownloadOnAllowedHostFetchedWithoutToken(t *testing.T) {
	var auth atomic.Value
	store := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte("<testsuite/>"))
	}))
	t.Cleanup(store.Close)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", store.URL+"/a/junit.xml?X-Amz-Signature=abc")
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(api.Close)
	pool := x509.NewCertPool()
	pool.AddCert(store.Certificate())
	dl, err := egress.New(egress.Config{Hosts: []string{"127.0.0.1"}}, egress.AllowLoopbackForTesting(pool))
	if err != nil {
		t.Fatal(err)
	}
	c, err := buildkite.New(buildkite.Config{BaseURL: api.URL, Tokens: &tokens{current: staleToken}, Timeout: 2 * time.Second, Downloads: dl})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.ArtifactDownloadURL(context.Background(), "acme", "web-app", "42", ssrfJob, ssrfArtifact)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.FetchArtifact(context.Background(), u, 64<<10)
	if err != nil || string(b) != "<testsuite/>" {
		t.Fatalf("FetchArtifact = %q, %v", b, err)
	}
	if a := auth.Load().(string); a != "" {
		t.Errorf("the store saw Authorization %q", a)
	}
}
