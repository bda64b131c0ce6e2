package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// OIDCConfig configures an OIDC authenticator.
type OIDCConfig struct {
	Issuer   string // exact iss
	Audience string // this server's resource URL; aud must contain it exactly
	JWKSURL  string // if empty: discovered from Issuer + /.well-known/openid-configuration
	// Keys, if set, supplies the public keys in process instead of a JWKS
	// fetch: kitegate's own tokens, whose keys it reads from KMS once.
	Keys       func(context.Context) ([]jose.JSONWebKey, error)
	GroupClaim string        // default "groups"; a string array or a space/comma separated string
	EmailClaim string        // default "email"
	Algorithms []string      // default RS256, ES256; asymmetric only (HS* and none are refused)
	HTTPClient *http.Client  // must have a timeout; default one with 5s
	Leeway     time.Duration // clock skew allowed on exp, nbf and iat, default 30s
	// MaxLifetime refuses a token valid for longer: exp − iat, and exp −
	// now (default DefaultMaxLifetime).
	MaxLifetime time.Duration
	// Misconfigured, if set, hears of a configuration error seen from the
	// outside (a *ConfigError): the provider's discovery document names
	// another issuer (Check), or every verified token in a row names
	// another issuer or audience than configured. Callers still get 401.
	Misconfigured func(context.Context, *ConfigError)
	// Introspection, if set, accepts opaque (non-JWT) access tokens through
	// the IdP's RFC 7662 introspection endpoint.
	Introspection *IntrospectionConfig
	// TokenType is the "typ" header access tokens must carry: TypeAccessToken
	// (RFC 9068's at+jwt; kitegate's own tokens, and any IdP that follows
	// RFC 9068), or "" for IdPs whose access tokens say JWT or nothing. Either
	// way a token carrying what only ID tokens carry is refused (idTokenOnly).
	TokenType string
	Now       func() time.Time
}

// DefaultMaxLifetime is the longest token lifetime accepted by default:
// access tokens live minutes to hours; one valid for days is a leak waiting
// to happen, or not an access token.
const DefaultMaxLifetime = 24 * time.Hour

// asymmetricAlgs are the only algorithms OIDC will verify: with a public key
// set, a symmetric algorithm would make the public key a shared secret.
var asymmetricAlgs = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
}

// OIDC authenticates JWT access tokens issued by an OpenID Connect provider.
type OIDC struct {
	cfg      OIDCConfig
	algs     []jose.SignatureAlgorithm
	keys     *keySet
	verifier *oidc.IDTokenVerifier
	mismatch mismatchRun
	// introspect is nil unless opaque tokens are introspected.
	introspect *introspector
}

var _ Authenticator = (*OIDC)(nil)

// NewOIDC validates cfg and returns an authenticator. It makes no network
// call: discovery and the key set are fetched on first use, so a cold start
// stays fast and an unreachable provider does not stop the server.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("oidc: issuer is required")
	}
	if cfg.Audience == "" {
		return nil, errors.New("oidc: audience is required")
	}
	if err := checkFetchURL(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("oidc: issuer: %w", err)
	}
	if cfg.JWKSURL != "" {
		if err := checkFetchURL(cfg.JWKSURL); err != nil {
			return nil, fmt.Errorf("oidc: jwks url: %w", err)
		}
	}
	if cfg.GroupClaim == "" {
		cfg.GroupClaim = "groups"
	}
	if cfg.EmailClaim == "" {
		cfg.EmailClaim = "email"
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{"RS256", "ES256"}
	}
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	algs := make([]jose.SignatureAlgorithm, 0, len(cfg.Algorithms))
	for _, a := range cfg.Algorithms {
		if !slices.Contains(asymmetricAlgs, a) {
			return nil, fmt.Errorf("oidc: algorithm %q is not allowed (want one of %s)", a, strings.Join(asymmetricAlgs, ", "))
		}
		algs = append(algs, jose.SignatureAlgorithm(a))
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	} else if cfg.HTTPClient.Timeout <= 0 {
		return nil, errors.New("oidc: http client must have a timeout")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	} else if cfg.Leeway < 0 {
		return nil, errors.New("oidc: leeway must not be negative")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch cfg.TokenType {
	case "", TypeAccessToken:
	default:
		return nil, fmt.Errorf("oidc: token type %q: want %q or none", cfg.TokenType, TypeAccessToken)
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	} else if cfg.MaxLifetime < 0 {
		return nil, errors.New("oidc: max lifetime must not be negative")
	}

	o := &OIDC{
		cfg:  cfg,
		algs: algs,
		keys: newKeySet(cfg.HTTPClient, cfg.Issuer, cfg.JWKSURL, algs, cfg.Now),
	}
	o.keys.source = cfg.Keys
	if cfg.Introspection != nil {
		in, err := newIntrospector(*cfg.Introspection, cfg.HTTPClient, cfg.Now)
		if err != nil {
			return nil, fmt.Errorf("oidc: %w", err)
		}
		o.introspect = in
	}
	o.verifier = oidc.NewVerifier(cfg.Issuer, o.keys, &oidc.Config{
		ClientID:             cfg.Audience,
		SupportedSigningAlgs: cfg.Algorithms,
		// iss and aud are compared below, once the signature is verified:
		// a token the provider signed for another issuer or audience is a
		// sign of misconfiguration, which a forged one is not.
		SkipIssuerCheck:   true,
		SkipClientIDCheck: true,
		// go-oidc checks exp against this clock with no leeway; running it
		// Leeway behind gives exp the leeway. nbf is checked below.
		Now: func() time.Time { return cfg.Now().Add(-cfg.Leeway) },
	})
	return o, nil
}

