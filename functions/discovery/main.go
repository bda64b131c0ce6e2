// Command discovery is kitegate's discovery function: it reconciles the
// tool catalog built into this binary with the policy table and records
// the Buildkite token's health (the logic is internal/discovery). On
// Lambda it serves the EventBridge schedule's invocations (any JSON input);
// elsewhere it runs once and prints the result, so `make discover` works
// against the embedded store or DynamoDB Local.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kitegate/kitegate/internal/buildkite"
	cfgenv "github.com/kitegate/kitegate/internal/config"
	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/metrics"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/serve"
	"github.com/kitegate/kitegate/internal/standalone"
	"github.com/kitegate/kitegate/internal/tools"
	"github.com/kitegate/kitegate/internal/version"
)

func main() {
	version.Main("discovery", "kitegate's discovery function: reconcile the tool catalog with the policy and check the Buildkite token (make discover)", func(ctx context.Context) error {
		return run(ctx, os.LookupEnv, os.Stdout)
	})
}

// config is the discovery function's configuration.
type config struct {
	onLambda          bool
	policyTable       string                   // KITEGATE_POLICY_TABLE; empty: the embedded store
	stateDir          string                   // KITEGATE_STATE_DIR, default .local/state (what make run uses)
	policyFile        string                   // KITEGATE_POLICY_FILE: the embedded store's seed
	secretID          string                   // KITEGATE_BUILDKITE_SECRET_ID
	tokenFile         string                   // BUILDKITE_API_TOKEN_FILE
	token             string                   // BUILDKITE_API_TOKEN (local only)
	buildkiteAPIURL   string                   // BUILDKITE_API_URL
	buildkiteTimeout  time.Duration            // KITEGATE_BUILDKITE_TIMEOUT, default 10s
	classification    discovery.Classification // KITEGATE_DEFAULT_CLASSIFICATION, default pending_review
	expiryWindow      time.Duration            // KITEGATE_TOKEN_EXPIRY_WINDOW, default 336h
	logLevel          string                   // KITEGATE_LOG_LEVEL, default info
	useSimulatorLocal bool                     // no token configured outside Lambda
}

func loadConfig(lookup func(string) (string, bool)) (config, error) {
	e := cfgenv.NewEnv(lookup)
	onLambda := e.OnLambda()
	c := config{
		onLambda:         onLambda,
		policyTable:      e.String("KITEGATE_POLICY_TABLE", ""),
		stateDir:         e.String("KITEGATE_STATE_DIR", ".local/state"),
		policyFile:       e.String("KITEGATE_POLICY_FILE", ""),
		secretID:         e.String("KITEGATE_BUILDKITE_SECRET_ID", ""),
		tokenFile:        e.String("BUILDKITE_API_TOKEN_FILE", ""),
		token:            e.String("BUILDKITE_API_TOKEN", ""),
		buildkiteAPIURL:  e.String("BUILDKITE_API_URL", ""),
		buildkiteTimeout: e.Duration("KITEGATE_BUILDKITE_TIMEOUT", 10*time.Second),
		expiryWindow:     e.Duration("KITEGATE_TOKEN_EXPIRY_WINDOW", discovery.DefaultExpiryWindow),
		logLevel:         e.String("KITEGATE_LOG_LEVEL", "info"),
	}
	cls, err := discovery.ParseClassification(e.String("KITEGATE_DEFAULT_CLASSIFICATION", string(discovery.PendingReview)))
	if err != nil {
		e.Failf("KITEGATE_DEFAULT_CLASSIFICATION: %w", err)
	}
	c.classification = cls
	if c.buildkiteTimeout == 0 || c.buildkiteTimeout > 25*time.Second {
		e.Failf("KITEGATE_BUILDKITE_TIMEOUT must be between 1ns and 25s")
	}
	if c.expiryWindow == 0 {
		e.Failf("KITEGATE_TOKEN_EXPIRY_WINDOW must be more than 0")
	}
	if onLambda {
		if c.policyTable == "" {
			e.Failf("KITEGATE_POLICY_TABLE is required on Lambda")
		}
		if c.secretID == "" {
			e.Failf("KITEGATE_BUILDKITE_SECRET_ID is required on Lambda")
		}
	}
	c.useSimulatorLocal = !onLambda && c.secretID == "" && c.tokenFile == "" && c.token == ""
	return c, e.Err()
}

