// Package standalone is the seam between kitegate's functions and what
// stands in for AWS and Buildkite when a function runs by hand (`make run`,
// `make discover`): a policy store in a local folder, seeded from the
// policy file and kept in step with the catalog by a discovery pass, the
// bundled Buildkite simulator, the dev token file's reader and the local
// HTTP server.
//
// The stand-ins live in internal/local, which links the simulator and the
// policy file built into the binary. Only builds with `-tags local` (each
// function's local.go) and tests link it; it registers itself here. The
// Lambda builds never set the tag, so there nothing is registered and every
// call here fails, saying why.
package standalone

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/egress"
	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/serve"
	"github.com/kitegate/kitegate/internal/tools"
)

// ErrNotBuilt is returned when the binary was built without local mode.
var ErrNotBuilt = errors.New("this binary has no local mode (built without -tags local): set KITEGATE_POLICY_TABLE and a Buildkite token")

// StoreOptions say which local policy store to open.
type StoreOptions struct {
	// Dir is the store's folder (KITEGATE_STATE_DIR).
	Dir string
	// File seeds an empty store (KITEGATE_POLICY_FILE); empty means the
	// policy file built into local builds (infra/policy.yaml).
	File string
	// Catalog is this build's tool catalog: the discovery pass run at open
	// brings the store in line with it, as the discovery function does in
	// AWS. Nil opens the store as it is.
	Catalog *tools.Catalog
	// Classification gives new tools their first state (discovery's
	// KITEGATE_DEFAULT_CLASSIFICATION); empty means the policy's default_state.
	Classification string
	// Token, when set, is checked by the pass (scopes, expiry) like the
	// discovery function does; nil leaves the token unchecked.
	Token  *buildkite.Client
	Logger *slog.Logger
}

// Env is what stands in for AWS and Buildkite off Lambda.
type Env interface {
	// PolicyStore opens the local policy store and runs one discovery
	// pass on it (discovery's status records go to status.json beside it).
	PolicyStore(ctx context.Context, o StoreOptions) (policy.Store, error)
	// Buildkite serves the bundled Buildkite simulator on 127.0.0.1 until
	// ctx is done and returns its base URL, the token it accepts, and the
	// egress client that may fetch from its artifact store.
	Buildkite(ctx context.Context) (baseURL, token string, downloads *egress.Client, err error)
	// DevTokens reads the dev token file at path (KITEGATE_DEV_TOKENS):
	// the bearer tokens of local callers.
	DevTokens(path string) (map[string]identity.Caller, error)
	// Serve serves h as a local HTTP server until ctx is done (serve.Local).
	Serve(ctx context.Context, h http.Handler, o serve.Options) error
}

var local Env

// Register makes e the local Env. internal/local calls it from init.
func Register(e Env) { local = e }

// Serve serves h as a local HTTP server until ctx is done: the function's
// serve.Options.Local. Without local mode it returns ErrNotBuilt, so a
// Lambda build links no HTTP server.
func Serve(ctx context.Context, h http.Handler, o serve.Options) error {
	e, err := Local()
	if err != nil {
		return err
	}
	return e.Serve(ctx, h, o)
}

// Local returns the registered Env, or ErrNotBuilt.
func Local() (Env, error) {
	if local == nil {
		return nil, ErrNotBuilt
	}
	return local, nil
}