// Authenticate verifies the request's bearer token and returns its Caller.
func (o *OIDC) Authenticate(ctx context.Context, r *http.Request) (Caller, error) {
	token, err := bearerToken(r)
	if err != nil {
		return Caller{}, err
	}
	if !compactJWS(token) {
		if o.introspect != nil {
			return o.introspected(ctx, token)
		}
		return Caller{}, invalid("malformed token", nil)
	}
	// Parsing with the allow-list rejects "none", HS* and anything else not
	// configured before any key is looked at.
	jws, err := jose.ParseSignedCompact(token, o.algs)
	if err != nil {
		return Caller{}, invalid("malformed token or unsupported algorithm", err)
	}
	h := jws.Signatures[0].Header
	if err := o.checkType(h.ExtraHeaders[jose.HeaderType]); err != nil {
		return Caller{}, err
	}
	// A token must name its key: without a kid it would be tried against
	// every key of the set, and a provider that signs with several keys
	// always names them.
	if h.KeyID == "" {
		return Caller{}, invalid("token has no key id", nil)
	}
	if err := o.keys.ensure(ctx, h.KeyID); err != nil {
		return Caller{}, fmt.Errorf("verify token: %w", err)
	}
	if !o.keys.known(h.KeyID) {
		return Caller{}, invalid("unknown signing key", fmt.Errorf("kid %q", h.KeyID))
	}

	idt, err := o.verifier.Verify(ctx, token)
	if err != nil {
		if _, ok := errors.AsType[*oidc.TokenExpiredError](err); ok {
			return Caller{}, invalid("token expired", err)
		}
		return Caller{}, invalid("token verification failed", err)
	}
	if err := o.checkIssuerAndAudience(ctx, idt.Issuer, idt.Audience); err != nil {
		return Caller{}, err
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Caller{}, invalid("malformed claims", err)
	}
	c, err := o.caller(idt.Subject, claims)
	if err == nil {
		o.mismatch.reset()
	}
	return c, err
}

// Check fetches what the first request would — the provider's OpenID
// configuration and key set — and returns what stops tokens from being
// verified: a *ConfigError when the discovery document names another issuer
// than configured. With a JWKS URL configured there is no discovery to
// compare; with in-process keys nothing is fetched.
func (o *OIDC) Check(ctx context.Context) error {
	if o.cfg.Keys != nil {
		return nil
	}
	err := o.keys.ensure(ctx, "")
	if ce, ok := errors.AsType[*ConfigError](err); ok && o.cfg.Misconfigured != nil {
		o.cfg.Misconfigured(ctx, ce)
	}
	return err
}

// checkIssuerAndAudience compares a verified token's iss and aud with the
// configuration, and counts the refusals in a row: when every verified
// token names the same wrong issuer or audience, it is the configuration
// that is wrong, and Misconfigured hears of it.
func (o *OIDC) checkIssuerAndAudience(ctx context.Context, iss string, aud []string) error {
	var ce *ConfigError
	switch {
	case iss != o.cfg.Issuer:
		ce = &ConfigError{Claim: "iss", Want: o.cfg.Issuer, Seen: clip(iss)}
	case !slices.Contains(aud, o.cfg.Audience):
		ce = &ConfigError{Claim: "aud", Want: o.cfg.Audience, Seen: clip(strings.Join(aud, " "))}
	default:
		return nil
	}
	if report := o.mismatch.add(o.cfg.Now(), ce); report != nil && o.cfg.Misconfigured != nil {
		o.cfg.Misconfigured(ctx, report)
	}
	return invalid("token verification failed", fmt.Errorf("%s %q, want %q", ce.Claim, ce.Seen, ce.Want))
}

