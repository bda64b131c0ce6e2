package authz

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kitegate/kitegate/internal/signing"
)

// Paths of the authorization server, under the issuer.
const (
	pathAuthorize = "/oauth/authorize"
	pathToken     = "/oauth/token"
	pathRevoke    = "/oauth/revoke"
	pathJWKS      = "/oauth/jwks"
	pathRegister  = "/oauth/register"
	pathLogin     = "/oauth/login"
	pathCallback  = "/oauth/callback"
	pathConsent   = "/oauth/consent"
	// The metadata documents: RFC 8414 and OpenID Connect discovery.
	pathASMetadata    = "/.well-known/oauth-authorization-server"
	pathOIDCDiscovery = "/.well-known/openid-configuration"
	// op's authorize callback: where a finished authorization gets its code.
	pathAuthorizeDone = pathAuthorize + "/callback"

	// groupsClaim names the groups in kitegate's own tokens.
	groupsClaim = "groups"
	// browserCookie binds a sign-in to the browser that started it.
	browserCookie = "kitegate_signin"
)

// DefaultScopes are the scopes kitegate advertises: "mcp" for the server,
// offline_access so clients ask for (and get) a refresh token.
var DefaultScopes = []string{"mcp", oidc.ScopeOfflineAccess}

// Config configures the authorization server.
type Config struct {
	// Issuer is kitegate's own issuer: the origin of the MCP URL
	// (https://host[:port], no path); endpoints live under /oauth/.
	Issuer string
	// Resource is the MCP URL: the only audience of the tokens (RFC 8707).
	Resource string
	// Scopes are advertised in both metadata documents (default DefaultScopes).
	Scopes         []string
	Store          *Store
	Keys           *signing.Keys
	Upstream       UpstreamConfig
	AccessTokenTTL time.Duration // default 15m
	SignInTTL      time.Duration // a refresh family's whole life, default 30 days
	// ClientMetadata fetches Client ID Metadata Documents
	// (NewMetadataFetcher); nil turns them off.
	ClientMetadata MetadataFetcher
	// ClientIdleClose closes a client unused for this long (0: never).
	ClientIdleClose time.Duration
	// ClientClosed, if set, records a client just closed after going
	// unused (policy.CloseClient: a policy change, audited like every
	// client change). A failure is logged; the client stays closed.
	ClientClosed func(ctx context.Context, c Client) error
	// ClientAllow is the software allow-list ("software_id:pattern",
	// "client_name:pattern", "metadata_host:pattern"); empty admits all.
	ClientAllow []string
	// UserDisabled, if set, says whether a person is switched off (the
	// policy's user kill switch): they cannot sign in or refresh.
	UserDisabled func(ctx context.Context, u User) bool
	// Tools, if set, names the tools a user would get under the current
	// policy, for the consent page.
	Tools  func(ctx context.Context, u User) ([]string, error)
	Logger *slog.Logger // nil discards
	Now    func() time.Time
}

// Server is kitegate's MCP authorization server.
type Server struct {
	cfg    Config
	store  *Store
	up     *upstream
	op     *op.Provider
	log    *slog.Logger
	now    func() time.Time
	secure bool // https issuer: cookies are Secure
	// scratch is what op signs with; serveToken signs again with KMS.
	scratch scratchKey
	allow   []allowRule
	// failedDocs remembers metadata documents that failed, so a broken or
	// hostile client_id is fetched at most once a metadataFailureTTL.
	failedDocs *lru.Cache[string, failedDoc]
}

