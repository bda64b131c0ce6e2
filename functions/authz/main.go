// Command authz is kitegate's authorization server in gateway mode, a Lambda
// function of its own behind the same API Gateway origin as the mcp
// function: OAuth and OpenID discovery, /oauth/authorize, /oauth/token,
// /oauth/register, /oauth/revoke, the key set, the company IdP's callback
// and the consent page (internal/authz). It signs kitegate's access tokens
// with KMS; the mcp function verifies them with the published key set, as
// any resource server would. It only wires configuration, clients and the
// handler together.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kitegate/kitegate/internal/authz"
	"github.com/kitegate/kitegate/internal/awsenv"
	"github.com/kitegate/kitegate/internal/config"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/redact"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/serve"
	"github.com/kitegate/kitegate/internal/signing"
	"github.com/kitegate/kitegate/internal/standalone"
	"github.com/kitegate/kitegate/internal/version"
)

func main() {
	version.Main("authz", "kitegate's authorization server (gateway mode): OAuth sign-in at the company IdP, tokens signed by KMS", func(ctx context.Context) error {
		return run(ctx, os.LookupEnv)
	})
}

func run(ctx context.Context, lookup func(string) (string, bool)) error {
	cfg, err := config.LoadAuthz(lookup)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger := newLogger(cfg)
	// zitadel/oidc's op logs only through slog's default logger (its
	// WithLogger option does nothing): make it the redacting one.
	slog.SetDefault(logger)
	awsCfg, err := awsenv.Load(lookup)
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(awsCfg)
	keys, err := signing.New(kms.NewFromConfig(awsCfg), cfg.SigningKeys)
	if err != nil {
		return err
	}
	// The policy the mcp function reads, from the same table: the consent
	// page names the tools the user would get, and a user switched off
	// cannot sign in.
	policies := policystore.NewDynamoDB(db, cfg.PolicyTable)
	cache := policy.NewCache(policies, cfg.PolicyTTL, nil)
	// Client ID Metadata Documents are fetched through egress: https,
	// public addresses only, bounded in size and time.
	metadata, err := authz.NewMetadataFetcher()
	if err != nil {
		return err
	}
	s, err := authz.New(authz.Config{
		Issuer:   cfg.Issuer,
		Resource: cfg.ResourceURL,
		Store:    authz.NewStore(db, cfg.AuthTable),
		Keys:     keys,
		Upstream: authz.UpstreamConfig{
			Issuer: cfg.UpstreamIssuer, ClientID: cfg.UpstreamClientID, ClientSecret: secrets.ClientSecret("upstream", cfg.UpstreamClientSecret, cfg.UpstreamSecretID, func() (secrets.SecretGetter, error) {
				return secretsmanager.NewFromConfig(awsCfg), nil
			}),
			Scopes: cfg.UpstreamScopes, GroupClaim: cfg.GroupClaim, UserInfo: cfg.UpstreamUserInfo,
		},
		ClientMetadata: metadata,
		// The user kill switch rides on the policy snapshot; without a
		// policy nobody signs in (fail closed).
		UserDisabled: func(ctx context.Context, u authz.User) bool {
			snap, err := cache.Snapshot(ctx)
			return err != nil || snap.UserDisabled(policy.Subject{ID: u.Subject, Email: u.Email, Groups: u.Groups})
		},
		AccessTokenTTL:  cfg.AccessTokenTTL,
		SignInTTL:       cfg.SignInTTL,
		ClientIdleClose: cfg.ClientIdleClose,
		// A client closed after going unused is a policy change, audited.
		ClientClosed: func(ctx context.Context, c authz.Client) error {
			return policy.CloseClient(ctx, policies, c.ID, c.Name, cfg.ClientIdleClose, time.Now())
		},
		ClientAllow: cfg.ClientAllow,
		Tools: func(ctx context.Context, u authz.User) ([]string, error) {
			snap, err := cache.Snapshot(ctx)
			if err != nil {
				return nil, err
			}
			return snap.Allowed(snap.Profiles(policy.Subject{ID: u.Subject, Email: u.Email, Groups: u.Groups})), nil
		},
		Logger: logger,
	})
	if err != nil {
		return err
	}
	logger.Info("kitegate: authorization server; users sign in at the company IdP", "issuer", cfg.Issuer, "idp", cfg.UpstreamIssuer, "resource", cfg.ResourceURL)
	return serve.Run(ctx, s.Handler(http.NotFoundHandler()), lookup, serve.Options{
		Addr:   cfg.Addr,
		Logger: logger,
		Local:  standalone.Serve,
		Ready: func(a net.Addr) {
			logger.Info("kitegate: serving the authorization server", "url", "http://"+a.String()+"/.well-known/oauth-authorization-server")
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

// logOutput is the seam tests read the log through (nil: stdout on Lambda,
// stderr locally).
var logOutput io.Writer

func writerOr(w, def io.Writer) io.Writer {
	if w == nil {
		return def
	}
	return w
}
