// Command audit is kitegate's audit function: it consumes the DynamoDB
// streams of the audit table (tool calls) and the policy table (policy
// changes), writes the audit log (one JSON line per event, on the
// function's log) and keeps the daily usage rollups; the logic is
// internal/auditstream.Processor. On Lambda it serves stream batches; elsewhere
// it processes the one batch read from standard input and prints the
// batch response, so that a batch can be replayed by hand.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitegate/kitegate/internal/audit/auditstream"
	cfgenv "github.com/kitegate/kitegate/internal/config"
	"github.com/kitegate/kitegate/internal/serve"
	"github.com/kitegate/kitegate/internal/version"
)

func main() {
	version.Main("audit", "kitegate's audit function: turn the audit and policy tables' stream records into audit log lines and usage rollups (a batch on stdin by hand)", func(ctx context.Context) error {
		return run(ctx, os.LookupEnv, os.Stdin, os.Stdout, os.Stderr)
	})
}

// awsOptions is the seam tests use to point the AWS config at DynamoDB Local.
var awsOptions []func(*awsconfig.LoadOptions) error

// config is the audit function's configuration.
type config struct {
	onLambda    bool
	auditTable  string        // KITEGATE_AUDIT_TABLE
	policyTable string        // KITEGATE_POLICY_TABLE
	retention   time.Duration // KITEGATE_AUDIT_RETENTION_DAYS, default 365
	awsTimeout  time.Duration // KITEGATE_AWS_TIMEOUT, default 10s
}

func loadConfig(lookup func(string) (string, bool)) (config, error) {
	e := cfgenv.NewEnv(lookup)
	c := config{
		onLambda:    e.OnLambda(),
		auditTable:  e.Require("KITEGATE_AUDIT_TABLE", ""),
		policyTable: e.Require("KITEGATE_POLICY_TABLE", ""),
		retention:   time.Duration(e.Int("KITEGATE_AUDIT_RETENTION_DAYS", 365, 1)) * 24 * time.Hour,
		awsTimeout:  e.Duration("KITEGATE_AWS_TIMEOUT", 10*time.Second),
	}
	if c.awsTimeout == 0 {
		e.Failf("KITEGATE_AWS_TIMEOUT must be more than 0")
	}
	return c, e.Err()
}

func run(ctx context.Context, lookup func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(lookup)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	// On Lambda the audit lines are the function's log; by hand, standard
	// output is kept for the batch response.
	logOut := stderr
	if cfg.onLambda {
		logOut = stdout
	}
	opts := append([]func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(cfg.awsTimeout)),
	}, awsOptions...)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("aws config: %w", err)
	}
	proc, err := auditstream.NewProcessor(dynamodb.NewFromConfig(awsCfg), auditstream.ProcessorOptions{
		Tables:    auditstream.StreamTables{Audit: cfg.auditTable, Policy: cfg.policyTable},
		Out:       logOut,
		Retention: cfg.retention,
	})
	if err != nil {
		return err
	}
	return serve.Event(ctx, proc.Handle, lookup, serve.EventOptions{In: stdin, MaxBytes: 6 << 20, Out: stdout})
}
