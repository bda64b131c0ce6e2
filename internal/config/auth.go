package config

import (
	"net/url"
	"strings"
	"time"
)

// loadAuth reads the authentication mode and its settings.
func (c *Config) loadAuth(e *Env) {
	c.UpstreamIssuer = e.String("KITEGATE_UPSTREAM_ISSUER", "")
	def := ModeLocal
	switch {
	case c.UpstreamIssuer != "":
		def = ModeGateway
	case c.OIDCIssuer != "":
		def = ModeResourceServer
	}
	c.AuthMode = e.String("KITEGATE_AUTH_MODE", def)
	c.Scopes = list(strings.ReplaceAll(e.String("KITEGATE_OIDC_SCOPES", ""), " ", ","))
	switch c.AuthMode {
	case ModeLocal:
		if c.OIDCIssuer != "" || c.UpstreamIssuer != "" {
			e.Failf("KITEGATE_AUTH_MODE=local: unset KITEGATE_OIDC_ISSUER and KITEGATE_UPSTREAM_ISSUER, or choose their mode")
		}
	case ModeResourceServer:
		if c.OIDCIssuer == "" {
			e.Failf("KITEGATE_AUTH_MODE=resource-server needs KITEGATE_OIDC_ISSUER")
		}
	case ModeGateway:
		c.loadGateway(e)
	default:
		e.Failf("KITEGATE_AUTH_MODE: %q is not gateway, resource-server or local", c.AuthMode)
	}
}

// loadGateway reads what the mcp function needs in gateway mode: the
// issuer of the tokens it accepts. The authorization server itself is the
// authz function (LoadAuthz).
func (c *Config) loadGateway(e *Env) {
	if c.OIDCIssuer != "" {
		e.Failf("KITEGATE_OIDC_ISSUER is for resource-server mode; in gateway mode the company IdP is KITEGATE_UPSTREAM_ISSUER")
	}
	c.Issuer = e.String("KITEGATE_ISSUER", origin(c.ResourceURL))
}

// origin is the scheme and host of u, "" when u has none.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// LoadAuthz reads the authz function's configuration (kitegate's
// authorization server in gateway mode) through lookup: the MCP URL its
// tokens are for, the company IdP, its table and signing keys, and the
// policy table the consent page reads.
func LoadAuthz(lookup func(string) (string, bool)) (Config, error) {
	e := NewEnv(lookup)
	c := Config{
		OnLambda:    e.OnLambda(),
		AuthMode:    ModeGateway,
		Addr:        e.String("KITEGATE_ADDR", "127.0.0.1:8081"),
		ResourceURL: e.Require("KITEGATE_RESOURCE_URL", ": the MCP URL, the audience of the tokens"),
		GroupClaim:  e.String("KITEGATE_GROUP_CLAIM", "groups"),
		PolicyTable: e.Require("KITEGATE_POLICY_TABLE", ": the policy (the consent page's tools, the user kill switch)"),
		PolicyTTL:   e.Duration("KITEGATE_POLICY_TTL", 5*time.Second),
		LogLevel:    e.String("KITEGATE_LOG_LEVEL", "info"),
	}
	c.UpstreamIssuer = e.Require("KITEGATE_UPSTREAM_ISSUER", ": the company IdP users sign in at")
	if c.ResourceURL != "" && origin(c.ResourceURL) == "" {
		e.Failf("KITEGATE_RESOURCE_URL: %q is not an absolute URL", c.ResourceURL)
	}
	c.Issuer = e.String("KITEGATE_ISSUER", origin(c.ResourceURL))
	c.loadAuthorizationServer(e)
	checkLogLevel(e, c.LogLevel)
	return c, e.Err()
}

func (c *Config) loadAuthorizationServer(e *Env) {
	c.UpstreamClientID = e.Require("KITEGATE_UPSTREAM_CLIENT_ID", " in gateway mode: kitegate signs users in at the company IdP as this client")
	c.UpstreamSecretID = e.String("KITEGATE_UPSTREAM_SECRET_ID", "")
	c.UpstreamClientSecret = e.String("KITEGATE_UPSTREAM_CLIENT_SECRET", "")
	switch {
	case c.OnLambda && c.UpstreamClientSecret != "":
		e.Failf("KITEGATE_UPSTREAM_CLIENT_SECRET must not be set on Lambda: keep the secret in Secrets Manager (KITEGATE_UPSTREAM_SECRET_ID)")
	case c.UpstreamSecretID == "" && c.UpstreamClientSecret == "":
		e.Failf("gateway mode needs KITEGATE_UPSTREAM_SECRET_ID (or, locally, KITEGATE_UPSTREAM_CLIENT_SECRET)")
	}
	c.UpstreamScopes = strings.Fields(strings.ReplaceAll(e.String("KITEGATE_UPSTREAM_SCOPES", "openid email profile"), ",", " "))
	c.UpstreamUserInfo = e.String("KITEGATE_UPSTREAM_USERINFO", "false") == "true"
	c.AuthTable = e.Require("KITEGATE_AUTH_TABLE", " in gateway mode: the authorization server keeps clients, sign-ins and refresh tokens there")
	c.SigningKeys = list(e.String("KITEGATE_SIGNING_KEYS", ""))
	if len(c.SigningKeys) == 0 {
		e.Failf("KITEGATE_SIGNING_KEYS is required in gateway mode: the KMS key that signs kitegate's tokens")
	}
	c.AccessTokenTTL = e.Duration("KITEGATE_ACCESS_TOKEN_TTL", 15*time.Minute)
	if c.AccessTokenTTL < time.Minute || c.AccessTokenTTL > time.Hour {
		e.Failf("KITEGATE_ACCESS_TOKEN_TTL: want 1m to 1h")
	}
	c.SignInTTL = e.Duration("KITEGATE_SIGNIN_TTL", 30*24*time.Hour)
	if c.SignInTTL < time.Hour {
		e.Failf("KITEGATE_SIGNIN_TTL: want at least 1h")
	}
	c.ClientIdleClose = e.Duration("KITEGATE_CLIENT_IDLE_CLOSE", 90*24*time.Hour)
	if c.ClientIdleClose != 0 && c.ClientIdleClose < time.Hour {
		e.Failf("KITEGATE_CLIENT_IDLE_CLOSE: want 0 (never) or at least 1h")
	}
	c.ClientAllow = list(e.String("KITEGATE_CLIENT_ALLOW", ""))
}
