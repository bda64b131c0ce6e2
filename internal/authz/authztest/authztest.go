// Package authztest gives the sign-in tests their real parts: a real
// OpenID Provider (npm oidc-provider on Node 22, started from
// infra/local/signin/idp.mjs on 127.0.0.1) as the company IdP, and a
// scripted browser that signs in through HTML forms the way a person would.
// infra/local/signin.sh installs the packages and exports SignInDirEnv.
package authztest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/authz"
)

// Environment variables exported by infra/local/signin.sh.
const (
	SignInDirEnv = "KITEGATE_TEST_SIGNIN_DIR"
	NodeEnv      = "KITEGATE_TEST_NODE"
)

// ChromiumEnv is exported by infra/local/chromium.sh: Debian's chromium.
const ChromiumEnv = "KITEGATE_TEST_CHROMIUM"

// Chromium returns the path of the headless browser. Without it the test
// skips, except in CI (CI=true), where it fails.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(ChromiumEnv); p != "" {
		return p
	}
	missing(t, ChromiumEnv+" is not set: run the tests with `make test` (infra/local/chromium.sh installs Debian's chromium)")
	return ""
}

// missing ends a test whose dependency is not there: it fails in CI
// (CI=true) and skips, saying why, elsewhere.
func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// Dir returns the folder of the sign-in scripts and their node_modules.
// Without it the test skips, except in CI (CI=true), where it fails.
func Dir(t testing.TB) string {
	t.Helper()
	dir, node := os.Getenv(SignInDirEnv), os.Getenv(NodeEnv)
	if dir != "" && node != "" {
		return dir
	}
	missing(t, SignInDirEnv+" is not set: run the tests with `make test` (infra/local/signin.sh installs Node 22, oidc-provider and the MCP TypeScript SDK)")
	return ""
}

// Node starts `node script args...` from Dir with env added, and returns
// the process's first line of standard output (the scripts print what the
// test needs there) and its standard output after that. The process ends
// with the test (its standard input closes, then it is killed).
func Node(t testing.TB, env []string, script string, args ...string) (string, io.Reader) {
	t.Helper()
	dir := Dir(t)
	cmd := exec.Command(os.Getenv(NodeEnv), append([]string{filepath.Join(dir, script)}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", script, err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	go func() { _ = cmd.Wait(); close(done) }()
	r := bufio.NewReader(stdout)
	lines := make(chan string, 1)
	go func() {
		line, _ := r.ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		if line == "" {
			t.Fatalf("%s exited before printing: %s", script, stderr.String())
		}
		return strings.TrimSpace(line), r
	case <-time.After(30 * time.Second):
		t.Fatalf("%s printed nothing in 30s: %s", script, stderr.String())
	}
	return "", nil
}

// Run runs `node script args...` from Dir to its end (at most two
// minutes) and returns its standard output; a failure shows its standard error.
func Run(t testing.TB, env []string, script string, args ...string) []byte {
	t.Helper()
	dir := Dir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Getenv(NodeEnv), append([]string{filepath.Join(dir, script)}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, stderr.String())
	}
	return out
}

type lockedWriter struct{ w io.Writer }

func (l *lockedWriter) Write(p []byte) (int, error) { return l.w.Write(p) }

// IdP starts oidc-provider with kitegate as its confidential client
// (clientID, secret, redirectURI) and returns its issuer. Its users, who
// sign in with any password: alice (verified email, groups engineering and
// platform-oncall), bob (no groups), mallory (an unverified email).
// env adds idp.mjs settings (IDP_INTROSPECTION=1).
func IdP(t testing.TB, clientID, secret, redirectURI string, env ...string) string {
	t.Helper()
	line, _ := Node(t, append([]string{"IDP_CLIENT_ID=" + clientID, "IDP_CLIENT_SECRET=" + secret, "IDP_REDIRECT_URI=" + redirectURI}, env...), "idp.mjs")
	var out struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal([]byte(line), &out); err != nil || out.Issuer == "" {
		t.Fatalf("idp.mjs printed %q, want {\"issuer\": ...}", line)
	}
	return out.Issuer
}

// Browser follows redirects and submits sign-in and consent forms, keeping
// cookies like a browser. It stops at the first redirect to a URL under
// StopAt (the client's redirect URI).
type Browser struct {
	StopAt string
	User   string // typed into the IdP's login form
	// Deny submits the consent form's deny button instead of approve.
	Deny   bool
	client *http.Client
	Pages  []string // URLs of the pages whose forms were submitted, in order
}

// NewBrowser returns a browser with an empty cookie jar.
func NewBrowser(user, stopAt string) *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{User: user, StopAt: stopAt}
	b.client = &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), b.StopAt) || len(via) > 20 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return b
}

// HTTP returns the browser's client (its cookies included).
func (b *Browser) HTTP() *http.Client { return b.client }

var (
	formRe   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRe  = regexp.MustCompile(`(?is)<(?:input|button)\b([^>]*)>`)
	attrRe   = regexp.MustCompile(`(?is)\b([a-z-]+)\s*=\s*"([^"]*)"`)
	errorMax = 2000
)

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(tag, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
	}
	return m
}

