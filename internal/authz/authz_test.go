package authz_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/kitegate/kitegate/internal/authz"
	"github.com/kitegate/kitegate/internal/authz/authztest"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/signing"
	"github.com/kitegate/kitegate/internal/signing/signingtest"
	"github.com/kitegate/kitegate/internal/tables"
)

// env is kitegate's authorization server in front of a handler that echoes
// the verified caller, with DynamoDB Local, local-kms and oidc-provider.
type env struct {
	base, resource string
	srv            *authz.Server
	store          *authz.Store
	kmsCalls       *signingtest.Calls
	keys           *signing.Keys
}

const clientRedirect = "http://127.0.0.1:9/callback"

func newEnv(t *testing.T, opts ...func(*authz.Config)) *env {
	t.Helper()
	authztest.Dir(t)
	db := dynamotest.Client(t)
	table := dynamotest.NewTable(t, db, tables.Auth)
	kmsClient, calls := signingtest.Server(t)
	keys, err := signing.New(kmsClient, []string{signingtest.SigningKey(t, kmsClient)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	e := &env{base: base, resource: base + "/mcp", store: authz.NewStore(db, table), kmsCalls: calls, keys: keys}
	idp := authztest.IdP(t, "kitegate", "upstream-secret", base+"/oauth/callback")
	cfg := authz.Config{
		Issuer:   base,
		Resource: e.resource,
		Store:    e.store,
		Keys:     keys,
		Upstream: authz.UpstreamConfig{
			Issuer: idp, ClientID: "kitegate",
			ClientSecret: func(context.Context) (string, error) { return "upstream-secret", nil },
			Scopes:       []string{"openid", "email", "groups"},
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.srv, err = authz.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := identity.NewOIDC(context.Background(), identity.OIDCConfig{Issuer: base, Audience: e.resource, Keys: keys.PublicKeys, TokenType: identity.TypeAccessToken})
	if err != nil {
		t.Fatal(err)
	}
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := identity.FromContext(r.Context())
		_ = json.NewEncoder(w).Encode(c)
	})
	mux := http.NewServeMux()
	mux.Handle("/mcp", identity.Middleware(verifier, base+"/.well-known/oauth-protected-resource/mcp", authz.DefaultScopes, nil, echo))
	hs := &http.Server{Handler: e.srv.Handler(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return e
}

func (e *env) register(t *testing.T, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(e.base+"/oauth/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (e *env) newClient(t *testing.T) string {
	t.Helper()
	status, out := e.register(t, `{"client_name":"Test Client","redirect_uris":["`+clientRedirect+`"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`)
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, out)
	}
	return out["client_id"].(string)
}

type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := base64.RawURLEncoding.EncodeToString([]byte(time.Now().String() + "a-long-enough-verifier-for-pkce-tests"))
	sum := sha256.Sum256([]byte(v))
	return pkce{v, base64.RawURLEncoding.EncodeToString(sum[:])}
}

func (e *env) authorizeURL(clientID, redirect string, p pkce, extra url.Values) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"code_challenge": {p.challenge}, "code_challenge_method": {"S256"}, "state": {"st4te"},
		"scope": {"mcp"}, "resource": {e.resource},
	}
	for k, v := range extra {
		q[k] = v
	}
	return e.base + "/oauth/authorize?" + q.Encode()
}

// signIn runs the browser part and returns the code.
func (e *env) signIn(t *testing.T, user, clientID string, p pkce) string {
	t.Helper()
	// RFC 8252 §7.3: the loopback port is the client's choice at run time.
	redirect := "http://127.0.0.1:43210/callback"
	b := authztest.NewBrowser(user, redirect)
	got, err := b.Visit(e.authorizeURL(clientID, redirect, p, nil))
	if err != nil {
		t.Fatalf("sign-in as %s: %v", user, err)
	}
	q := got.Query()
	if q.Get("state") != "st4te" || q.Get("code") == "" {
		t.Fatalf("redirect %s: want a code and the state back", got)
	}
	return q.Get("code")
}

type tokens struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
	Type    string `json:"token_type"`
	Expires int    `json:"expires_in"`
	Error   string `json:"error"`
	Desc    string `json:"error_description"`
	status  int
}

func (e *env) token(t *testing.T, form url.Values) tokens {
	t.Helper()
	resp, err := http.PostForm(e.base+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tk tokens
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &tk); err != nil {
		t.Fatalf("token response %d %q: %v", resp.StatusCode, body, err)
	}
	tk.status = resp.StatusCode
	return tk
}

