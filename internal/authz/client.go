package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// opClient is the op view of a registered client: public (PKCE, no
// secret), native redirect rules (RFC 8252: loopback on any port, https,
// private-use schemes), code and refresh grants, JWT access tokens.
type opClient struct {
	c Client
	s *Server
}

var _ op.Client = (*opClient)(nil)

func (o *opClient) GetID() string                       { return o.c.ID }
func (o *opClient) RedirectURIs() []string              { return o.c.RedirectURIs }
func (o *opClient) PostLogoutRedirectURIs() []string    { return nil }
func (o *opClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeNative }
func (o *opClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodNone }
func (o *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (o *opClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (o *opClient) LoginURL(id string) string {
	return o.s.cfg.Issuer + pathLogin + "?id=" + url.QueryEscape(id)
}
func (o *opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (o *opClient) IDTokenLifetime() time.Duration      { return o.s.cfg.AccessTokenTTL }
func (o *opClient) DevMode() bool                       { return false }
func (o *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (o *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (o *opClient) IsScopeAllowed(scope string) bool     { return slices.Contains(o.s.cfg.Scopes, scope) }
func (o *opClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (o *opClient) ClockSkew() time.Duration             { return 0 }

// client returns an active registered client. An unknown or switched-off
// client is an OAuth invalid_client error (op answers it as such, 401 at
// the token endpoint); a table failure stays a server error.
func (s *Server) client(ctx context.Context, id string) (Client, error) {
	if id == "" || len(id) > 512 {
		return Client{}, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	var c Client
	var err error
	if isMetadataURL(id) && s.cfg.ClientMetadata != nil {
		c, err = s.metadataClient(ctx, id)
	} else {
		c, err = s.store.Client(ctx, id)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Client{}, oidc.ErrInvalidClient().WithDescription("unknown client")
		}
		return Client{}, err
	}
	if s.idle(c) {
		if err := s.closeIdle(ctx, c); err != nil {
			return Client{}, err
		}
		c.State = ClientClosed
	}
	switch c.State {
	case ClientActive:
	case ClientClosed:
		return Client{}, oidc.ErrInvalidClient().WithDescription("this client was closed after going unused (or by an administrator); register again, or ask an administrator to enable it")
	default:
		return Client{}, oidc.ErrInvalidClient().WithDescription("this client is %s by an administrator", c.State)
	}
	if !s.allowed(c) {
		return Client{}, errNotAllowed()
	}
	return c, nil
}

// registration is an RFC 7591 request, as far as kitegate reads it.
type registration struct {
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
}

// registrationError is an RFC 7591 §3.2.2 error.
type registrationError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *registrationError) Error() string { return e.Code + ": " + e.Description }

func badMetadata(format string, args ...any) error {
	return &registrationError{"invalid_client_metadata", fmt.Sprintf(format, args...)}
}

const (
	maxRegistrationBytes = 16 << 10
	maxRedirectURIs      = 10
	maxNameLength        = 200
)

// check validates a registration: public clients only, the code and
// refresh grants only, redirect URIs by RFC 8252 only.
func (r *registration) check() error {
	if len(r.RedirectURIs) == 0 {
		return &registrationError{"invalid_redirect_uri", "redirect_uris is required"}
	}
	if len(r.RedirectURIs) > maxRedirectURIs {
		return &registrationError{"invalid_redirect_uri", fmt.Sprintf("at most %d redirect_uris", maxRedirectURIs)}
	}
	for _, u := range r.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return &registrationError{"invalid_redirect_uri", err.Error()}
		}
	}
	switch r.TokenEndpointAuthMethod {
	case "", "none":
	default:
		return badMetadata("token_endpoint_auth_method %q is not supported: kitegate registers public clients (none), which prove themselves with PKCE", r.TokenEndpointAuthMethod)
	}
	for _, g := range r.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			return badMetadata("grant type %q is not supported (authorization_code and refresh_token are)", g)
		}
	}
	for _, t := range r.ResponseTypes {
		if t != "code" {
			return badMetadata("response type %q is not supported (code is)", t)
		}
	}
	for _, s := range []*string{&r.ClientName, &r.ClientURI, &r.SoftwareID, &r.SoftwareVersion} {
		if len(*s) > maxNameLength {
			return badMetadata("client metadata values are limited to %d characters", maxNameLength)
		}
		if strings.ContainsFunc(*s, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			return badMetadata("client metadata must not contain control characters")
		}
	}
	return nil
}

// checkRedirectURI accepts the redirect URIs of RFC 8252 and nothing else:
// http on a loopback IP literal or localhost (any port at use, §7.3),
// https (claimed URLs, §7.2), and private-use schemes (§7.1) that are not a
// scheme a browser would run or fetch itself. No fragment, no user info.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("redirect URI %q is not an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q must not have a fragment", raw)
	}
	if u.User != nil {
		return fmt.Errorf("redirect URI %q must not carry user information", raw)
	}
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "http":
		if loopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("redirect URI %q: http is allowed only on a loopback address (RFC 8252 §7.3); use https", raw)
	case "https":
		if u.Host == "" {
			return fmt.Errorf("redirect URI %q has no host", raw)
		}
		return nil
	case "javascript", "data", "vbscript", "file", "about", "blob", "ftp", "ws", "wss", "filesystem", "view-source":
		return fmt.Errorf("redirect URI %q: scheme %s is not a private-use scheme", raw, scheme)
	default:
		return nil // a desktop client's own scheme (cursor://, vscode://, com.example.app:/)
	}
}

