package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/kitegate/kitegate/internal/admin"
	"github.com/kitegate/kitegate/internal/authz"
	"github.com/kitegate/kitegate/internal/authz/authztest"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/egress"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/signing"
	"github.com/kitegate/kitegate/internal/signing/signingtest"
	"github.com/kitegate/kitegate/internal/tables"
)

// gatewayEnv runs kitegate in gateway mode as deployed: the authorization
// server and the mcp function behind one origin routed as API Gateway
// routes them, DynamoDB Local for every table, local-kms for the signing
// key, oidc-provider as the company IdP.
type gatewayEnv struct {
	*dynamoEnv
	kms       *signingtest.Calls
	authTable string
}

// metadataOptions are the options of the authorization server's metadata
// document fetcher (TestSignInTypeScriptSDKMetadataDocument sets a test
// resolver).
var metadataOptions []egress.Option

func startGateway(t *testing.T) *gatewayEnv {
	t.Helper()
	authztest.Dir(t)
	kmsClient, kmsCalls := signingtest.Server(t)
	key := signingtest.SigningKey(t, kmsClient)
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + front.Addr().String()
	idp := authztest.IdP(t, "kitegate", "upstream-secret", origin+"/oauth/callback")
	db := dynamotest.Client(t)
	authTable := dynamotest.NewTable(t, db, tables.Auth)
	e := startWithDynamoDB(t, "", map[string]string{
		"KITEGATE_RESOURCE_URL": origin + "/mcp",
		"KITEGATE_AUTH_MODE":    "gateway",
		"KITEGATE_LOG_LEVEL":    "error",
		"KITEGATE_POLICY_TTL":   killSwitchTTL.String(),
	})
	mcpURL, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}

	// The authorization server, wired as functions/authz wires it.
	keys, err := signing.New(kmsClient, []string{key})
	if err != nil {
		t.Fatal(err)
	}
	metadata, err := authz.NewMetadataFetcher(metadataOptions...)
	if err != nil {
		t.Fatal(err)
	}
	cache := policy.NewCache(policystore.NewDynamoDB(db, e.tables.Policy), killSwitchTTL, nil)
	as, err := authz.New(authz.Config{
		Issuer:   origin,
		Resource: origin + "/mcp",
		Store:    authz.NewStore(db, authTable),
		Keys:     keys,
		Upstream: authz.UpstreamConfig{
			Issuer: idp, ClientID: "kitegate", Scopes: []string{"openid", "email", "groups"}, GroupClaim: "groups",
			ClientSecret: func(context.Context) (string, error) { return "upstream-secret", nil },
		},
		ClientMetadata: metadata,
		UserDisabled: func(ctx context.Context, u authz.User) bool {
			snap, err := cache.Snapshot(ctx)
			return err != nil || snap.UserDisabled(policy.Subject{ID: u.Subject, Email: u.Email, Groups: u.Groups})
		},
		Tools: func(ctx context.Context, u authz.User) ([]string, error) {
			snap, err := cache.Snapshot(ctx)
			if err != nil {
				return nil, err
			}
			return snap.Allowed(snap.Profiles(policy.Subject{ID: u.Subject, Email: u.Email, Groups: u.Groups})), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	authzSrv := httptest.NewServer(as.Handler(http.NotFoundHandler()))
	t.Cleanup(authzSrv.Close)
	authzURL, _ := url.Parse(authzSrv.URL)

	srv := &http.Server{Handler: authztest.Front(authzURL, mcpURL), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(front) }()
	t.Cleanup(func() { _ = srv.Close() })
	e.url = origin
	return &gatewayEnv{dynamoEnv: e, kms: kmsCalls, authTable: authTable}
}

// killSwitchTTL is the policy TTL of the gateway tests: how long a client
// kill switch may take to bite.
const killSwitchTTL = 300 * time.Millisecond

// admin runs an operator command (make clients, client-disable) on the
// gateway's tables.
func (g *gatewayEnv) admin(t *testing.T, args ...string) string {
	t.Helper()
	env := map[string]string{"KITEGATE_POLICY_TABLE": g.tables.Policy, "KITEGATE_AUTH_TABLE": g.authTable, "KITEGATE_ACTOR": "ops@example.com"}
	var out bytes.Buffer
	err := admin.Run(t.Context(), args, admin.Env{
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		OSUser: func() (string, error) { return "os-user", nil },
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		AWSOptions: []func(*awsconfig.LoadOptions) error{
			awsconfig.WithRegion("us-east-1"),
			awsconfig.WithBaseEndpoint(dynamotest.Endpoint(t)),
			awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
		},
	})
	if err != nil {
		t.Fatalf("kitegate-admin %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// clientRun is what infra/local/signin/client.mjs reports.
type clientRun struct {
	Steps             []string          `json:"steps"`
	ClientID          string            `json:"client_id"`
	Tools             []string          `json:"tools"`
	FirstCallError    bool              `json:"first_call_error"`
	AccessToken       string            `json:"access_token"`
	HasRefreshToken   bool              `json:"has_refresh_token"`
	AfterExpiryErr    bool              `json:"call_after_expiry_error"`
	Refreshed         bool              `json:"refreshed"`
	AuthorizeCount    int               `json:"authorize_count"`
	AuthorizeParams   map[string]string `json:"authorize_params"`
	Replay            map[string]any    `json:"replay"`
	AfterReplay       map[string]any    `json:"after_replay"`
	SignInRequests    map[string]int    `json:"signin_requests"`
	ConsentListsTools bool              `json:"consent_lists_tools"`
	RegisterCalls     int               `json:"register_calls"`
	ConsentNamesDoc   bool              `json:"consent_names_document"`
	Error             string            `json:"error"`
}

func (g *gatewayEnv) signIn(t *testing.T, user string, args ...string) clientRun {
	t.Helper()
	out := authztest.Run(t, nil, "client.mjs", append([]string{g.url + "/mcp", user}, args...)...)
	var r clientRun
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("client.mjs printed %q: %v", out, err)
	}
	if r.Error != "" {
		t.Fatalf("client.mjs: %s\nsteps %v", r.Error, r.Steps)
	}
	return r
}

// The TypeScript SDK's OAuth client, given only the URL, registers itself,
// signs in at the IdP through kitegate, calls tools, refreshes silently
// after its access token stops working, and a replayed refresh token
// revokes the family. The audit names the client.
func TestSignInTypeScriptSDK(t *testing.T) {
	g := startGateway(t)
	r := g.signIn(t, "dev")
	t.Logf("sign-in HTTP round trips (first POST /mcp to a connected client): %v", r.SignInRequests)
	if want := []string{"registered", "authorize", "kitegate consent page", "signed in"}; !slices.Equal(r.Steps, want) {
		t.Errorf("steps %v, want %v", r.Steps, want)
	}
	if p := r.AuthorizeParams; p["code_challenge_method"] != "S256" || p["resource"] != g.url+"/mcp" || p["scope"] != "mcp offline_access" {
		t.Errorf("authorization request %v: want S256, the MCP URL as resource, and the advertised scopes", p)
	}
	if !r.ConsentListsTools {
		t.Error("the consent page does not list the tools the policy gives the user")
	}
	if !slices.Contains(r.Tools, "list_builds") || r.FirstCallError {
		t.Errorf("tools %v, first call error %v", r.Tools, r.FirstCallError)
	}
	if !r.HasRefreshToken || !r.Refreshed || r.AfterExpiryErr || r.AuthorizeCount != 1 {
		t.Errorf("refresh: has %v, refreshed %v, call error %v, authorizations %d (want one: the refresh is silent)", r.HasRefreshToken, r.Refreshed, r.AfterExpiryErr, r.AuthorizeCount)
	}
	if r.Replay["error"] != "invalid_grant" || r.AfterReplay["error"] != "invalid_grant" {
		t.Errorf("replayed refresh token: %v; the client's current one after it: %v (want both refused)", r.Replay, r.AfterReplay)
	}
	var named bool
	for _, ev := range g.auditEvents(t) {
		if ev.Tool == "list_builds" && ev.User.Subject == "dev" {
			named = ev.Client.ID == r.ClientID && ev.Client.Name == "kitegate sign-in test"
		}
	}
	if !named {
		t.Errorf("no audit event of dev's list_builds names the client %s", r.ClientID)
	}

	// A warm tools/call with kitegate's token costs what it costs with any
	// token: the audit put and the rate-limit update; no KMS, no auth table.
	cs := g.connect(t, r.AccessToken)
	if _, err := listBuilds(t.Context(), cs); err != nil {
		t.Fatal(err)
	}
	g.calls.Reset()
	signs, pubs := g.kms.Count("Sign"), g.kms.Count("GetPublicKey")
	res, err := listBuilds(t.Context(), cs)
	if err != nil || res.IsError {
		t.Fatalf("warm call: %v %+v", err, res)
	}
	// The gateway tests run a short policy TTL (for the kill switch), so a
	// slow machine may see the policy's one Query when the TTL lapses: that
	// is per TTL, not per call.
	got := g.calls.Counts()
	if got["PutItem"] != 1 || got["UpdateItem"] != 1 || got["Query"] > 1 || len(got) != 2+min(got["Query"], 1) {
		t.Errorf("warm tools/call AWS calls %v, want one PutItem (audit) and one UpdateItem (rate limit), and at most the policy TTL's Query", got)
	}
	if g.kms.Count("Sign") != signs || g.kms.Count("GetPublicKey") != pubs {
		t.Error("a warm call reached KMS")
	}

	// The registry lists the client with its user; the kill switch locks
	// it out: its access token's calls are denied within the policy TTL
	// (through the snapshot, no per-call lookup), it sees no tools, and it
	// cannot start a new sign-in.
	if list := g.admin(t, "clients"); !strings.Contains(list, r.ClientID) || !strings.Contains(list, "kitegate sign-in test") || !strings.Contains(list, "active") {
		t.Errorf("make clients:\n%s", list)
	}
	g.admin(t, "client-disable", r.ClientID, "-note", "lost laptop")
	time.Sleep(killSwitchTTL + 50*time.Millisecond)
	if _, err := listBuilds(t.Context(), cs); err == nil || !strings.Contains(err.Error(), "client") {
		t.Errorf("a call after client-disable: %v, want it denied (client disabled)", err)
	}
	if tl, err := cs.ListTools(t.Context(), nil); err != nil || len(tl.Tools) != 0 {
		t.Errorf("tools/list after client-disable: %v %v, want none", tl, err)
	}
	var denied bool
	for _, ev := range g.auditEvents(t) {
		denied = denied || (ev.Reason == policy.ReasonClientDisabled && ev.Client.ID == r.ClientID)
	}
	if !denied {
		t.Error("no audit event denied as client_disabled")
	}
	if list := g.admin(t, "clients"); !strings.Contains(list, "disabled") {
		t.Errorf("make clients after client-disable:\n%s", list)
	}
	resp, err := http.Get(g.url + "/oauth/authorize?response_type=code&client_id=" + r.ClientID +
		"&redirect_uri=http%3A%2F%2F127.0.0.1%3A45678%2Fcallback&code_challenge=abcdefghijabcdefghijabcdefghijabcdefghij123&code_challenge_method=S256&scope=mcp")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "client") {
		t.Errorf("authorize for a disabled client: %d %q, want 400 naming the client", resp.StatusCode, body)
	}
}

// TestGatewayMetadata: the function's
// PRM names kitegate as the authorization server, with its scopes.
func TestGatewayMetadata(t *testing.T) {
	g := startGateway(t)
	resp, err := http.Get(g.url + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		Scopes               []string `json:"scopes_supported"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&prm)
	if prm.Resource != g.url+"/mcp" || !slices.Equal(prm.AuthorizationServers, []string{g.url}) || !slices.Equal(prm.Scopes, []string{"mcp", "offline_access"}) {
		t.Errorf("PRM %+v", prm)
	}
}

// signedIn checks what every sign-in path must give the TypeScript SDK's
// client: its tools, a working call, a silent refresh after its access
// token stops working, and an audit event naming the client.
func (g *gatewayEnv) signedIn(t *testing.T, r clientRun, clientID, clientName string) {
	t.Helper()
	if r.ClientID != clientID {
		t.Errorf("client id %q, want %q", r.ClientID, clientID)
	}
	if !slices.Contains(r.Tools, "list_builds") || r.FirstCallError {
		t.Errorf("tools %v, first call error %v", r.Tools, r.FirstCallError)
	}
	if !r.HasRefreshToken || !r.Refreshed || r.AfterExpiryErr || r.AuthorizeCount != 1 {
		t.Errorf("refresh: has %v, refreshed %v, call error %v, authorizations %d", r.HasRefreshToken, r.Refreshed, r.AfterExpiryErr, r.AuthorizeCount)
	}
	var named bool
	for _, ev := range g.auditEvents(t) {
		named = named || (ev.Tool == "list_builds" && ev.Client.ID == clientID && ev.Client.Name == clientName)
	}
	if !named {
		t.Errorf("no audit event of list_builds names the client %s (%s)", clientID, clientName)
	}
}

// The TypeScript SDK's OAuth client signs in with a Client ID Metadata
// Document: its client_id is an https URL kitegate fetches, no
// registration. A metadata URL must be https on a public address, which a
// test on loopback cannot serve; so the document is served by a TLS server
// on 127.0.0.1 under the name example.com (httptest's certificate is valid
// for it, and only kitegate's fetcher trusts that certificate), and the
// fetcher gets egress.ResolveForTesting through metadataOptions (the
// authorization server runs in the test process): example.com resolves to a public address, which
// the production address rules still judge and pass, and the connection
// then goes to the loopback server. The same document under a name mapped
// to 127.0.0.1 is refused. The production rules themselves (no test
// resolver: loopback, private, size, mismatched client_id) are tested in
// internal/authz.
func TestSignInTypeScriptSDKMetadataDocument(t *testing.T) {
	var fetches atomic.Int64
	var docURL string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if r.URL.Path != "/kitegate-client.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=600")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id": docURL, "client_name": "kitegate metadata client", "software_id": "kitegate-signin-test",
			"redirect_uris": []string{"http://127.0.0.1:45678/callback"}, "token_endpoint_auth_method": "none",
			"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		})
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	docURL = "https://example.com" + port + "/kitegate-client.json"
	metadataOptions = []egress.Option{egress.ResolveForTesting(map[string]netip.Addr{
		"example.com":       netip.MustParseAddr("93.184.215.14"),
		"local.example.com": netip.MustParseAddr("127.0.0.1"),
	}, pool)}
	t.Cleanup(func() { metadataOptions = nil })
	g := startGateway(t)

	r := g.signIn(t, "dev", "--metadata-url", docURL)
	t.Logf("sign-in HTTP round trips with a metadata document: %v", r.SignInRequests)
	if want := []string{"metadata document URL as client id", "authorize", "kitegate consent page", "signed in"}; !slices.Equal(r.Steps, want) {
		t.Errorf("steps %v, want %v", r.Steps, want)
	}
	if r.RegisterCalls != 0 {
		t.Errorf("the client registered %d times, want none", r.RegisterCalls)
	}
	g.signedIn(t, r, docURL, "kitegate metadata client")
	if !r.ConsentNamesDoc {
		t.Error("the consent page does not name the metadata document the client's name comes from")
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("kitegate fetched the document %d times, want once (kept for its max-age)", n)
	}
	if list := g.admin(t, "clients"); !strings.Contains(list, docURL) || !strings.Contains(list, "metadata") {
		t.Errorf("make clients:\n%s", list)
	}

	resp, err := http.Get(g.url + "/oauth/authorize?response_type=code&client_id=https%3A%2F%2Flocal.example.com%3A" + strings.TrimPrefix(port, ":") +
		"%2Fkitegate-client.json&redirect_uri=http%3A%2F%2F127.0.0.1%3A45678%2Fcallback&code_challenge=abcdefghijabcdefghijabcdefghijabcdefghij123&code_challenge_method=S256&scope=mcp")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "loopback") {
		t.Errorf("authorize with a document on a loopback address: %d %q, want 400 saying loopback", resp.StatusCode, body)
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("the refused document was fetched (%d fetches)", n)
	}
}

// The TypeScript SDK's OAuth client signs in as a pre-registered client:
// an administrator declares it (make client-add), the client is configured
// with that id and never registers.
func TestSignInTypeScriptSDKPreregistered(t *testing.T) {
	g := startGateway(t)
	g.admin(t, "client-add", "kitegate-cli", "-name", "kitegate CLI", "-redirects", "http://127.0.0.1/callback")
	r := g.signIn(t, "dev", "--client-id", "kitegate-cli")
	t.Logf("sign-in HTTP round trips as a pre-registered client: %v", r.SignInRequests)
	if want := []string{"authorize", "kitegate consent page", "pre-registered id bound to the issuer", "signed in"}; !slices.Equal(r.Steps, want) {
		t.Errorf("steps %v, want %v", r.Steps, want)
	}
	if r.RegisterCalls != 0 {
		t.Errorf("the client registered %d times, want none", r.RegisterCalls)
	}
	g.signedIn(t, r, "kitegate-cli", "kitegate CLI")
	if list := g.admin(t, "clients"); !strings.Contains(list, "kitegate-cli") || !strings.Contains(list, "preregistered") {
		t.Errorf("make clients:\n%s", list)
	}

	// The user kill switch. With someone else switched off the policy
	// carries a USER item, and a warm call still costs only the audit put
	// and the rate-limit update: the switch rides on the snapshot.
	g.admin(t, "user-disable", "mallory@example.com", "-note", "left the company")
	cs := g.connect(t, r.AccessToken)
	if _, err := listBuilds(t.Context(), cs); err != nil {
		t.Fatal(err)
	}
	g.calls.Reset()
	if res, err := listBuilds(t.Context(), cs); err != nil || res.IsError {
		t.Fatalf("warm call: %v %+v", err, res)
	}
	got := g.calls.Counts()
	t.Logf("AWS calls of a warm tools/call with a user kill switch in the policy: %v", got)
	if got["PutItem"] != 1 || got["UpdateItem"] != 1 || got["Query"] > 1 || len(got) != 2+min(got["Query"], 1) {
		t.Errorf("warm tools/call AWS calls %v, want one PutItem (audit) and one UpdateItem (rate limit), and at most the policy TTL's Query", got)
	}
	// Switching dev off: their access token's calls are denied within the
	// policy TTL, they see no tools, and their refresh tokens are revoked.
	out := g.admin(t, "user-disable", "dev", "-note", "offboarded")
	if !strings.Contains(out, "revoked") {
		t.Errorf("user-disable said %q", out)
	}
	time.Sleep(killSwitchTTL + 50*time.Millisecond)
	if _, err := listBuilds(t.Context(), cs); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("a call after user-disable: %v, want it denied", err)
	}
	if tl, err := cs.ListTools(t.Context(), nil); err != nil || len(tl.Tools) != 0 {
		t.Errorf("tools/list after user-disable: %v %v, want none", tl, err)
	}
	var denied bool
	for _, ev := range g.auditEvents(t) {
		denied = denied || (ev.Reason == policy.ReasonUserDisabled && ev.User.Subject == "dev")
	}
	if !denied {
		t.Error("no audit event denied as user_disabled")
	}
}

// The mcp function advertises the scopes kitegate's authorization server
// grants without linking it.
func TestGatewayScopes(t *testing.T) {
	if !slices.Equal(gatewayScopes, authz.DefaultScopes) {
		t.Errorf("gatewayScopes %v, authz.DefaultScopes %v", gatewayScopes, authz.DefaultScopes)
	}
}