// Visit opens u and goes through every form until the browser is sent to
// StopAt; it returns that URL. It fails on any page without a form.
func (b *Browser) Visit(u string) (*url.URL, error) {
	resp, err := b.client.Get(u)
	for step := 0; step < 12; step++ {
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && strings.HasPrefix(loc, b.StopAt) {
			return url.Parse(loc)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, &PageError{URL: resp.Request.URL.String(), Status: resp.StatusCode, Body: trim(string(body))}
		}
		form := formRe.FindStringSubmatch(string(body))
		if form == nil {
			return nil, &PageError{URL: resp.Request.URL.String(), Status: resp.StatusCode, Body: "no form: " + trim(string(body))}
		}
		b.Pages = append(b.Pages, resp.Request.URL.String())
		action, err := resp.Request.URL.Parse(attrs(form[1])["action"])
		if err != nil {
			return nil, err
		}
		values := url.Values{}
		for _, in := range inputRe.FindAllStringSubmatch(form[2], -1) {
			a := attrs(in[1])
			name := a["name"]
			switch {
			case name == "":
			case name == "login":
				values.Set(name, b.User)
			case name == "password":
				values.Set(name, "any password")
			case name == "decision":
				want := "approve"
				if b.Deny {
					want = "deny"
				}
				if a["value"] == want {
					values.Set(name, want)
				}
			case a["type"] == "hidden":
				values.Set(name, a["value"])
			}
		}
		resp, err = b.client.PostForm(action.String(), values)
	}
	return nil, fmt.Errorf("sign-in did not finish in 12 pages: %v", b.Pages)
}

// PageError is a page the browser could not go on from.
type PageError struct {
	URL    string
	Status int
	Body   string
}

func (e *PageError) Error() string { return fmt.Sprintf("%s: %d: %s", e.URL, e.Status, e.Body) }

func trim(s string) string {
	if len(s) > errorMax {
		return s[:errorMax] + "…"
	}
	return s
}

// Front serves one origin the way kitegate's API Gateway routes do: the
// authorization server's paths (authz.Routes) to the authz function at
// authzURL, every other path to the mcp function at mcpURL. The Host
// header is the front's, as behind API Gateway.
func Front(authzURL, mcpURL *url.URL) http.Handler {
	as, mcp := httputil.NewSingleHostReverseProxy(authzURL), httputil.NewSingleHostReverseProxy(mcpURL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if authz.Routed(r.URL.Path) {
			as.ServeHTTP(w, r)
			return
		}
		mcp.ServeHTTP(w, r)
	})
}

// IdPToken signs user in at the IdP started by IdP (authorization code with
// PKCE, as the confidential client clientID) and returns the access token
// it issues: opaque, as oidc-provider makes them without a resource
// indicator.
func IdPToken(t testing.TB, issuer, clientID, secret, redirectURI, user string) string {
	t.Helper()
	var meta struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
	}
	if err := getJSON(issuer+"/.well-known/openid-configuration", &meta); err != nil {
		t.Fatal(err)
	}
	verifier := base64.RawURLEncoding.EncodeToString([]byte(user + "-a-long-enough-pkce-verifier-" + time.Now().String()))
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "scope": {"openid email groups"},
		"state": {"st"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	got, err := NewBrowser(user, redirectURI).Visit(meta.Authorization + "?" + q.Encode())
	if err != nil {
		t.Fatalf("sign in as %s: %v", user, err)
	}
	var tk struct {
		Access string `json:"access_token"`
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {got.Query().Get("code")}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	if err := PostForm(meta.Token, form, clientID, secret, &tk); err != nil || tk.Access == "" {
		t.Fatalf("code exchange for %s: %v", user, err)
	}
	return tk.Access
}

// PostForm posts form to u as the confidential client id (HTTP Basic) and
// decodes a 200 answer into v (nil: ignored).
func PostForm(u string, form url.Values, id, secret string, v any) error {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: HTTP %d", u, resp.StatusCode)
	}
	if v == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func getJSON(u string, v any) error {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// OpaqueIdP is oidc-provider with RFC 7662 introspection and RFC 7009
// revocation (IdP with IDP_INTROSPECTION=1), and one confidential client
// that signs users in and introspects.
type OpaqueIdP struct{ Issuer, ClientID, Secret, Redirect string }

// NewOpaqueIdP starts it (Dir first: the test skips, or fails in CI,
// without Node).
func NewOpaqueIdP(t testing.TB) OpaqueIdP {
	t.Helper()
	Dir(t)
	p := OpaqueIdP{ClientID: "kitegate-rs", Secret: "introspection-secret", Redirect: "http://127.0.0.1:9/callback"}
	p.Issuer = IdP(t, p.ClientID, p.Secret, p.Redirect, "IDP_INTROSPECTION=1")
	return p
}

// Token signs user in and returns the opaque access token.
func (p OpaqueIdP) Token(t testing.TB, user string) string {
	t.Helper()
	return IdPToken(t, p.Issuer, p.ClientID, p.Secret, p.Redirect, user)
}