// redirectMatches says whether redirect, as sent to the authorization
// endpoint, is one of the registered URIs: the same string or, for a
// registered http loopback URI, the same scheme, host, path and query on
// another port (RFC 8252 §7.3: the port is picked at run time). No user
// information and no fragment, ever.
func redirectMatches(registered []string, redirect string) bool {
	if redirect == "" || strings.Contains(redirect, "#") {
		return false
	}
	if slices.Contains(registered, redirect) {
		return true
	}
	u, err := url.Parse(redirect)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Opaque != "" {
		return false
	}
	for _, raw := range registered {
		reg, err := url.Parse(raw)
		if err != nil || reg.Scheme != "http" || !loopbackHost(reg.Hostname()) {
			continue
		}
		if u.Host != reg.Host && u.Hostname() == reg.Hostname() && u.EscapedPath() == reg.EscapedPath() && u.RawQuery == reg.RawQuery {
			return true
		}
	}
	return false
}

// loopbackHost is localhost or a loopback IP literal.
func loopbackHost(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// handleRegister is RFC 7591 dynamic client registration for public clients.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	cors(w)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, registrationError{"invalid_request", "use POST"})
		return
	}
	var reg registration
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRegistrationBytes))
	if err := dec.Decode(&reg); err != nil {
		writeJSON(w, http.StatusBadRequest, registrationError{"invalid_client_metadata", "the body must be a JSON object of client metadata (at most 16 KB)"})
		return
	}
	if err := reg.check(); err != nil {
		e, _ := errors.AsType[*registrationError](err)
		writeJSON(w, http.StatusBadRequest, e)
		return
	}
	if !s.allowed(Client{Name: reg.ClientName, SoftwareID: reg.SoftwareID, Source: SourceDynamic}) {
		s.log.InfoContext(r.Context(), "authz: registration refused by the allow-list", "client_name", reg.ClientName, "software_id", reg.SoftwareID)
		writeJSON(w, http.StatusBadRequest, registrationError{"invalid_client_metadata", "this client software is not on this deployment's allow-list (by software_id or client_name); ask an administrator"})
		return
	}
	now := s.now().UTC()
	c := Client{
		ID:              randomID(),
		Name:            reg.ClientName,
		URI:             reg.ClientURI,
		SoftwareID:      reg.SoftwareID,
		SoftwareVersion: reg.SoftwareVersion,
		RedirectURIs:    reg.RedirectURIs,
		Source:          SourceDynamic,
		State:           ClientActive,
		Created:         now,
		ExpiresAt:       now.Add(unusedClientLifetime).Unix(),
	}
	if err := s.store.PutClient(r.Context(), c); err != nil {
		s.log.ErrorContext(r.Context(), "authz: register client", "err", err)
		writeJSON(w, http.StatusInternalServerError, registrationError{"server_error", "the client could not be registered"})
		return
	}
	s.log.InfoContext(r.Context(), "authz: client registered", "client_id", c.ID, "client_name", c.Name, "software_id", c.SoftwareID)
	writeJSON(w, http.StatusCreated, map[string]any{
		"client_id":                  c.ID,
		"client_id_issued_at":        now.Unix(),
		"client_name":                c.Name,
		"redirect_uris":              c.RedirectURIs,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
		"scope":                      strings.Join(s.cfg.Scopes, " "),
	})
}