// ConfigError says the provider and the configuration disagree.
type ConfigError struct {
	Claim      string // "iss" or "aud"
	Want, Seen string
	// Tokens is how many verified tokens in a row showed it (0 when the
	// discovery document did).
	Tokens int
	Source string // where it was seen, when not in tokens
}

func (e *ConfigError) Error() string {
	what := map[string]string{"iss": "issuer", "aud": "audience"}[e.Claim]
	if e.Tokens == 0 {
		return fmt.Sprintf("%s names the issuer %q, not the configured %q", e.Source, e.Seen, e.Want)
	}
	return fmt.Sprintf("the last %d tokens signed by the provider all had %s %q, not the configured %q", e.Tokens, what, e.Seen, e.Want)
}

// Reporting a mismatch run: from this many verified tokens refused in a
// row (and none accepted), at most once per mismatchEvery.
const (
	mismatchTokens = 5
	mismatchEvery  = time.Minute
)

// mismatchRun counts verified tokens refused for iss or aud since the last
// accepted one.
type mismatchRun struct {
	mu       sync.Mutex
	n        int
	reported time.Time
}

func (m *mismatchRun) add(now time.Time, ce *ConfigError) *ConfigError {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	if m.n < mismatchTokens || now.Sub(m.reported) < mismatchEvery {
		return nil
	}
	m.reported = now
	r := *ce
	r.Tokens = m.n
	return &r
}

func (m *mismatchRun) reset() {
	m.mu.Lock()
	m.n = 0
	m.mu.Unlock()
}

// clip caps a value a token or a document chose before it is reported.
func clip(s string) string {
	if len(s) > 256 {
		return s[:256] + "…"
	}
	return s
}

// checkLifetime refuses what go-oidc lets through: exp or iat that are not
// JSON numbers, iat in the future, and a lifetime over MaxLifetime.
func (o *OIDC) checkLifetime(claims map[string]any) error {
	now := o.cfg.Now()
	e, ok := claims["exp"].(float64)
	if !ok {
		return invalid("malformed claims", errors.New("exp is not a number"))
	}
	exp := time.Unix(int64(e), 0)
	if exp.Sub(now) > o.cfg.MaxLifetime+o.cfg.Leeway {
		return invalid("token lifetime too long", fmt.Errorf("exp %s is more than %s away", exp.UTC().Format(time.RFC3339), o.cfg.MaxLifetime))
	}
	v, ok := claims["iat"]
	if !ok {
		return nil
	}
	i, ok := v.(float64)
	if !ok {
		return invalid("malformed claims", errors.New("iat is not a number"))
	}
	iat := time.Unix(int64(i), 0)
	if iat.After(now.Add(o.cfg.Leeway)) {
		return invalid("token issued in the future", nil)
	}
	if exp.Sub(iat) > o.cfg.MaxLifetime {
		return invalid("token lifetime too long", fmt.Errorf("exp - iat = %s", exp.Sub(iat)))
	}
	return nil
}

