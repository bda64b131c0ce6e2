// Package infra carries the files admins edit that the binaries also need:
// the example policy that `make run` starts from.
package infra

import _ "embed"

// DefaultPolicy is policy.yaml as built into the binary.
//
//go:embed policy.yaml
var DefaultPolicy []byte
