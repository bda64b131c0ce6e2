// Package local is what stands in for AWS and Buildkite when a function
// runs by hand: the policy store in a local folder (seeded from the policy
// file built into the binary, kept in step with the catalog by a discovery
// pass) and the bundled Buildkite simulator. It registers itself with
// internal/standalone; only builds with `-tags local` and tests link it,
// never the Lambda builds.
package local

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"time"

	"github.com/kitegate/kitegate/infra"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/egress"
	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/identity/devtokens"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policyfile"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/serve"
	"github.com/kitegate/kitegate/internal/standalone"
)

func init() { standalone.Register(Env{}) }

// Env implements standalone.Env.
type Env struct{}

var _ standalone.Env = Env{}

// PolicyStore opens the store in o.Dir, seeds it from o.File (or the
// policy built in) when empty, and runs one discovery pass with o.Catalog,
// so a local start treats a new, changed or removed tool exactly as the
// discovery function does in AWS.
func (Env) PolicyStore(ctx context.Context, o standalone.StoreOptions) (policy.Store, error) {
	store, err := Open(o.Dir, o.File)
	if err != nil {
		return nil, err
	}
	if o.Catalog == nil {
		return store, nil
	}
	cls, err := discovery.ParseClassification(o.Classification)
	if err != nil {
		return nil, err
	}
	cfg := discovery.Config{
		Store: store, Status: discovery.NewFileStatus(o.Dir), Catalog: discovery.Catalog(o.Catalog),
		Classification: cls, Actor: "kitegate-start", Logger: o.Logger,
	}
	if o.Token != nil {
		cfg.Token = o.Token
	}
	r, err := discovery.New(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := r.Run(ctx); err != nil {
		return nil, err
	}
	return store, nil
}

// Open opens the policy store in dir. An empty store is seeded from file,
// or from the policy built into the binary when file is empty.
func Open(dir, file string) (*policystore.Embedded, error) {
	seed := func() (policy.Policy, error) {
		if file != "" {
			return policyfile.Load(file)
		}
		return policyfile.Parse(infra.DefaultPolicy)
	}
	store, err := policystore.NewEmbedded(filepath.Clean(dir), seed)
	if err != nil {
		return nil, fmt.Errorf("policy store: %w", err)
	}
	return store, nil
}

// Buildkite serves the bundled Buildkite simulator on 127.0.0.1 until ctx
// is done, and returns its base URL, the token it accepts, and the egress
// client that may fetch from its artifact store (https on 127.0.0.1, the
// only loopback address a download may reach, and only here).
// Serve serves h as a local HTTP server (serve.Local).
func (Env) Serve(ctx context.Context, h http.Handler, o serve.Options) error {
	return serve.Local(ctx, h, o)
}

// DevTokens reads the dev token file (internal/identity/devtokens).
func (Env) DevTokens(path string) (map[string]identity.Caller, error) {
	return devtokens.Read(path)
}

func (Env) Buildkite(ctx context.Context) (url, token string, downloads *egress.Client, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, fmt.Errorf("buildkite simulator: %w", err)
	}
	store := httptest.NewUnstartedServer(nil)
	sim := buildkitetest.NewHandler(buildkitetest.WithStoreURL("https://" + store.Listener.Addr().String() + buildkitetest.StorePrefix))
	store.Config.Handler = sim.Handler()
	store.Config.ReadHeaderTimeout = 5 * time.Second
	store.StartTLS()
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); _ = srv.Close(); store.Close() }()
	return "http://" + ln.Addr().String() + "/", buildkitetest.DefaultToken, buildkitetest.StoreClient(store.Certificate()), nil
}
