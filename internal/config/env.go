package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Env reads environment variables through a lookup and keeps every problem
// it meets, so a function reports a bad configuration whole, at start.
type Env struct {
	lookup func(string) (string, bool)
	errs   []error
}

// NewEnv reads through lookup (os.LookupEnv in main).
func NewEnv(lookup func(string) (string, bool)) *Env { return &Env{lookup: lookup} }

// OnLambda reports whether the Lambda runtime API is set.
func (e *Env) OnLambda() bool { return e.String("AWS_LAMBDA_RUNTIME_API", "") != "" }

// String is the trimmed value of k, or def when k is unset or blank.
func (e *Env) String(k, def string) string {
	if v, ok := e.lookup(k); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// Duration parses k (like 10s or 2m), def when unset; negative is an error.
func (e *Env) Duration(k string, def time.Duration) time.Duration {
	v := e.String(k, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		e.Failf("%s: want a duration like 10s or 2m, not %q", k, v)
		return def
	}
	return d
}

// Int parses k as a whole number of at least min, def when unset.
func (e *Env) Int(k string, def, min int) int {
	v := e.String(k, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		e.Failf("%s: want a whole number of at least %d, not %q", k, min, v)
		return def
	}
	return n
}

// Require records an error when k is unset; why says when it is needed.
func (e *Env) Require(k, why string) string {
	v := e.String(k, "")
	if v == "" {
		e.Failf("%s is required%s", k, why)
	}
	return v
}

// Failf records a problem.
func (e *Env) Failf(format string, args ...any) { e.errs = append(e.errs, fmt.Errorf(format, args...)) }

// Err joins every problem recorded, nil when there was none.
func (e *Env) Err() error { return errors.Join(e.errs...) }