func run(ctx context.Context, lookup func(string) (string, bool), stdout io.Writer) error {
	cfg, err := loadConfig(lookup)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger := serve.Logger(lookup, cfg.logLevel, os.Stdout, os.Stderr)

	var awsCfg aws.Config
	if cfg.policyTable != "" || cfg.secretID != "" {
		if awsCfg, err = awsconfig.LoadDefaultConfig(ctx, awsOptions...); err != nil {
			return fmt.Errorf("aws config: %w", err)
		}
	}
	tokens, baseURL, err := buildkiteTarget(ctx, cfg, awsCfg, logger)
	if err != nil {
		return err
	}
	bk, err := buildkite.New(buildkite.Config{BaseURL: baseURL, Tokens: tokens, Timeout: cfg.buildkiteTimeout, UserAgent: "kitegate-discovery/" + version.String()})
	if err != nil {
		return fmt.Errorf("buildkite client: %w", err)
	}
	catalog, err := tools.Default(bk)
	if err != nil {
		return fmt.Errorf("tool catalog: %w", err)
	}
	store, status, err := stores(ctx, cfg, awsCfg)
	if err != nil {
		return err
	}
	r, err := discovery.New(discovery.Config{
		Store:          store,
		Status:         status,
		Catalog:        discovery.Catalog(catalog),
		Token:          bk,
		Classification: cfg.classification,
		ExpiryWindow:   cfg.expiryWindow,
		Metrics:        metrics.Lambda(cfg.onLambda, stdout),
		Logger:         logger,
	})
	if err != nil {
		return err
	}
	// By hand it takes no input: one run, its result printed.
	return serve.Event(ctx, r.Handle, lookup, serve.EventOptions{Out: stdout, Indent: true})
}

// buildkiteTarget picks the token and API. With no token configured
// outside Lambda it starts the bundled simulator, as `make run` does.
func buildkiteTarget(ctx context.Context, cfg config, awsCfg aws.Config, logger *slog.Logger) (buildkite.TokenSource, string, error) {
	src := secrets.Select(secrets.Choice{
		SecretID: cfg.secretID, TokenFile: cfg.tokenFile, Token: cfg.token, Logger: logger,
		SecretsManager: func() (secrets.SecretGetter, error) { return secretsmanager.NewFromConfig(awsCfg), nil },
	})
	switch {
	case src != nil:
		return src, cfg.buildkiteAPIURL, nil
	case !cfg.useSimulatorLocal:
		return nil, "", errors.New("no Buildkite token configured")
	}
	local, err := standalone.Local()
	if err != nil {
		return nil, "", err
	}
	url, token, _, err := local.Buildkite(ctx)
	if err != nil {
		return nil, "", err
	}
	logger.Warn("discovery: no Buildkite token set — checking the bundled Buildkite SIMULATOR's token; set BUILDKITE_API_TOKEN to check a real one", "simulator", url)
	return secrets.Static(token), url, nil
}

// stores are the DynamoDB policy table (the policy and, beside it, the
// status) when one is named, else the local store `make run` uses, seeded
// like it when empty, with status.json beside it.
func stores(ctx context.Context, cfg config, awsCfg aws.Config) (policy.Store, discovery.StatusStore, error) {
	if cfg.policyTable != "" {
		db := dynamodb.NewFromConfig(awsCfg)
		return policystore.NewDynamoDB(db, cfg.policyTable), discovery.NewTableStatus(db, cfg.policyTable), nil
	}
	local, err := standalone.Local()
	if err != nil {
		return nil, nil, err
	}
	// Opened without a catalog: the run below is the discovery pass.
	s, err := local.PolicyStore(ctx, standalone.StoreOptions{Dir: cfg.stateDir, File: cfg.policyFile})
	if err != nil {
		return nil, nil, err
	}
	return s, discovery.NewFileStatus(cfg.stateDir), nil
}

// awsOptions is the seam tests use to point the AWS clients at DynamoDB Local.
var awsOptions []func(*awsconfig.LoadOptions) error