// New checks cfg and builds the server. It makes no network call.
func New(cfg Config) (*Server, error) {
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || iss.Host == "" || (iss.Path != "" && iss.Path != "/") || iss.RawQuery != "" {
		return nil, fmt.Errorf("authz: issuer %q must be an origin (https://host[:port])", cfg.Issuer)
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	insecure := iss.Scheme == "http"
	if insecure && !loopback(iss.Hostname()) {
		return nil, fmt.Errorf("authz: issuer %q must use https (http only on a loopback address)", cfg.Issuer)
	}
	if cfg.Resource == "" {
		return nil, errors.New("authz: the resource (MCP URL) is required")
	}
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.New("authz: a store and signing keys are required")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if cfg.AccessTokenTTL == 0 {
		cfg.AccessTokenTTL = 15 * time.Minute
	}
	if cfg.SignInTTL == 0 {
		cfg.SignInTTL = 30 * 24 * time.Hour
	}
	if cfg.AccessTokenTTL < time.Minute || cfg.AccessTokenTTL > time.Hour {
		return nil, errors.New("authz: the access token lifetime must be from 1m to 1h")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	up, err := newUpstream(cfg.Upstream, cfg.Issuer+pathCallback)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	scratch, err := newScratchKey()
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	allow, err := parseAllowList(cfg.ClientAllow)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	failedDocs, err := lru.New[string, failedDoc](metadataFailureEntries)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	s := &Server{cfg: cfg, store: cfg.Store, up: up, log: cfg.Logger, now: cfg.Now, secure: !insecure, scratch: scratch, allow: allow, failedDocs: failedDocs}
	s.store.now = cfg.Now
	opts := []op.Option{
		op.WithCustomAuthEndpoint(op.NewEndpoint(strings.TrimPrefix(pathAuthorize, "/"))),
		op.WithCustomTokenEndpoint(op.NewEndpoint(strings.TrimPrefix(pathToken, "/"))),
		op.WithCustomRevocationEndpoint(op.NewEndpoint(strings.TrimPrefix(pathRevoke, "/"))),
		op.WithCustomKeysEndpoint(op.NewEndpoint(strings.TrimPrefix(pathJWKS, "/"))),
	}
	if insecure {
		opts = append(opts, op.WithAllowInsecure())
	}
	// CryptoKey encrypts op's opaque values (the code is an encrypted
	// request id). Codes are looked up by their hash, never decrypted, so a
	// key of each process's own is enough.
	var key [32]byte
	copy(key[:], randomID())
	provider, err := op.NewProvider(&op.Config{
		CryptoKey:             key,
		CodeMethodS256:        true,
		GrantTypeRefreshToken: true,
		SupportedScopes:       cfg.Scopes,
	}, &storage{s: s}, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	s.op = provider
	return s, nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Routes are the paths of the authorization server on the issuer's origin
// (one ending in "/": every path under it). API Gateway sends them to the
// authz function and the rest of the origin to the mcp function
// (template.yaml); a local front does the same (authztest.Front).
var Routes = []string{pathASMetadata, pathOIDCDiscovery, "/oauth/"}

// Routed reports whether path is one of Routes.
func Routed(path string) bool {
	for _, r := range Routes {
		if path == r || (strings.HasSuffix(r, "/") && strings.HasPrefix(path, r)) {
			return true
		}
	}
	return false
}

// Handler serves the authorization server's paths and the two metadata
// documents, and hands every other request to next.
func (s *Server) Handler(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(pathASMetadata, s.handleMetadata)
	mux.HandleFunc(pathOIDCDiscovery, s.handleMetadata)
	mux.HandleFunc(pathAuthorize, s.handleAuthorize)
	mux.Handle(pathAuthorizeDone, s.op)
	mux.HandleFunc(pathToken, s.handleToken)
	mux.Handle(pathRevoke, s.op)
	mux.Handle(pathJWKS, s.op)
	mux.HandleFunc(pathRegister, s.handleRegister)
	mux.HandleFunc(pathLogin, s.handleLogin)
	mux.HandleFunc(pathCallback, s.handleCallback)
	mux.HandleFunc(pathConsent, s.handleConsent)
	mux.Handle("/", next)
	return mux
}

// metadata is the RFC 8414 document (also served at the OpenID discovery path).
func (s *Server) metadata() map[string]any {
	iss := s.cfg.Issuer
	m := map[string]any{
		"issuer":                                     iss,
		"authorization_endpoint":                     iss + pathAuthorize,
		"token_endpoint":                             iss + pathToken,
		"registration_endpoint":                      iss + pathRegister,
		"revocation_endpoint":                        iss + pathRevoke,
		"jwks_uri":                                   iss + pathJWKS,
		"scopes_supported":                           s.cfg.Scopes,
		"response_types_supported":                   []string{"code"},
		"response_modes_supported":                   []string{"query"},
		"grant_types_supported":                      []string{"authorization_code", "refresh_token"},
		"token_endpoint_auth_methods_supported":      []string{"none"},
		"revocation_endpoint_auth_methods_supported": []string{"none"},
		"code_challenge_methods_supported":           []string{"S256"},
		"subject_types_supported":                    []string{"public"},
		"id_token_signing_alg_values_supported":      []string{string(signing.Algorithm)},
		"resource_parameter_supported":               true,
	}
	if s.cfg.ClientMetadata != nil {
		m["client_id_metadata_document_supported"] = true
	}
	return m
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	cors(w)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, s.metadata())
}

// handleAuthorize refuses what op would allow but the MCP authorization
// spec does not — no PKCE, plain PKCE, a resource other than the MCP URL —
// before op validates the client and its redirect URI. These refusals are
// shown, never redirected: the redirect URI is not yet checked.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		plainError(w, http.StatusBadRequest, "invalid_request", "the authorization request cannot be parsed")
		return
	}
	form := r.Form
	if form.Get("request") != "" || form.Get("request_uri") != "" {
		plainError(w, http.StatusBadRequest, "request_not_supported", "request objects are not supported")
		return
	}
	if rt := form.Get("response_type"); rt != "code" {
		plainError(w, http.StatusBadRequest, "unsupported_response_type", "response_type must be code")
		return
	}
	if form.Get("code_challenge") == "" || form.Get("code_challenge_method") != "S256" {
		plainError(w, http.StatusBadRequest, "invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256 (plain is not accepted)")
		return
	}
	if err := s.checkResource(form); err != nil {
		plainError(w, http.StatusBadRequest, "invalid_target", err.Error())
		return
	}
	// The client is looked up here too, so that a refused one (unknown,
	// switched off, a metadata document kitegate will not use) is told why;
	// op would say only "unable to retrieve client by id".
	c, err := s.client(r.Context(), form.Get("client_id"))
	if err != nil {
		if oe, ok := errors.AsType[*oidc.Error](err); ok {
			plainError(w, http.StatusBadRequest, string(oe.ErrorType), oe.Description)
			return
		}
		s.log.ErrorContext(r.Context(), "authz: look up client", "err", err)
		plainError(w, http.StatusInternalServerError, "server_error", "the client could not be looked up")
		return
	}
	// op's rule for native apps takes a loopback redirect URI on https for
	// one registered on http; kitegate's is RFC 8252's, checked before op
	// sees the request.
	if !redirectMatches(c.RedirectURIs, form.Get("redirect_uri")) {
		plainError(w, http.StatusBadRequest, "invalid_request", "redirect_uri is not one this client registered (only a loopback redirect URI's port may differ)")
		return
	}
	// Every client gets a refresh token: ask for it on the client's behalf.
	scopes := strings.Fields(form.Get("scope"))
	if len(scopes) == 0 {
		scopes = slices.Clone(s.cfg.Scopes)
	}
	if !slices.Contains(scopes, oidc.ScopeOfflineAccess) {
		scopes = append(scopes, oidc.ScopeOfflineAccess)
	}
	form.Set("scope", strings.Join(scopes, " "))
	form.Del("resource")
	r.Form, r.PostForm = form, url.Values{}
	r.URL.RawQuery = form.Encode()
	s.op.ServeHTTP(w, r)
}

// checkResource allows no resource (one audience only) or exactly ours.
func (s *Server) checkResource(form url.Values) error {
	for _, res := range form["resource"] {
		if res != s.cfg.Resource {
			return fmt.Errorf("resource %q is not served here; this server's resource is %s", res, s.cfg.Resource)
		}
	}
	return nil
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, registrationError{"invalid_request", "the token request cannot be parsed"})
			return
		}
		if err := s.checkResource(r.PostForm); err != nil {
			writeJSON(w, http.StatusBadRequest, registrationError{"invalid_target", err.Error()})
			return
		}
	}
	s.serveToken(w, r)
}

