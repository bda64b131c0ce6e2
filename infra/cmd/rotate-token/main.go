// Command rotate-token stages a new Buildkite token for kitegate and starts
// its rotation: it puts the token into the Secrets Manager secret under the
// KITEGATE_STAGED label and calls RotateSecret; the rotation function then
// tests the token, promotes it and revokes the old one. The token is read
// from standard input or a file, never from the command line, where it would
// land in shell history and process listings.
//
//	make rotate-token SECRET_ID=kitegate/prod/buildkite-token < token.txt
//	go run ./infra/cmd/rotate-token -secret-id ID -token-file path
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kitegate/kitegate/internal/secrets"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.LookupEnv); err != nil {
		fmt.Fprintln(os.Stderr, "rotate-token:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, lookup func(string) (string, bool)) error {
	fs := flag.NewFlagSet("rotate-token", flag.ContinueOnError)
	secretID := fs.String("secret-id", "", "the secret's name or ARN (default $KITEGATE_BUILDKITE_SECRET_ID)")
	tokenFile := fs.String("token-file", "-", "file holding the new token; - reads standard input")
	noRotate := fs.Bool("no-rotate", false, "only stage the token; the next rotation (scheduled or RotateSecret) picks it up")
	clearPending := fs.Bool("clear-pending", false, "abandon an unfinished or failed rotation first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("unexpected arguments: the token is read from -token-file or standard input, never from the command line")
	}
	if *secretID == "" {
		*secretID, _ = lookup("KITEGATE_BUILDKITE_SECRET_ID")
	}
	if *secretID == "" {
		return errors.New("no secret: set -secret-id or KITEGATE_BUILDKITE_SECRET_ID")
	}
	in := stdin
	if *tokenFile != "-" {
		f, err := os.Open(*tokenFile)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	token, err := secrets.ReadToken(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("aws config: %w", err)
	}
	res, err := secrets.Stage(ctx, secretsmanager.NewFromConfig(awsCfg), *secretID, token, secrets.StageOptions{Rotate: !*noRotate, ClearPending: *clearPending})
	if res.ClearedPendingVersionID != "" {
		fmt.Fprintf(stdout, "abandoned the unfinished rotation of version %s\n", res.ClearedPendingVersionID)
	}
	if err != nil {
		return err
	}
	switch {
	case res.Initial:
		fmt.Fprintf(stdout, "the secret had no token: stored as AWSCURRENT (version %s); nothing to rotate\n", res.StagedVersionID)
	case res.RotationVersionID == "":
		fmt.Fprintf(stdout, "staged as %s (version %s); the next rotation will pick it up\n", secrets.StageStaged, res.StagedVersionID)
	default:
		fmt.Fprintf(stdout, "staged as %s (version %s); rotation started (version %s): watch the rotation function's log for its four steps\n",
			secrets.StageStaged, res.StagedVersionID, res.RotationVersionID)
	}
	return nil
}
