// Command kitegate-admin is the operator's command line for kitegate's
// DynamoDB tables (make policy-apply, tools, approve, disable, audit,
// audit-replay). The logic lives in internal/admin.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"os/user"

	"github.com/kitegate/kitegate/internal/admin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := admin.Run(ctx, os.Args[1:], admin.Env{
		Lookup: os.LookupEnv,
		OSUser: func() (string, error) {
			u, err := user.Current()
			if err != nil {
				return "", err
			}
			return u.Username, nil
		},
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kitegate-admin:", err)
		os.Exit(1)
	}
}