func (e *env) exchange(t *testing.T, clientID, code string, p pkce) tokens {
	return e.token(t, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
		"redirect_uri": {"http://127.0.0.1:43210/callback"}, "code_verifier": {p.verifier}, "resource": {e.resource},
	})
}

func (e *env) refresh(t *testing.T, clientID, rt string) tokens {
	return e.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}, "resource": {e.resource}})
}

// call presents an access token to the protected endpoint.
func (e *env) call(t *testing.T, access string) (int, identity.Caller, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.resource, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c identity.Caller
	_ = json.NewDecoder(resp.Body).Decode(&c)
	return resp.StatusCode, c, resp.Header.Get("WWW-Authenticate")
}

func TestMetadata(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		resp, err := http.Get(e.base + path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if m["issuer"] != e.base || m["registration_endpoint"] != e.base+"/oauth/register" || m["jwks_uri"] != e.base+"/oauth/jwks" {
			t.Errorf("%s: %v", path, m)
		}
		if got, _ := json.Marshal(m["code_challenge_methods_supported"]); string(got) != `["S256"]` {
			t.Errorf("%s: code_challenge_methods_supported %s, want S256 only", path, got)
		}
		if got, _ := json.Marshal(m["scopes_supported"]); string(got) != `["mcp","offline_access"]` {
			t.Errorf("%s: scopes_supported %s", path, got)
		}
	}
	resp, err := http.Get(e.base + "/oauth/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 1 || !set.Keys[0].IsPublic() {
		t.Fatalf("jwks: %v %+v", err, set)
	}
	// The challenge names the scopes, so clients ask for a refresh token.
	status, _, challenge := e.call(t, "")
	if status != http.StatusUnauthorized || !strings.Contains(challenge, `scope="mcp offline_access"`) {
		t.Errorf("no token: %d %q", status, challenge)
	}
}

