package authz_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/authz"
	"github.com/kitegate/kitegate/internal/authz/authztest"
	"github.com/kitegate/kitegate/internal/egress"
)

// docServer serves client metadata documents over TLS on 127.0.0.1: path
// → (Cache-Control, body). It counts the fetches of each path.
type docServer struct {
	srv   *httptest.Server
	pool  *x509.CertPool
	port  string
	docs  map[string]string
	hits  map[string]*atomic.Int64
	total atomic.Int64
}

func newDocServer(t *testing.T) *docServer {
	t.Helper()
	d := &docServer{docs: map[string]string{}, hits: map[string]*atomic.Int64{}}
	d.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.total.Add(1)
		if h, ok := d.hits[r.URL.Path]; ok {
			h.Add(1)
		}
		switch body, ok := d.docs[r.URL.Path]; {
		case r.URL.Path == "/moved.json":
			http.Redirect(w, r, "/client.json", http.StatusFound)
		case ok:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(d.srv.Close)
	d.pool = x509.NewCertPool()
	d.pool.AddCert(d.srv.Certificate())
	d.port = d.srv.URL[strings.LastIndex(d.srv.URL, ":"):]
	return d
}

// url is the client_id of a document served at path, under a host name
// httptest's certificate is valid for.
func (d *docServer) url(host, path string) string { return "https://" + host + d.port + path }

// add serves doc at path; "{id}" in it becomes the document's own URL on
// example.com.
func (d *docServer) add(path, doc string) string {
	id := d.url("example.com", path)
	d.docs[path] = strings.ReplaceAll(doc, "{id}", id)
	d.hits[path] = &atomic.Int64{}
	return id
}

// fetcher is kitegate's metadata fetcher with the test resolver: the
// names map to the given addresses, which the production rules still
// judge, and a connection that passes goes to the loopback server.
func (d *docServer) fetcher(t *testing.T) *egress.Client {
	t.Helper()
	f, err := authz.NewMetadataFetcher(egress.ResolveForTesting(map[string]netip.Addr{
		"example.com":         netip.MustParseAddr("93.184.215.14"),
		"private.example.com": netip.MustParseAddr("10.1.2.3"),
		"local.example.com":   netip.MustParseAddr("127.0.0.1"),
	}, d.pool))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const goodDoc = `{"client_id":"{id}","client_name":"Metadata Client","client_uri":"https://example.com/","software_id":"example-agent","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"]}`

// authorizeStatus starts an authorization for clientID and returns the
// answer kitegate gives before any sign-in.
func (e *env) authorizeStatus(t *testing.T, clientID string) (int, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.authorizeURL(clientID, "http://127.0.0.1:43210/callback", newPKCE(), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A client whose client_id is its metadata document's URL signs in,
// refreshes, and appears in the registry; the document is fetched once and
// then read from the registry's copy while its max-age lasts.
func TestMetadataDocumentSignIn(t *testing.T) {
	d := newDocServer(t)
	id := d.add("/client.json", goodDoc)
	e := newEnv(t, func(c *authz.Config) { c.ClientMetadata = d.fetcher(t) })

	resp, err := http.Get(e.base + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta["client_id_metadata_document_supported"] != true {
		t.Errorf("AS metadata does not advertise metadata documents: %v", meta)
	}

	p := newPKCE()
	tk := e.exchange(t, id, e.signIn(t, "alice", id, p), p)
	if tk.status != http.StatusOK || tk.Access == "" || tk.Refresh == "" {
		t.Fatalf("exchange: %+v", tk)
	}
	if status, caller, _ := e.call(t, tk.Access); status != http.StatusOK || caller.ClientID != id || caller.ClientName != "Metadata Client" {
		t.Errorf("call: %d %+v, want the document's URL and name", status, caller)
	}
	if next := e.refresh(t, id, tk.Refresh); next.status != http.StatusOK {
		t.Errorf("refresh: %+v", next)
	}
	if n := d.hits["/client.json"].Load(); n != 1 {
		t.Errorf("the document was fetched %d times, want once (cached)", n)
	}
	c, err := e.store.Client(context.Background(), id)
	if err != nil || c.Source != authz.SourceMetadata || c.Name != "Metadata Client" || c.SoftwareID != "example-agent" || len(c.Users) != 1 || c.ExpiresAt != 0 {
		t.Errorf("registry entry %+v %v: want the document's fields, one user, kept for good", c, err)
	}

	// The kill switch holds over a metadata client too.
	if _, err := e.store.SetClientState(context.Background(), id, authz.ClientDisabled); err != nil {
		t.Fatal(err)
	}
	if status, body := e.authorizeStatus(t, id); status != http.StatusBadRequest || !strings.Contains(body, "disabled") {
		t.Errorf("authorize for a disabled metadata client: %d %q", status, body)
	}
}

// Documents kitegate must not use are refused with a reason, before any
// sign-in starts; documents on internal addresses are never even fetched.
func TestMetadataDocumentRefused(t *testing.T) {
	d := newDocServer(t)
	d.add("/client.json", goodDoc)
	big := d.add("/big.json", strings.Replace(goodDoc, `"client_name"`, `"x":"`+strings.Repeat("a", authz.MaxMetadataBytes)+`","client_name"`, 1))
	other := d.add("/other.json", strings.Replace(goodDoc, `"client_id":"{id}"`, `"client_id":"https://example.com`+d.port+`/client.json"`, 1))
	secret := d.add("/secret.json", strings.Replace(goodDoc, `"none"`, `"client_secret_basic"`, 1))
	httpRedirect := d.add("/http.json", strings.Replace(goodDoc, "http://127.0.0.1/callback", "http://example.com/callback", 1))
	notJSON := d.add("/text.json", "hello")
	production, err := authz.NewMetadataFetcher()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, clientID, want string
		fetcher              authz.MetadataFetcher
	}{
		{"loopback address", d.srv.URL + "/client.json", "loopback", production},
		{"name resolving to loopback", d.url("localhost", "/client.json"), "loopback", production},
		{"name mapped to loopback", d.url("local.example.com", "/client.json"), "loopback", nil},
		{"name mapped to a private address", d.url("private.example.com", "/client.json"), "private", nil},
		{"over the size limit", big, "larger than 5120 bytes", nil},
		{"another client_id", other, "is not the URL it was fetched from", nil},
		{"a client secret", secret, "token_endpoint_auth_method", nil},
		{"http redirect URI off loopback", httpRedirect, "loopback", nil},
		{"not JSON", notJSON, "not a JSON object", nil},
		{"not found", d.url("example.com", "/missing.json"), "HTTP 404", nil},
		{"a redirect", d.url("example.com", "/moved.json"), "redirect", nil},
		{"no path", d.url("example.com", "/"), "no path", nil},
		{"a query", d.url("example.com", "/client.json?x=1"), "query", nil},
		{"dot segments", d.url("example.com", "/a/../client.json"), "dot segments", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fetcher
			if f == nil {
				f = d.fetcher(t)
			}
			e := newEnv(t, func(c *authz.Config) { c.ClientMetadata = f })
			status, body := e.authorizeStatus(t, tc.clientID)
			if status != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("authorize: %d %q, want 400 saying %q", status, body, tc.want)
			}
			if _, err := e.store.Client(context.Background(), tc.clientID); err != authz.ErrNotFound {
				t.Errorf("a refused document is in the registry: %v", err)
			}
		})
	}
	if n := d.hits["/client.json"].Load(); n != 0 {
		t.Errorf("a document behind an internal address was fetched %d times", n)
	}
	// Without a fetcher, metadata documents are off: not advertised, and
	// an https client_id is just an unknown client.
	e := newEnv(t)
	if status, body := e.authorizeStatus(t, d.url("example.com", "/client.json")); status != http.StatusBadRequest || !strings.Contains(body, "unknown client") {
		t.Errorf("authorize with metadata documents off: %d %q", status, body)
	}
	_ = authztest.Dir
}

// A metadata document that failed is not fetched again for a minute: a
// broken or hostile client_id cannot make kitegate fetch on every
// /authorize. After the minute it is fetched again, and a fixed document
// works.
func TestMetadataDocumentFailureCached(t *testing.T) {
	d := newDocServer(t)
	id := d.add("/flaky.json", "not a document")
	other := d.add("/other.json", "neither")
	var offset atomic.Int64
	e := newEnv(t, func(c *authz.Config) {
		c.ClientMetadata = d.fetcher(t)
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	for i := range 5 {
		if status, body := e.authorizeStatus(t, id); status != http.StatusBadRequest || !strings.Contains(body, "not a JSON object") {
			t.Fatalf("authorize %d with a broken document: %d %q", i, status, body)
		}
	}
	if n := d.hits["/flaky.json"].Load(); n != 1 {
		t.Errorf("a broken document was fetched %d times for 5 authorizations, want 1", n)
	}
	// Another document is remembered on its own.
	e.authorizeStatus(t, other)
	e.authorizeStatus(t, other)
	if n := d.hits["/other.json"].Load(); n != 1 {
		t.Errorf("a second broken document was fetched %d times, want 1", n)
	}

	// Fixed within the minute: still refused without a fetch.
	d.docs["/flaky.json"] = strings.ReplaceAll(goodDoc, "{id}", id)
	offset.Store(int64(30 * time.Second))
	if status, _ := e.authorizeStatus(t, id); status != http.StatusBadRequest || d.hits["/flaky.json"].Load() != 1 {
		t.Errorf("within the minute: %d after %d fetches, want 400 after 1", status, d.hits["/flaky.json"].Load())
	}
	// After the minute it is fetched again and works.
	offset.Store(int64(61 * time.Second))
	if status, body := e.authorizeStatus(t, id); status != http.StatusFound || d.hits["/flaky.json"].Load() != 2 {
		t.Errorf("after the minute: %d %q after %d fetches, want a redirect to sign in after 2", status, body, d.hits["/flaky.json"].Load())
	}
}
