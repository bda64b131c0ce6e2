// Package config parses the mcp and authz functions' configuration from
// the environment once, at start, and validates it before anything is served.
package config

import (
	"net"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// Config is the mcp function's configuration (Load), or the authz
// function's (LoadAuthz). The variable behind each
// field is named in its comment.
type Config struct {
	// OnLambda is true when AWS_LAMBDA_RUNTIME_API is set.
	OnLambda bool
	// Addr is the local listen address (KITEGATE_ADDR, default 127.0.0.1:8080).
	Addr string
	// ResourceURL is this server's MCP URL, the audience of caller tokens
	// (KITEGATE_RESOURCE_URL; default http://<Addr>/mcp locally, required on Lambda).
	ResourceURL string

	// AuthMode is how callers are authenticated (KITEGATE_AUTH_MODE):
	// "gateway" (kitegate is the authorization server, users sign in at
	// the company IdP; the default when KITEGATE_UPSTREAM_ISSUER is set),
	// "resource-server" (tokens from the company IdP; the default when
	// KITEGATE_OIDC_ISSUER is set) or "local" (dev identity; never on Lambda).
	AuthMode string

	// Gateway mode: the mcp function reads Issuer (the tokens it accepts),
	// the authz function (LoadAuthz) all of these.
	// Issuer is kitegate's own issuer (KITEGATE_ISSUER, default the origin of ResourceURL).
	Issuer string
	// UpstreamIssuer is the company IdP (KITEGATE_UPSTREAM_ISSUER), written exactly as its iss.
	UpstreamIssuer string
	// UpstreamClientID is kitegate's client at the IdP (KITEGATE_UPSTREAM_CLIENT_ID).
	UpstreamClientID string
	// UpstreamSecretID is the Secrets Manager secret of its client secret (KITEGATE_UPSTREAM_SECRET_ID).
	UpstreamSecretID string
	// UpstreamClientSecret is the client secret itself, local only (KITEGATE_UPSTREAM_CLIENT_SECRET).
	UpstreamClientSecret string
	// UpstreamScopes are asked of the IdP (KITEGATE_UPSTREAM_SCOPES, default "openid email profile").
	UpstreamScopes []string
	// UpstreamUserInfo also reads the IdP's userinfo endpoint (KITEGATE_UPSTREAM_USERINFO=true).
	UpstreamUserInfo bool
	// AuthTable holds the authorization server's state (KITEGATE_AUTH_TABLE).
	AuthTable string
	// SigningKeys are KMS key ids: the first signs, all are published (KITEGATE_SIGNING_KEYS, comma separated).
	SigningKeys []string
	// AccessTokenTTL is the life of kitegate's access tokens (KITEGATE_ACCESS_TOKEN_TTL, default 15m).
	AccessTokenTTL time.Duration
	// SignInTTL is how long a sign-in's refresh tokens last before the user signs in again (KITEGATE_SIGNIN_TTL, default 720h).
	SignInTTL time.Duration
	// ClientIdleClose closes an AI client unused this long, revoking its
	// refresh tokens (KITEGATE_CLIENT_IDLE_CLOSE, default 2160h = 90 days;
	// 0 never closes).
	ClientIdleClose time.Duration
	// ClientAllow is the deployment's allow-list of client software
	// (KITEGATE_CLIENT_ALLOW, comma separated "software_id:pattern",
	// "client_name:pattern" or "metadata_host:pattern"); empty admits all.
	ClientAllow []string

	// OIDCIssuer is the company IdP whose tokens are accepted in
	// resource-server mode (KITEGATE_OIDC_ISSUER).
	OIDCIssuer string
	// Scopes are advertised in the metadata and the 401 challenge in
	// resource-server mode (KITEGATE_OIDC_SCOPES, space or comma separated);
	// gateway mode advertises the scopes its authorization server grants.
	Scopes []string
	// OIDCAudience defaults to ResourceURL (KITEGATE_OIDC_AUDIENCE).
	OIDCAudience string
	// OIDCJWKSURL skips discovery when set (KITEGATE_OIDC_JWKS_URL).
	OIDCJWKSURL string
	// OIDCMaxTokenLifetime refuses tokens valid for longer
	// (KITEGATE_OIDC_MAX_TOKEN_LIFETIME, default 24h).
	OIDCMaxTokenLifetime time.Duration
	// OIDCTokenType, when "at+jwt", requires the RFC 9068 typ header on the
	// IdP's access tokens (KITEGATE_OIDC_TOKEN_TYPE; default none: JWT or no
	// typ accepted too, ID tokens still refused by their claims).
	OIDCTokenType string
	// OIDCIntrospectionURL turns on RFC 7662 introspection of opaque access
	// tokens (KITEGATE_OIDC_INTROSPECTION_URL), as the client
	// OIDCIntrospectionClientID (KITEGATE_OIDC_INTROSPECTION_CLIENT_ID) whose
	// secret is in Secrets Manager (KITEGATE_OIDC_INTROSPECTION_SECRET_ID) or,
	// locally, the environment (KITEGATE_OIDC_INTROSPECTION_CLIENT_SECRET).
	// Answers are kept at most OIDCIntrospectionTTL
	// (KITEGATE_OIDC_INTROSPECTION_TTL, default 1m) and never past exp.
	OIDCIntrospectionURL          string
	OIDCIntrospectionClientID     string
	OIDCIntrospectionSecretID     string
	OIDCIntrospectionClientSecret string
	OIDCIntrospectionTTL          time.Duration
	// GroupClaim names the claim holding groups (KITEGATE_GROUP_CLAIM, default groups).
	GroupClaim string
	// DevUser is the local caller without a token file (KITEGATE_DEV_USER, default dev@localhost).
	DevUser string
	// DevGroups are the local caller's groups (KITEGATE_DEV_GROUPS, comma separated, default engineering).
	DevGroups []string
	// DevTokenFile maps bearer tokens to local users (KITEGATE_DEV_TOKENS).
	DevTokenFile string

	// BuildkiteToken is a token given directly (BUILDKITE_API_TOKEN, local only).
	BuildkiteToken string
	// BuildkiteTokenFile is a file holding the token (BUILDKITE_API_TOKEN_FILE).
	BuildkiteTokenFile string
	// BuildkiteSecretID is the Secrets Manager secret of the token (KITEGATE_BUILDKITE_SECRET_ID).
	BuildkiteSecretID string
	// BuildkiteAPIURL overrides the API base URL (BUILDKITE_API_URL).
	BuildkiteAPIURL string
	// TokenTTL is how long the token is cached (KITEGATE_TOKEN_TTL, default 5m).
	TokenTTL time.Duration
	// BuildkiteTimeout bounds each Buildkite request (KITEGATE_BUILDKITE_TIMEOUT, default 10s).
	BuildkiteTimeout time.Duration
	// ArtifactHosts are the hosts artifact downloads may be fetched from
	// (KITEGATE_ARTIFACT_HOSTS, comma separated path.Match patterns such as
	// *.s3.amazonaws.com; empty: Buildkite's and Amazon S3's, egress.ArtifactHosts).
	ArtifactHosts []string

	// PolicyFile seeds the embedded store (KITEGATE_POLICY_FILE; default: the policy built in).
	PolicyFile string
	// StateDir holds the embedded policy store (KITEGATE_STATE_DIR, default .local/state; /tmp/kitegate on Lambda).
	StateDir string
	// PolicyTTL is the longest a policy change takes to bite (KITEGATE_POLICY_TTL, default 5s).
	PolicyTTL time.Duration
	// AuditFile is the local audit log (KITEGATE_AUDIT_FILE, default .local/audit.jsonl;
	// on Lambda the audit goes to standard output).
	AuditFile string

	// PolicyTable is the DynamoDB policy table (KITEGATE_POLICY_TABLE); empty
	// means the embedded store in StateDir.
	PolicyTable string
	// AuditTable is the DynamoDB audit table (KITEGATE_AUDIT_TABLE); empty
	// means the JSON-lines AuditFile.
	AuditTable string
	// AuditRetentionDays is how long audit items live (KITEGATE_AUDIT_RETENTION_DAYS, default 365).
	AuditRetentionDays int
	// RateLimitTable holds the rate-limit counters (KITEGATE_RATE_LIMIT_TABLE);
	// empty means no rate limits.
	RateLimitTable string
	// BuildkiteCallsPerMinute is the token user's budget (KITEGATE_BUILDKITE_CALLS_PER_MINUTE, default 50).
	BuildkiteCallsPerMinute int
	// BuildkiteOrgCallsPerMinute is each organization's budget (KITEGATE_BUILDKITE_ORG_CALLS_PER_MINUTE, default 200).
	BuildkiteOrgCallsPerMinute int
	// CallerCallsPerMinute caps one caller's share of the token budget
	// (KITEGATE_CALLER_CALLS_PER_MINUTE, default half the token budget).
	CallerCallsPerMinute int

	// AllowedOrigins are browser origins allowed to call (KITEGATE_ALLOWED_ORIGINS, comma separated).
	AllowedOrigins []string
	// MaxBodyBytes caps request bodies (KITEGATE_MAX_BODY_BYTES, default 1048576).
	MaxBodyBytes int64
	// LogLevel is debug, info, warn or error (KITEGATE_LOG_LEVEL, default info).
	LogLevel string
}

// Authentication modes.
const (
	ModeGateway        = "gateway"
	ModeResourceServer = "resource-server"
	ModeLocal          = "local"
)

// DevMode reports whether callers are not authenticated at all.
func (c Config) DevMode() bool { return c.AuthMode == ModeLocal }

// Load reads the configuration through lookup (os.LookupEnv in main).
func Load(lookup func(string) (string, bool)) (Config, error) {
	e := NewEnv(lookup)
	c := Config{
		OnLambda:                      e.String("AWS_LAMBDA_RUNTIME_API", "") != "",
		Addr:                          e.String("KITEGATE_ADDR", "127.0.0.1:8080"),
		OIDCIssuer:                    e.String("KITEGATE_OIDC_ISSUER", ""),
		OIDCJWKSURL:                   e.String("KITEGATE_OIDC_JWKS_URL", ""),
		GroupClaim:                    e.String("KITEGATE_GROUP_CLAIM", "groups"),
		OIDCMaxTokenLifetime:          e.Duration("KITEGATE_OIDC_MAX_TOKEN_LIFETIME", 24*time.Hour),
		OIDCTokenType:                 e.String("KITEGATE_OIDC_TOKEN_TYPE", ""),
		OIDCIntrospectionURL:          e.String("KITEGATE_OIDC_INTROSPECTION_URL", ""),
		OIDCIntrospectionClientID:     e.String("KITEGATE_OIDC_INTROSPECTION_CLIENT_ID", ""),
		OIDCIntrospectionSecretID:     e.String("KITEGATE_OIDC_INTROSPECTION_SECRET_ID", ""),
		OIDCIntrospectionClientSecret: e.String("KITEGATE_OIDC_INTROSPECTION_CLIENT_SECRET", ""),
		OIDCIntrospectionTTL:          e.Duration("KITEGATE_OIDC_INTROSPECTION_TTL", time.Minute),
		DevUser:                       e.String("KITEGATE_DEV_USER", "dev@localhost"),
		DevGroups:                     list(e.String("KITEGATE_DEV_GROUPS", "engineering")),
		DevTokenFile:                  e.String("KITEGATE_DEV_TOKENS", ""),
		BuildkiteToken:                e.String("BUILDKITE_API_TOKEN", ""),
		BuildkiteTokenFile:            e.String("BUILDKITE_API_TOKEN_FILE", ""),
		BuildkiteSecretID:             e.String("KITEGATE_BUILDKITE_SECRET_ID", ""),
		BuildkiteAPIURL:               e.String("BUILDKITE_API_URL", ""),
		TokenTTL:                      e.Duration("KITEGATE_TOKEN_TTL", 5*time.Minute),
		BuildkiteTimeout:              e.Duration("KITEGATE_BUILDKITE_TIMEOUT", 10*time.Second),
		PolicyFile:                    e.String("KITEGATE_POLICY_FILE", ""),
		PolicyTTL:                     e.Duration("KITEGATE_POLICY_TTL", 5*time.Second),
		AllowedOrigins:                list(e.String("KITEGATE_ALLOWED_ORIGINS", "")),
		ArtifactHosts:                 list(e.String("KITEGATE_ARTIFACT_HOSTS", "")),
		LogLevel:                      e.String("KITEGATE_LOG_LEVEL", "info"),
	}
	whole := func(k string, def, lo, hi int) int {
		v := e.String(k, "")
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			e.Failf("%s: want a whole number from %d to %d", k, lo, hi)
			return def
		}
		return n
	}
	c.PolicyTable = e.String("KITEGATE_POLICY_TABLE", "")
	c.AuditTable = e.String("KITEGATE_AUDIT_TABLE", "")
	c.AuditRetentionDays = whole("KITEGATE_AUDIT_RETENTION_DAYS", 365, 1, 36500)
	c.RateLimitTable = e.String("KITEGATE_RATE_LIMIT_TABLE", "")
	c.BuildkiteCallsPerMinute = whole("KITEGATE_BUILDKITE_CALLS_PER_MINUTE", 50, 1, 100000)
	c.BuildkiteOrgCallsPerMinute = whole("KITEGATE_BUILDKITE_ORG_CALLS_PER_MINUTE", 200, 1, 100000)
	c.CallerCallsPerMinute = whole("KITEGATE_CALLER_CALLS_PER_MINUTE", 0, 0, 100000)
	c.ResourceURL = e.String("KITEGATE_RESOURCE_URL", "")
	if c.ResourceURL == "" && !c.OnLambda {
		c.ResourceURL = "http://" + c.Addr + "/mcp"
	}
	c.OIDCAudience = e.String("KITEGATE_OIDC_AUDIENCE", c.ResourceURL)
	c.loadAuth(e)
	stateDefault, auditDefault := ".local/state", ".local/audit.jsonl"
	if c.OnLambda {
		stateDefault, auditDefault = "/tmp/kitegate", ""
	}
	c.StateDir = e.String("KITEGATE_STATE_DIR", stateDefault)
	c.AuditFile = e.String("KITEGATE_AUDIT_FILE", auditDefault)

	n, err := strconv.ParseInt(e.String("KITEGATE_MAX_BODY_BYTES", "1048576"), 10, 64)
	if err != nil || n < 1024 || n > 6<<20 {
		e.Failf("KITEGATE_MAX_BODY_BYTES: want a whole number of bytes from 1024 to 6291456 (API Gateway's payload limit)")
	}
	c.MaxBodyBytes = n
	if c.BuildkiteTimeout <= 0 || c.BuildkiteTimeout > 25*time.Second {
		e.Failf("KITEGATE_BUILDKITE_TIMEOUT: want more than 0 and at most 25s, inside API Gateway's 30s")
	}
	checkLogLevel(e, c.LogLevel)
	if c.ResourceURL != "" {
		if u, err := url.Parse(c.ResourceURL); err != nil || u.Scheme == "" || u.Host == "" {
			e.Failf("KITEGATE_RESOURCE_URL: %q is not an absolute URL", c.ResourceURL)
		}
	}
	if c.OnLambda {
		if c.AuthMode == ModeLocal {
			e.Failf("KITEGATE_UPSTREAM_ISSUER (gateway mode) or KITEGATE_OIDC_ISSUER (resource-server mode) is required on Lambda: callers must be authenticated")
		}
		if c.ResourceURL == "" {
			e.Failf("KITEGATE_RESOURCE_URL is required on Lambda")
		}
		if c.BuildkiteSecretID == "" {
			e.Failf("KITEGATE_BUILDKITE_SECRET_ID is required on Lambda")
		}
		if c.BuildkiteToken != "" {
			e.Failf("BUILDKITE_API_TOKEN must not be set on Lambda: keep the token in Secrets Manager")
		}
		// Without them the function would serve the policy built into the
		// binary and write the audit only to its log: fail closed instead.
		if c.PolicyTable == "" {
			e.Failf("KITEGATE_POLICY_TABLE is required on Lambda")
		}
		if c.AuditTable == "" {
			e.Failf("KITEGATE_AUDIT_TABLE is required on Lambda")
		}
	}
	if !c.OnLambda && c.DevMode() && !loopback(c.Addr) {
		// Without OIDC every caller is the dev user (or whoever holds a
		// line of the dev token file): never on an address others reach.
		e.Failf("KITEGATE_ADDR: %q is not a loopback address; serving beyond this machine needs authenticated callers (KITEGATE_OIDC_ISSUER)", c.Addr)
	}
	if c.OIDCIntrospectionURL != "" {
		if c.OIDCIntrospectionClientID == "" || (c.OIDCIntrospectionSecretID == "") == (c.OIDCIntrospectionClientSecret == "") {
			e.Failf("KITEGATE_OIDC_INTROSPECTION_URL needs KITEGATE_OIDC_INTROSPECTION_CLIENT_ID and one of KITEGATE_OIDC_INTROSPECTION_SECRET_ID or KITEGATE_OIDC_INTROSPECTION_CLIENT_SECRET")
		}
		if c.OnLambda && c.OIDCIntrospectionClientSecret != "" {
			e.Failf("KITEGATE_OIDC_INTROSPECTION_CLIENT_SECRET must not be set on Lambda: keep the secret in Secrets Manager (KITEGATE_OIDC_INTROSPECTION_SECRET_ID)")
		}
		if c.OIDCIntrospectionTTL <= 0 || c.OIDCIntrospectionTTL > time.Hour {
			e.Failf("KITEGATE_OIDC_INTROSPECTION_TTL: want more than 0 and at most 1h (a revoked token is accepted at most this long)")
		}
	}
	for _, h := range c.ArtifactHosts {
		if _, err := path.Match(h, ""); err != nil {
			e.Failf("KITEGATE_ARTIFACT_HOSTS: %q is not a host pattern", h)
		}
	}
	return c, e.Err()
}

func checkLogLevel(e *Env, level string) {
	switch level {
	case "debug", "info", "warn", "error":
	default:
		e.Failf("KITEGATE_LOG_LEVEL: %q is not debug, info, warn or error", level)
	}
}

// loopback reports whether addr (host:port) listens on loopback only. An
// empty host (":8080") listens everywhere.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
