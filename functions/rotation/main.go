// Command rotation is kitegate's Secrets Manager rotation function for the
// shared Buildkite token (createSecret, setSecret, testSecret, finishSecret;
// the logic is internal/secrets.Rotator). On Lambda it serves rotation
// events; elsewhere it runs the one event read from standard input, so a
// step can be tried by hand.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	cfgenv "github.com/kitegate/kitegate/internal/config"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/serve"
	"github.com/kitegate/kitegate/internal/standalone"
	"github.com/kitegate/kitegate/internal/tools"
	"github.com/kitegate/kitegate/internal/version"
)

func main() {
	version.Main("rotation", "kitegate's Secrets Manager rotation function for the Buildkite token (a rotation event on stdin by hand)", func(ctx context.Context) error {
		return run(ctx, os.LookupEnv, os.Stdin, os.Stdout)
	})
}

// config is the rotation function's configuration.
type config struct {
	onLambda         bool
	buildkiteAPIURL  string        // BUILDKITE_API_URL
	buildkiteTimeout time.Duration // KITEGATE_BUILDKITE_TIMEOUT, default 10s
	minValidity      time.Duration // KITEGATE_ROTATION_MIN_VALIDITY, default 168h
	revokeGrace      time.Duration // KITEGATE_REVOKE_GRACE, default 0
	policyTable      string        // KITEGATE_POLICY_TABLE: the approved tools' scopes (required on Lambda)
	policyFile       string        // KITEGATE_POLICY_FILE, default: the policy built in
	stateDir         string        // KITEGATE_STATE_DIR, default /tmp/kitegate-rotation
	logLevel         string        // KITEGATE_LOG_LEVEL, default info
}

func loadConfig(lookup func(string) (string, bool)) (config, error) {
	e := cfgenv.NewEnv(lookup)
	onLambda := e.OnLambda()
	c := config{
		onLambda:         onLambda,
		buildkiteAPIURL:  e.String("BUILDKITE_API_URL", ""),
		buildkiteTimeout: e.Duration("KITEGATE_BUILDKITE_TIMEOUT", 10*time.Second),
		minValidity:      e.Duration("KITEGATE_ROTATION_MIN_VALIDITY", 168*time.Hour),
		revokeGrace:      e.Duration("KITEGATE_REVOKE_GRACE", 0),
		policyTable:      e.String("KITEGATE_POLICY_TABLE", ""),
		policyFile:       e.String("KITEGATE_POLICY_FILE", ""),
		stateDir:         e.String("KITEGATE_STATE_DIR", filepath.Join(os.TempDir(), "kitegate-rotation")),
		logLevel:         e.String("KITEGATE_LOG_LEVEL", "info"),
	}
	if c.onLambda && c.policyTable == "" {
		// A new token must cover the tools approved in production, not
		// those of the policy built into the binary.
		e.Failf("KITEGATE_POLICY_TABLE is required on Lambda")
	}
	if c.buildkiteTimeout == 0 || c.buildkiteTimeout > 25*time.Second {
		e.Failf("KITEGATE_BUILDKITE_TIMEOUT must be between 1ns and 25s")
	}
	return c, e.Err()
}

func run(ctx context.Context, lookup func(string) (string, bool), stdin io.Reader, stdout io.Writer) error {
	cfg, err := loadConfig(lookup)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	// The audit lines of each step go to the function's log.
	logger := serve.Logger(lookup, cfg.logLevel, os.Stdout, os.Stderr)

	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("aws config: %w", err)
	}
	store, err := policyStore(ctx, cfg, awsCfg)
	if err != nil {
		return err
	}
	rot, err := secrets.NewRotator(secrets.RotatorConfig{
		Secrets: secretsmanager.NewFromConfig(awsCfg),
		Tokens: secrets.BuildkiteTokens{
			BaseURL: cfg.buildkiteAPIURL, Timeout: cfg.buildkiteTimeout, UserAgent: "kitegate-rotation/" + version.String(),
		},
		Scopes:      secrets.PolicyScopes{Store: store},
		MinValidity: cfg.minValidity,
		RevokeGrace: cfg.revokeGrace,
		Logger:      logger,
	})
	if err != nil {
		return err
	}
	return serve.Event(ctx, rot.Handle, lookup, serve.EventOptions{In: stdin, MaxBytes: 64 << 10, Out: stdout})
}

// policyStore is the policy table when one is named; otherwise the local
// store, seeded as `make run` seeds it and brought in line with this
// build's catalog, which gives each approved tool its required scopes. The
// rotation only Loads it.
func policyStore(ctx context.Context, cfg config, awsCfg aws.Config) (policy.Store, error) {
	if cfg.policyTable != "" {
		return policystore.NewDynamoDB(dynamodb.NewFromConfig(awsCfg), cfg.policyTable), nil
	}
	local, err := standalone.Local()
	if err != nil {
		return nil, err
	}
	// The catalog's tools are never called here: they only carry scopes.
	catalog, err := tools.Default(nil)
	if err != nil {
		return nil, fmt.Errorf("tool catalog: %w", err)
	}
	return local.PolicyStore(ctx, standalone.StoreOptions{Dir: cfg.stateDir, File: cfg.policyFile, Catalog: catalog})
}