// handleLogin starts the upstream sign-in for a pending authorization.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, err := s.store.request(ctx, r.URL.Query().Get("id"))
	if err != nil || req.User != nil {
		plainError(w, http.StatusBadRequest, "invalid_request", "this sign-in has expired or was already used; start again from your client")
		return
	}
	browser := randomID()
	req.Browser = hash(browser)
	req.UpstreamVerifier = randomID()
	req.UpstreamNonce = randomID()
	target, err := s.up.authURL(ctx, req.ID, req.UpstreamNonce, req.UpstreamVerifier)
	if err != nil {
		s.log.ErrorContext(ctx, "authz: upstream sign-in unavailable", "err", err)
		plainError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the company sign-in cannot be reached right now")
		return
	}
	if err := s.store.putRequest(ctx, req); err != nil {
		s.log.ErrorContext(ctx, "authz: save sign-in", "err", err)
		plainError(w, http.StatusInternalServerError, "server_error", "the sign-in could not be saved")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: browserCookie, Value: browser, Path: "/oauth/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(requestLifetime / time.Second),
	})
	noStore(w)
	http.Redirect(w, r, target, http.StatusFound)
}

// boundRequest loads the pending authorization named by id and checks that
// this browser started it.
func (s *Server) boundRequest(r *http.Request, id string) (*authRequest, error) {
	req, err := s.store.request(r.Context(), id)
	if err != nil {
		return nil, err
	}
	c, err := r.Cookie(browserCookie)
	if err != nil || req.Browser == "" || subtle.ConstantTimeCompare([]byte(hash(c.Value)), []byte(req.Browser)) != 1 {
		return nil, errors.New("the sign-in was started in another browser")
	}
	return req, nil
}

