package main

// The tests run the function by hand, with its stand-ins for AWS and
// Buildkite, whatever the build tags.
import _ "github.com/kitegate/kitegate/internal/local"
