// Command mcp is kitegate's MCP function: on Lambda behind API Gateway, or
// locally with `make run`. It only wires configuration, clients and the
// handler together; the logic lives in internal/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/middleware"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/awsenv"
	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/config"
	"github.com/kitegate/kitegate/internal/egress"
	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/mcpserver"
	"github.com/kitegate/kitegate/internal/metrics"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/ratelimit"
	"github.com/kitegate/kitegate/internal/redact"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/serve"
	"github.com/kitegate/kitegate/internal/standalone"
	"github.com/kitegate/kitegate/internal/tools"
	"github.com/kitegate/kitegate/internal/version"
)

func main() {
	version.Main("mcp", "kitegate's MCP function: Streamable HTTP on Lambda behind API Gateway, or a local server (make run)", func(ctx context.Context) error {
		return run(ctx, os.LookupEnv)
	})
}

func run(ctx context.Context, lookup func(string) (string, bool)) error {
	cfg, err := config.Load(lookup)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger := newLogger(cfg)
	// Libraries that log only through slog's default logger — zitadel/oidc's
	// op among them (its WithLogger option has had no effect since v3.x) —
	// log through the redacting handler too.
	slog.SetDefault(logger)
	// The AWS config and the DynamoDB client are made once, on first use:
	// not before the runtime starts (the policy load below is their first
	// use, beside it).
	awsCfg := sync.OnceValues(func() (aws.Config, error) {
		c, err := awsenv.Load(lookup)
		c.APIOptions = append(c.APIOptions, awsAPIOptions...)
		return c, err
	})
	ddb := lazyDynamo(sync.OnceValues(func() (*dynamodb.Client, error) { return dynamoClient(awsCfg) }))

	tokens, baseURL, downloads, err := buildkiteTarget(ctx, cfg, logger, awsCfg)
	if err != nil {
		return err
	}
	if downloads == nil {
		downloads, err = egress.New(egress.Config{Hosts: orDefaultList(cfg.ArtifactHosts, egress.ArtifactHosts), Timeout: cfg.BuildkiteTimeout, UserAgent: "kitegate/" + version.String()})
		if err != nil {
			return fmt.Errorf("artifact downloads: %w", err)
		}
	}
	bk, err := buildkite.New(buildkite.Config{BaseURL: baseURL, Tokens: tokens, Timeout: cfg.BuildkiteTimeout, UserAgent: "kitegate/" + version.String(), Downloads: downloads})
	if err != nil {
		return fmt.Errorf("buildkite client: %w", err)
	}
	catalog, err := tools.Default(bk)
	if err != nil {
		return fmt.Errorf("tool catalog: %w", err)
	}

	var store policy.Store
	if cfg.PolicyTable != "" {
		// The policy table is written by `make policy-apply` and the
		// discovery function, never by this function: a cold start makes no
		// write, and an unreachable table only denies calls (fail closed).
		store = policystore.NewDynamoDB(ddb, cfg.PolicyTable)
	} else {
		local, err := standalone.Local()
		if err != nil {
			return err
		}
		store, err = local.PolicyStore(ctx, standalone.StoreOptions{
			Dir: cfg.StateDir, File: cfg.PolicyFile, Catalog: catalog, Token: bk, Logger: logger,
		})
		if err != nil {
			return err
		}
	}
	cache := policy.NewCache(store, cfg.PolicyTTL, nil)
	// The policy loads while the runtime starts, not before it: the first
	// request waits for this load (the cache loads once for all callers)
	// instead of making its own.
	go func() {
		if _, err := cache.Snapshot(ctx); err != nil {
			logger.Error("kitegate: no policy loaded at start; every call is denied until it loads", "err", err)
		}
	}()
	var auth identity.Authenticator
	scopes := cfg.Scopes
	if cfg.AuthMode == config.ModeGateway {
		auth, err = gatewayVerifier(ctx, cfg, logger)
		scopes = gatewayScopes
	} else {
		auth, err = authenticator(ctx, cfg, logger, awsCfg)
	}
	if err != nil {
		return err
	}
	auditor, err := auditWriter(cfg, ddb)
	if err != nil {
		return err
	}
	var limiter mcpserver.RateLimiter
	if cfg.RateLimitTable != "" {
		limiter = ratelimit.NewDynamoDB(ddb, cfg.RateLimitTable, ratelimit.Limits{
			TokenPerMinute: cfg.BuildkiteCallsPerMinute, OrgPerMinute: cfg.BuildkiteOrgCallsPerMinute, CallerPerMinute: cfg.CallerCallsPerMinute,
		}, nil)
	}
	h, err := mcpserver.New(mcpserver.Config{
		Catalog:              catalog,
		Policy:               cache,
		Audit:                auditor,
		RateLimiter:          limiter,
		Auth:                 auth,
		ResourceURL:          cfg.ResourceURL,
		AuthorizationServers: nonEmpty(cfg.OIDCIssuer, cfg.Issuer),
		Scopes:               scopes,
		AllowedOrigins:       cfg.AllowedOrigins,
		LoopbackOrigins:      cfg.DevMode(),
		MaxBodyBytes:         cfg.MaxBodyBytes,
		Metrics:              metrics.Lambda(cfg.OnLambda, os.Stdout),
		RequestID:            serve.RequestID,
		Version:              version.String(),
		Logger:               logger,
	})
	if err != nil {
		return err
	}
	return serve.Run(ctx, h, lookup, serve.Options{
		Addr:   cfg.Addr,
		Logger: logger,
		Local:  standalone.Serve,
		Ready: func(a net.Addr) {
			logger.Info("kitegate: serving MCP", "url", "http://"+a.String()+"/mcp", "policy_ttl", cfg.PolicyTTL.String())
		},
	})
}

func newLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.OnLambda {
		return slog.New(serve.WithRequestID(redact.Handler(slog.NewJSONHandler(writerOr(logOutput, os.Stdout), opts))))
	}
	return slog.New(redact.Handler(slog.NewTextHandler(writerOr(logOutput, os.Stderr), opts)))
}

func writerOr(w, def io.Writer) io.Writer {
	if w == nil {
		return def
	}
	return w
}

// secretsManager makes the Secrets Manager client on first use, over the
// cold-start AWS config.
func secretsManager(loadAWS func() (aws.Config, error)) func() (secrets.SecretGetter, error) {
	return func() (secrets.SecretGetter, error) {
		awsCfg, err := loadAWS()
		if err != nil {
			return nil, fmt.Errorf("aws config: %w", err)
		}
		return secretsmanager.NewFromConfig(awsCfg), nil
	}
}

// buildkiteTarget picks where Buildkite calls go and with which token. With
// no token configured outside Lambda it starts the bundled simulator, so a
// newcomer sees the server work with no Buildkite account; the simulator
// also supplies the one egress client allowed to reach its artifact store.
func buildkiteTarget(ctx context.Context, cfg config.Config, logger *slog.Logger, loadAWS func() (aws.Config, error)) (buildkite.TokenSource, string, *egress.Client, error) {
	src := secrets.Select(secrets.Choice{
		SecretID: cfg.BuildkiteSecretID, TokenFile: cfg.BuildkiteTokenFile, Token: cfg.BuildkiteToken,
		TTL: cfg.TokenTTL, Logger: logger,
		SecretsManager: secretsManager(loadAWS),
	})
	switch {
	case src != nil:
		logger.Info("kitegate: calling Buildkite", "api", orDefault(cfg.BuildkiteAPIURL, "https://api.buildkite.com/"))
		return src, cfg.BuildkiteAPIURL, nil, nil
	case cfg.OnLambda:
		return nil, "", nil, errors.New("no Buildkite token configured")
	}
	local, err := standalone.Local()
	if err != nil {
		return nil, "", nil, err
	}
	url, token, downloads, err := local.Buildkite(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	logger.Warn("kitegate: no BUILDKITE_API_TOKEN set — serving the bundled Buildkite SIMULATOR (fake data); set BUILDKITE_API_TOKEN to use real Buildkite", "simulator", url)
	return secrets.Static(token), url, downloads, nil
}

// gatewayScopes are the scopes kitegate's authorization server grants
// (authz.DefaultScopes; a test holds them equal), advertised in this
// function's metadata and 401 challenge.
var gatewayScopes = []string{"mcp", "offline_access"}

// gatewayVerifier verifies the tokens of kitegate's own authorization
// server (the authz function) as any resource server would: their issuer,
// this function's URL as audience, RS256 (KMS signs them), the key set
// read from the issuer's jwks_uri on first use and kept; verifying a call
// costs no AWS call.
func gatewayVerifier(ctx context.Context, cfg config.Config, logger *slog.Logger) (identity.Authenticator, error) {
	v, err := identity.NewOIDC(ctx, identity.OIDCConfig{
		Issuer: cfg.Issuer, Audience: cfg.ResourceURL, Algorithms: []string{"RS256"},
		// kitegate's own tokens are RFC 9068 access tokens (authz signs
		// them so): nothing else it signed passes as one.
		TokenType: identity.TypeAccessToken,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway mode: %w", err)
	}
	logger.Info("kitegate: gateway mode — callers present kitegate's own tokens (the authz function issues them)", "issuer", cfg.Issuer)
	return v, nil
}

func authenticator(ctx context.Context, cfg config.Config, logger *slog.Logger, loadAWS func() (aws.Config, error)) (identity.Authenticator, error) {
	if !cfg.DevMode() {
		m := metrics.Lambda(cfg.OnLambda, os.Stdout)
		var introspection *identity.IntrospectionConfig
		if cfg.OIDCIntrospectionURL != "" {
			introspection = &identity.IntrospectionConfig{
				URL: cfg.OIDCIntrospectionURL, ClientID: cfg.OIDCIntrospectionClientID, MaxTTL: cfg.OIDCIntrospectionTTL,
				ClientSecret: secrets.ClientSecret("introspection", cfg.OIDCIntrospectionClientSecret, cfg.OIDCIntrospectionSecretID, secretsManager(loadAWS)),
			}
		}
		a, err := identity.NewOIDC(ctx, identity.OIDCConfig{
			Issuer: cfg.OIDCIssuer, Audience: cfg.OIDCAudience, JWKSURL: cfg.OIDCJWKSURL, GroupClaim: cfg.GroupClaim,
			MaxLifetime: cfg.OIDCMaxTokenLifetime, TokenType: cfg.OIDCTokenType, Introspection: introspection,
			Misconfigured: func(ctx context.Context, e *identity.ConfigError) {
				setting := map[string]string{"iss": "KITEGATE_OIDC_ISSUER", "aud": "KITEGATE_OIDC_AUDIENCE"}[e.Claim]
				logger.ErrorContext(ctx, "kitegate: configuration error: "+e.Error()+"; check "+setting, "setting", setting, "configured", e.Want, "seen", e.Seen, "tokens", e.Tokens)
				if err := m.Emit([]metrics.Metric{{Name: metrics.ConfigErrors, Unit: metrics.Count, Value: 1}}, nil, "setting", setting); err != nil {
					logger.WarnContext(ctx, "kitegate: metric not written", "err", err)
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("oidc: %w", err)
		}
		logger.Info("kitegate: callers authenticated by OIDC", "issuer", cfg.OIDCIssuer, "audience", cfg.OIDCAudience, "introspection", cfg.OIDCIntrospectionURL != "")
		// The provider's discovery document and keys, fetched beside the
		// start rather than before it: a mismatch is a configuration error
		// to report now, not on the first caller's 503.
		go func() {
			if err := a.Check(ctx); err != nil {
				if _, ok := errors.AsType[*identity.ConfigError](err); !ok {
					logger.WarnContext(ctx, "kitegate: the identity provider's keys cannot be fetched yet", "err", err)
				}
			}
		}()
		return a, nil
	}
	var tokens map[string]identity.Caller
	if cfg.DevTokenFile != "" {
		// The token file is local mode's: its reader is linked only there.
		local, err := standalone.Local()
		if err != nil {
			return nil, err
		}
		if tokens, err = local.DevTokens(cfg.DevTokenFile); err != nil {
			return nil, err
		}
	}
	dev, err := identity.NewDev(identity.DevConfig{
		Default: identity.Caller{Subject: cfg.DevUser, Email: cfg.DevUser, Groups: cfg.DevGroups, Source: "dev"},
		Tokens:  tokens,
		Source:  cfg.DevTokenFile,
	})
	if err != nil {
		return nil, fmt.Errorf("dev identity: %w", err)
	}
	for _, w := range dev.Warnings() {
		logger.Warn("kitegate: dev token file: " + w)
	}
	if cfg.DevTokenFile != "" {
		logger.Warn("kitegate: LOCAL DEV MODE — callers are the users of the dev token file, not verified by any identity provider", "file", cfg.DevTokenFile)
	} else {
		logger.Warn("kitegate: LOCAL DEV MODE — no authentication: every request acts as the dev user", "user", cfg.DevUser, "groups", cfg.DevGroups)
	}
	return dev, nil
}

func auditWriter(cfg config.Config, ddb lazyDynamo) (mcpserver.AuditWriter, error) {
	if cfg.AuditTable != "" {
		return audit.NewDynamoDB(ddb, cfg.AuditTable, audit.DynamoDBOptions{
			Retention: time.Duration(cfg.AuditRetentionDays) * 24 * time.Hour,
			Fallback:  auditFallback,
			Metrics:   metrics.Lambda(cfg.OnLambda, os.Stdout),
		})
	}
	if cfg.AuditFile == "" {
		return audit.NewJSONLines(os.Stdout), nil
	}
	return audit.OpenFile(cfg.AuditFile)
}

// awsAPIOptions, auditFallback and logOutput are the seams tests use to
// count the AWS clients' calls, read replay lines and read the log (nil:
// stdout on Lambda, stderr locally; the endpoints are the environment's).
var (
	awsAPIOptions []func(*middleware.Stack) error
	auditFallback io.Writer = os.Stdout
	logOutput     io.Writer
)

// dynamoClient returns a DynamoDB client over the cold-start AWS config.
func dynamoClient(loadAWS func() (aws.Config, error)) (*dynamodb.Client, error) {
	awsCfg, err := loadAWS()
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return dynamodb.NewFromConfig(awsCfg), nil
}

// lazyDynamo is the DynamoDB client made on its first call (the AWS
// config loaded then), so that a cold start loads no AWS configuration
// before the runtime starts. It has the calls the stores make.
type lazyDynamo func() (*dynamodb.Client, error)

var (
	_ policystore.DynamoAPI = lazyDynamo(nil)
	_ audit.PutAPI          = lazyDynamo(nil)
	_ ratelimit.UpdateAPI   = lazyDynamo(nil)
)

func (l lazyDynamo) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c, err := l()
	if err != nil {
		return nil, err
	}
	return c.Query(ctx, in, opts...)
}

func (l lazyDynamo) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c, err := l()
	if err != nil {
		return nil, err
	}
	return c.TransactWriteItems(ctx, in, opts...)
}

func (l lazyDynamo) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c, err := l()
	if err != nil {
		return nil, err
	}
	return c.PutItem(ctx, in, opts...)
}

func (l lazyDynamo) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c, err := l()
	if err != nil {
		return nil, err
	}
	return c.UpdateItem(ctx, in, opts...)
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func orDefaultList(s, def []string) []string {
	if len(s) == 0 {
		return def
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