func TestSignInRefreshAndReuse(t *testing.T) {
	e := newEnv(t)
	clientID := e.newClient(t)
	p := newPKCE()
	code := e.signIn(t, "alice", clientID, p)
	tk := e.exchange(t, clientID, code, p)
	if tk.status != http.StatusOK || tk.Access == "" || tk.Refresh == "" {
		t.Fatalf("code exchange: %+v", tk)
	}
	if tk.Expires < 14*60 || tk.Expires > 15*60 {
		t.Errorf("expires_in %d, want 15 minutes", tk.Expires)
	}
	// The access token: RS256 by the KMS key, aud the MCP URL, the user's
	// verified email and groups, the client.
	parsed, err := jwt.ParseSigned(tk.Access, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	_ = parsed.UnsafeClaimsWithoutVerification(&claims)
	if claims["iss"] != e.base || claims["sub"] != "alice" || claims["email"] != "alice@example.com" || claims["client_id"] != clientID || claims["client_name"] != "Test Client" {
		t.Errorf("claims %v", claims)
	}
	if aud, _ := json.Marshal(claims["aud"]); string(aud) != `["`+e.resource+`"]` {
		t.Errorf("aud %s, want the MCP URL only", aud)
	}
	status, caller, _ := e.call(t, tk.Access)
	if status != http.StatusOK || caller.Subject != "alice" || caller.ClientID != clientID || strings.Join(caller.Groups, ",") != "engineering,platform-oncall" {
		t.Fatalf("call: %d %+v", status, caller)
	}
	signs := e.kmsCalls.Count("Sign")
	for range 3 {
		if status, _, _ := e.call(t, tk.Access); status != http.StatusOK {
			t.Fatal(status)
		}
	}
	if e.kmsCalls.Count("Sign") != signs || e.kmsCalls.Count("GetPublicKey") != 1 {
		t.Errorf("verification called KMS: Sign %d→%d, GetPublicKey %d", signs, e.kmsCalls.Count("Sign"), e.kmsCalls.Count("GetPublicKey"))
	}

	// The code is single-use.
	if again := e.exchange(t, clientID, code, p); again.status != http.StatusBadRequest || again.Error != "invalid_grant" {
		t.Errorf("replayed code: %+v", again)
	}

	// Refresh rotates the token.
	next := e.refresh(t, clientID, tk.Refresh)
	if next.status != http.StatusOK || next.Refresh == "" || next.Refresh == tk.Refresh {
		t.Fatalf("refresh: %+v", next)
	}
	if status, caller, _ := e.call(t, next.Access); status != http.StatusOK || caller.Email != "alice@example.com" {
		t.Errorf("refreshed token: %d %+v", status, caller)
	}
	// Replaying the first refresh token revokes the family: the newest
	// token stops working too.
	if replay := e.refresh(t, clientID, tk.Refresh); replay.Error != "invalid_grant" {
		t.Errorf("replayed refresh token: %+v", replay)
	}
	if after := e.refresh(t, clientID, next.Refresh); after.Error != "invalid_grant" {
		t.Errorf("refresh after reuse: %+v, want the family revoked", after)
	}
}

func TestRevocationAndConsentOnce(t *testing.T) {
	e := newEnv(t)
	clientID := e.newClient(t)
	p := newPKCE()
	tk := e.exchange(t, clientID, e.signIn(t, "alice", clientID, p), p)
	if tk.Refresh == "" {
		t.Fatalf("%+v", tk)
	}
	resp, err := http.PostForm(e.base+"/oauth/revoke", url.Values{"token": {tk.Refresh}, "token_type_hint": {"refresh_token"}, "client_id": {clientID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if after := e.refresh(t, clientID, tk.Refresh); after.Error != "invalid_grant" {
		t.Errorf("refresh after revocation: %+v", after)
	}
	// A second sign-in through the same client skips the consent page.
	redirect := "http://127.0.0.1:43210/callback"
	b := authztest.NewBrowser("alice", redirect)
	p2 := newPKCE()
	if _, err := b.Visit(e.authorizeURL(clientID, redirect, p2, nil)); err != nil {
		t.Fatal(err)
	}
	for _, page := range b.Pages {
		if strings.Contains(page, "/oauth/consent") {
			t.Errorf("consent asked again: %v", b.Pages)
		}
	}
}

func TestUnverifiedEmailDropped(t *testing.T) {
	e := newEnv(t)
	clientID := e.newClient(t)
	p := newPKCE()
	tk := e.exchange(t, clientID, e.signIn(t, "mallory", clientID, p), p)
	status, caller, _ := e.call(t, tk.Access)
	if status != http.StatusOK || caller.Subject != "mallory" || caller.Email != "" {
		t.Errorf("%d %+v: an unverified email must not reach the caller", status, caller)
	}
}

func TestDeniedConsent(t *testing.T) {
	e := newEnv(t)
	clientID := e.newClient(t)
	redirect := "http://127.0.0.1:43210/callback"
	b := authztest.NewBrowser("bob", redirect)
	b.Deny = true
	got, err := b.Visit(e.authorizeURL(clientID, redirect, newPKCE(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if got.Query().Get("error") != "access_denied" || got.Query().Get("code") != "" || got.Query().Get("state") != "st4te" {
		t.Errorf("deny: %s", got)
	}
}

// Hostile authorization requests are refused on a page, never redirected.
func TestHostileAuthorize(t *testing.T) {
	e := newEnv(t)
	clientID := e.newClient(t)
	p := newPKCE()
	tests := []struct {
		name     string
		client   string
		redirect string
		extra    url.Values
		want     string
	}{
		{"open redirect", clientID, "https://evil.example/steal", nil, "redirect_uri"},
		{"mismatched redirect path", clientID, "http://127.0.0.1:9/other", nil, "redirect_uri"},
		{"unknown client", "no-such-client", clientRedirect, nil, "client"},
		{"missing PKCE", clientID, clientRedirect, url.Values{"code_challenge": {""}, "code_challenge_method": {""}}, "PKCE is required"},
		{"plain PKCE", clientID, clientRedirect, url.Values{"code_challenge_method": {"plain"}}, "PKCE is required"},
		{"wrong resource", clientID, clientRedirect, url.Values{"resource": {"https://other.example/mcp"}}, "invalid_target"},
		{"implicit flow", clientID, clientRedirect, url.Values{"response_type": {"token"}}, "unsupported_response_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := authztest.NewBrowser("alice", "https://evil.example")
			_, err := b.Visit(e.authorizeURL(tt.client, tt.redirect, p, tt.extra))
			pe, ok := err.(*authztest.PageError)
			if !ok {
				t.Fatalf("got %v, want an error page", err)
			}
			if pe.Status != http.StatusBadRequest || !strings.Contains(pe.Body, tt.want) || !strings.HasPrefix(pe.URL, e.base) {
				t.Errorf("page %s %d %q, want 400 mentioning %q", pe.URL, pe.Status, pe.Body, tt.want)
			}
		})
	}
}

func TestHostileTokenRequests(t *testing.T) {
	e := newEnv(t)
	clientID := e.newClient(t)
	p := newPKCE()
	code := e.signIn(t, "alice", clientID, p)
	base := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
		"redirect_uri": {"http://127.0.0.1:43210/callback"}, "code_verifier": {p.verifier}, "resource": {e.resource},
	}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range base {
			f[key] = vals
		}
		f.Set(k, v)
		return f
	}
	// Each refused attempt uses the code: it is consumed by the first one.
	if tk := e.token(t, with("resource", "https://other.example/mcp")); tk.Error != "invalid_target" {
		t.Errorf("wrong resource: %+v", tk)
	}
	if tk := e.token(t, with("redirect_uri", "http://127.0.0.1:43210/other")); tk.Error != "invalid_grant" {
		t.Errorf("mismatched redirect_uri: %+v", tk)
	}
	if tk := e.token(t, base); tk.Error != "invalid_grant" {
		t.Errorf("the code after a failed exchange: %+v, want it spent", tk)
	}
	p2 := newPKCE()
	code2 := e.signIn(t, "alice", clientID, p2)
	bad := e.token(t, url.Values{
		"grant_type": {"authorization_code"}, "code": {code2}, "client_id": {clientID},
		"redirect_uri": {"http://127.0.0.1:43210/callback"}, "code_verifier": {p.verifier},
	})
	if bad.Error != "invalid_grant" {
		t.Errorf("wrong code_verifier: %+v", bad)
	}
}

func TestRegistrationRules(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, body string
		want       int
	}{
		{"loopback", `{"redirect_uris":["http://localhost:3000/cb","http://[::1]/cb"]}`, http.StatusCreated},
		{"https and private-use scheme", `{"redirect_uris":["https://app.example/cb","cursor://anysphere.cursor-retrieval/oauth/callback"]}`, http.StatusCreated},
		{"http off loopback", `{"redirect_uris":["http://app.example/cb"]}`, http.StatusBadRequest},
		{"javascript", `{"redirect_uris":["javascript:alert(1)"]}`, http.StatusBadRequest},
		{"fragment", `{"redirect_uris":["https://app.example/cb#x"]}`, http.StatusBadRequest},
		{"no redirect", `{"client_name":"x"}`, http.StatusBadRequest},
		{"confidential", `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"client_secret_basic"}`, http.StatusBadRequest},
		{"client credentials", `{"redirect_uris":["http://127.0.0.1/cb"],"grant_types":["client_credentials"]}`, http.StatusBadRequest},
		{"not json", `redirect_uris=x`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.register(t, tt.body)
			if status != tt.want {
				t.Errorf("%d %v, want %d", status, out, tt.want)
			}
			if status == http.StatusBadRequest && out["error"] == "" {
				t.Errorf("no error code: %v", out)
			}
		})
	}
}

// A disabled client's refresh tokens stop working at once, and it cannot
// start a sign-in; enabling it again lets its tokens refresh.
func TestDisabledClient(t *testing.T) {
	e := newEnv(t)
	clientID := e.newClient(t)
	p := newPKCE()
	tk := e.exchange(t, clientID, e.signIn(t, "alice", clientID, p), p)
	if _, err := e.store.SetClientState(context.Background(), clientID, authz.ClientDisabled); err != nil {
		t.Fatal(err)
	}
	if got := e.refresh(t, clientID, tk.Refresh); got.Error != "invalid_client" || got.status != http.StatusUnauthorized {
		t.Errorf("refresh of a disabled client: %+v, want 401 invalid_client", got)
	}
	b := authztest.NewBrowser("alice", "http://127.0.0.1:43210/callback")
	if _, err := b.Visit(e.authorizeURL(clientID, "http://127.0.0.1:43210/callback", newPKCE(), nil)); err == nil {
		t.Error("a disabled client started a sign-in")
	}
	if _, err := e.store.SetClientState(context.Background(), clientID, authz.ClientActive); err != nil {
		t.Fatal(err)
	}
	if got := e.refresh(t, clientID, tk.Refresh); got.status != http.StatusOK {
		t.Errorf("refresh after enabling: %+v", got)
	}
	if _, err := e.store.SetClientState(context.Background(), "no-such-client", authz.ClientDisabled); err != authz.ErrNotFound {
		t.Errorf("disabling an unknown client: %v, want ErrNotFound", err)
	}
}