// caller checks what go-oidc leaves to us and reads the claims we need.
func (o *OIDC) caller(sub string, claims map[string]any) (Caller, error) {
	if claim := idTokenOnly(claims); claim != "" {
		return Caller{}, invalid("not an access token", fmt.Errorf("the token carries %s, as ID tokens do", claim))
	}
	if nbf, ok := claims["nbf"]; ok {
		n, ok := nbf.(float64)
		if !ok {
			return Caller{}, invalid("malformed claims", errors.New("nbf is not a number"))
		}
		if o.cfg.Now().Add(o.cfg.Leeway).Before(time.Unix(int64(n), 0)) {
			return Caller{}, invalid("token not yet valid", nil)
		}
	}
	if err := o.checkLifetime(claims); err != nil {
		return Caller{}, err
	}
	if sub == "" {
		return Caller{}, invalid("token has no subject", nil)
	}
	c := Caller{Subject: sub, Source: SourceOIDC}
	// The OAuth client the token was issued to (RFC 9068 client_id, or
	// azp), and the registry's name for it in kitegate's own tokens.
	c.ClientID, _ = claims["client_id"].(string)
	if c.ClientID == "" {
		c.ClientID, _ = claims["azp"].(string)
	}
	c.ClientName, _ = claims["client_name"].(string)
	if v, ok := claims[o.cfg.EmailClaim]; ok {
		email, ok := v.(string)
		if !ok {
			return Caller{}, invalid("malformed claims", fmt.Errorf("%s is not a string", o.cfg.EmailClaim))
		}
		// Profiles match on email, so only one the provider says it has
		// verified counts: email_verified must be the boolean true (a
		// missing claim, false, or the string "true" do not count).
		if verified, ok := claims["email_verified"].(bool); ok && verified {
			c.Email = email
		}
	}
	groups, err := groupsClaim(claims[o.cfg.GroupClaim])
	if err != nil {
		return Caller{}, invalid("malformed claims", fmt.Errorf("%s: %w", o.cfg.GroupClaim, err))
	}
	c.Groups = groups
	return c, nil
}

// groupsClaim reads a group claim: an array of strings, or one string of
// names separated by spaces or commas (as scope-like claims are).
func groupsClaim(v any) ([]string, error) {
	var names []string
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		names = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %v is not a string", e)
			}
			names = append(names, s)
		}
	default:
		return nil, fmt.Errorf("%T is neither a string nor an array", v)
	}
	var groups []string
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(groups, n) {
			groups = append(groups, n)
		}
	}
	return groups, nil
}

// compactJWS reports whether token has the shape header.payload.signature in
// base64url, so nothing else (JWS JSON, JWE, junk) reaches the parser.
func compactJWS(token string) bool {
	parts := 0
	for _, part := range strings.Split(token, ".") {
		parts++
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return parts == 3
}

// TypeAccessToken is the "typ" of a JWT access token (RFC 9068 §2.1).
const TypeAccessToken = "at+jwt"

// checkType checks the "typ" header (nil when absent). With TokenType set
// it must be at+jwt (RFC 9068 §4: "application/at+jwt" is the same type);
// without, JWT and at+jwt are accepted, as is no typ at all — which is
// what many IdPs put on their access tokens — but nothing else (an ID
// token's typ is JWT or absent; dpop+jwt, JOSE, … are not access tokens).
func (o *OIDC) checkType(typ any) error {
	if typ == nil {
		if o.cfg.TokenType != "" {
			return invalid("unexpected token type", fmt.Errorf("no typ header, want %s", o.cfg.TokenType))
		}
		return nil
	}
	s, ok := typ.(string)
	if !ok {
		return invalid("unexpected token type", fmt.Errorf("typ %v", typ))
	}
	s = strings.TrimPrefix(strings.ToLower(s), "application/")
	if s == TypeAccessToken || (o.cfg.TokenType == "" && s == "jwt") {
		return nil
	}
	return invalid("unexpected token type", fmt.Errorf("typ %q", typ))
}

// idTokenOnly names a claim that marks an OpenID Connect ID token rather
// than an access token, or returns "". An ID token is for its client, not
// for a resource server, even when its aud names the resource (a client id
// equal to the MCP URL) — and an IdP that puts no typ on its tokens cannot
// be told apart by the header. nonce, at_hash and c_hash exist only in ID
// tokens (OIDC Core §2, §3.1.3.6, §3.3.2.11; RFC 9068 §2.2 has none of
// them); Amazon Cognito says token_use "id", Keycloak says typ "ID" (and
// "Bearer" on its access tokens, which may carry a nonce).
func idTokenOnly(claims map[string]any) string {
	// A provider that marks its access tokens is taken at its word:
	// Keycloak's access tokens may carry the sign-in's nonce too.
	if use, _ := claims["token_use"].(string); use == "access" {
		return ""
	}
	if typ, _ := claims["typ"].(string); strings.EqualFold(typ, "Bearer") {
		return ""
	}
	for _, c := range []string{"nonce", "at_hash", "c_hash"} {
		if _, ok := claims[c]; ok {
			return c
		}
	}
	if use, _ := claims["token_use"].(string); use != "" && use != "access" {
		return "token_use " + strconv.Quote(use)
	}
	if typ, _ := claims["typ"].(string); strings.EqualFold(typ, "ID") {
		return `typ claim "ID"`
	}
	return ""
}
