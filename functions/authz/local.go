//go:build local

package main

// Built with -tags local (make run-signin), this function links its local
// HTTP server; the Lambda builds never do.
import _ "github.com/kitegate/kitegate/internal/local"
