// Package local is what kitegate's functions share when they run outside
// AWS: the embedded policy store seeded as `make run` seeds it, and the
// bundled Buildkite simulator for when no token is configured.
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
	"github.com/kitegate/kitegate/internal/egress"
	"github.com/kitegate/kitegate/internal/policy"
)

// PolicyStore opens the embedded policy store in dir. An empty store is
// seeded from file, or from the policy built into the binary when file is
// empty, reconciled with catalog when catalog is not nil.
func PolicyStore(dir, file string, catalog []policy.Tool) (*policy.Embedded, error) {
	seed := func() (policy.Policy, error) {
		var p policy.Policy
		var err error
		if file != "" {
			p, err = policy.LoadFile(file)
		} else {
			p, err = policy.ParseFile(infra.DefaultPolicy)
		}
		if err != nil || catalog == nil {
			return p, err
		}
		return policy.Reconcile(p, catalog, p.Settings.DefaultState), nil
	}
	store, err := policy.NewEmbedded(filepath.Clean(dir), seed)
	if err != nil {
		return nil, fmt.Errorf("policy store: %w", err)
	}
	return store, nil
}

// Simulator serves the bundled Buildkite simulator on 127.0.0.1 until ctx
// is done, and returns its base URL, the token it accepts, and the egress
// client that may fetch from its artifact store (https on 127.0.0.1, the
// only loopback address a download may reach, and only here).
func Simulator(ctx context.Context) (url, token string, downloads *egress.Client, err error) {
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