// handleCallback finishes the upstream sign-in.
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	req, err := s.boundRequest(r, q.Get("state"))
	if err != nil || req.User != nil {
		s.log.InfoContext(ctx, "authz: callback refused", "err", err)
		plainError(w, http.StatusBadRequest, "invalid_request", "this sign-in has expired, was already used, or was started in another browser; start again from your client")
		return
	}
	if e := q.Get("error"); e != "" {
		s.log.InfoContext(ctx, "authz: the company IdP refused the sign-in", "error", e, "client_id", req.ClientID)
		s.redirectError(w, r, req, "access_denied", "the company sign-in was not completed")
		return
	}
	user, err := s.up.exchange(ctx, q.Get("code"), req.UpstreamVerifier, req.UpstreamNonce)
	if err != nil {
		s.log.ErrorContext(ctx, "authz: upstream sign-in failed", "err", err, "client_id", req.ClientID)
		plainError(w, http.StatusBadGateway, "server_error", "the company sign-in did not complete; try again")
		return
	}
	if s.userDisabled(ctx, user) {
		s.log.InfoContext(ctx, "authz: sign-in of a disabled user refused", "sub", user.Subject, "client_id", req.ClientID)
		s.redirectError(w, r, req, "access_denied", "your access to kitegate is disabled by an administrator")
		return
	}
	req.User, req.AuthTime, req.CSRF = &user, s.now().UTC(), randomID()
	req.UpstreamVerifier, req.UpstreamNonce = "", ""
	consented, err := s.store.consented(ctx, req.ClientID, user.Subject)
	if err != nil {
		s.log.ErrorContext(ctx, "authz: read consent", "err", err)
		plainError(w, http.StatusInternalServerError, "server_error", "the sign-in could not be saved")
		return
	}
	req.Consented = consented
	if err := s.store.putRequest(ctx, req); err != nil {
		s.log.ErrorContext(ctx, "authz: save sign-in", "err", err)
		plainError(w, http.StatusInternalServerError, "server_error", "the sign-in could not be saved")
		return
	}
	s.log.InfoContext(ctx, "authz: user signed in", "sub", user.Subject, "client_id", req.ClientID, "consent_needed", !consented)
	noStore(w)
	if consented {
		http.Redirect(w, r, s.cfg.Issuer+pathAuthorizeDone+"?id="+url.QueryEscape(req.ID), http.StatusFound)
		return
	}
	http.Redirect(w, r, s.cfg.Issuer+pathConsent+"?id="+url.QueryEscape(req.ID), http.StatusFound)
}

func (s *Server) userDisabled(ctx context.Context, u User) bool {
	return s.cfg.UserDisabled != nil && s.cfg.UserDisabled(ctx, u)
}

// redirectError sends an OAuth error to the client's (already validated)
// redirect URI.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, req *authRequest, code, description string) {
	u, err := url.Parse(req.RedirectURI)
	if err != nil {
		plainError(w, http.StatusBadRequest, code, description)
		return
	}
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", description)
	if req.State != "" {
		q.Set("state", req.State)
	}
	q.Set("iss", s.cfg.Issuer)
	u.RawQuery = q.Encode()
	_ = s.store.deleteRequest(r.Context(), req.ID)
	noStore(w)
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, MCP-Protocol-Version")
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	noStore(w)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// plainError answers a browser with text: OAuth error code and a sentence.
func plainError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	noStore(w)
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "%s: %s\n", code, description)
}

// reuse handles a refresh token redeemed twice: the family is revoked, so
// the thief's and the owner's tokens both stop working.
func (s *Server) reuse(ctx context.Context, rt refreshToken) {
	if err := s.store.revokeFamily(ctx, rt.Family, "refresh token reused"); err != nil {
		s.log.ErrorContext(ctx, "authz: revoke family after reuse", "err", err)
		return
	}
	s.log.WarnContext(ctx, "authz: refresh token reused; its family is revoked", "client_id", rt.ClientID, "sub", rt.User.Subject)
}

// csrfEqual compares a form's anti-CSRF token with the stored one.
func csrfEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return b != "" && subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
