//go:build local

package main

// Built with -tags local (make run, make discover), this function links
// its stand-ins for AWS and Buildkite; the Lambda builds never do.
import _ "github.com/kitegate/kitegate/internal/local"
