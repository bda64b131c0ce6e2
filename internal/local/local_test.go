package local

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/standalone"
	"github.com/kitegate/kitegate/internal/tools"
)

func TestPolicyStoreSeedsFromTheBuiltInPolicy(t *testing.T) {
	catalog, err := tools.Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := Env{}.PolicyStore(context.Background(), standalone.StoreOptions{Dir: t.TempDir(), Catalog: catalog})
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Tools["list_builds"]; got.State != policy.StateApproved || got.Hash == "" || got.ApprovedHash != got.Hash {
		t.Errorf("list_builds %+v: want approved by the built-in policy, hash from the catalog and pinned by the discovery pass", got)
	}
	if got := p.Tools["create_build"]; got.State != policy.StatePendingReview || got.Hash == "" {
		t.Errorf("create_build %+v: want pending_review, as the built-in policy leaves write tools", got)
	}
	if len(p.Tools) != len(catalog.Tools()) {
		t.Errorf("%d tools in the store, %d in the catalog", len(p.Tools), len(catalog.Tools()))
	}
	if len(p.Profiles) == 0 {
		t.Error("no profiles seeded")
	}
}

func TestPolicyStoreSeedsFromAFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(file, []byte("server: {state: disabled, reason: drill}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := Open(filepath.Join(dir, "state"), file)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := store.Load(context.Background())
	if !p.Settings.ServerDisabled {
		t.Error("the file's kill switch was not seeded")
	}
	if _, err := Open(filepath.Join(dir, "other"), filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("a missing policy file seeded a store")
	}
}

// TestRegistered: linking this package gives the functions their
// stand-ins.
func TestRegistered(t *testing.T) {
	if e, err := standalone.Local(); err != nil || e != (Env{}) {
		t.Errorf("standalone.Local() = %v, %v", e, err)
	}
}

func TestSimulatorServesUntilCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	url, token, downloads, err := Env{}.Buildkite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// make run's get_artifact: the download goes over https to the
	// simulator's store, the one loopback address its egress client reaches.
	bk, err := buildkite.New(buildkite.Config{BaseURL: url, Tokens: secrets.Static(token), Downloads: downloads, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	arts, _, err := bk.ListBuildArtifacts(ctx, buildkitetest.SeedOrg, buildkitetest.SeedPipeline, strconv.Itoa(buildkitetest.FailedBuild), buildkite.ListOptions{PerPage: 100})
	if err != nil || len(arts) == 0 {
		t.Fatalf("list artifacts: %d, %v", len(arts), err)
	}
	a := arts[0]
	u, err := bk.ArtifactDownloadURL(ctx, buildkitetest.SeedOrg, buildkitetest.SeedPipeline, strconv.Itoa(buildkitetest.FailedBuild), a.JobID, a.ID)
	if err != nil || !strings.HasPrefix(u, "https://127.0.0.1:") {
		t.Fatalf("download URL %q, %v", u, err)
	}
	if b, err := bk.FetchArtifact(ctx, u, 1<<20); err != nil || len(b) == 0 {
		t.Fatalf("fetch artifact: %d bytes, %v", len(b), err)
	}
	req, _ := http.NewRequest(http.MethodGet, url+"v2/user", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"name"`) {
		t.Fatalf("GET /v2/user: %d %s", resp.StatusCode, body)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Get(url + "v2/user"); err != nil {
			return // closed
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("the simulator still answers after its context ended")
}
