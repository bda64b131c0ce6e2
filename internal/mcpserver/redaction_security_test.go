package mcpserver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/local"
	"github.com/kitegate/kitegate/internal/mcpserver"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/redact"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/standalone"
	"github.com/kitegate/kitegate/internal/tools"
)

// sharedToken is the token kitegate holds in this test. It is deliberately
// NOT shaped like a Buildkite token, so only exact-value redaction can
// catch it; previousToken is the one before a rotation.
const (
	sharedToken   = "kgtest-shared-SECRET-5f0c2a9e71d34b68"
	previousToken = "kgtest-previous-SECRET-93ab17c4e2f0"
)

// plant puts the tokens into s at the start, after a newline, a tab and a
// word character, and as a JSON-escaped copy inside embedded JSON text.
func plant(s string) string {
	return sharedToken + " " + s + "\n" + sharedToken + "\tx" + sharedToken + "_" + previousToken +
		` {"t":"\n` + sharedToken + `"} bkua_` + strings.Repeat("a", 40)
}

// hostile sits between kitegate and the simulator: it swaps kitegate's
// token for the simulator's and plants the tokens into every string of
// every answer (timestamps, ids and URLs kept, so answers still decode),
// or, when failStatus is set, answers every request with that error.
type hostile struct {
	sim        *buildkitetest.Server
	failStatus int
}

func (h *hostile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.failStatus != 0 {
		w.Header().Set("Content-Type", "application/json")
		if h.failStatus == http.StatusTooManyRequests {
			w.Header().Set("RateLimit-Remaining", "0")
			w.Header().Set("RateLimit-Reset", "1")
		}
		w.WriteHeader(h.failStatus)
		fmt.Fprintf(w, `{"message":%q,"errors":[{"field":"x%s","message":%q}],"scope":%q}`, plant("refused"), sharedToken, plant("e"), plant("s"))
		return
	}
	req, _ := http.NewRequest(r.Method, strings.TrimSuffix(h.sim.URL, "/")+r.URL.RequestURI(), r.Body)
	req.Header = r.Header.Clone()
	req.Header.Set("Authorization", "Bearer "+buildkitetest.DefaultToken)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for k, v := range resp.Header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	var v any
	if json.Unmarshal(body, &v) == nil {
		body, _ = json.Marshal(plantAll(v))
	} else if resp.StatusCode < 300 {
		body = []byte(plant(string(body)))
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

func plantAll(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && (k == "id" || strings.HasSuffix(k, "_id") || strings.HasSuffix(k, "_at") || strings.HasSuffix(k, "url") ||
				k == "state" || k == "number" || k == "slug" || k == "type" || k == "scope" || k == "mime_type") {
				v[k] = s
				continue
			}
			v[k] = plantAll(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = plantAll(e)
		}
		return v
	case string:
		if _, err := time.Parse(time.RFC3339, v); err == nil {
			return v
		}
		return plant(v)
	}
	return v
}

// Finding M2: redaction used `\b`-anchored shape regexes, so a token after
// a word character or at a line start inside a JSON string ("\nbkua_…")
// reached responses, the audit and the server log. Now the exact values of
// the current and previous token are removed wherever they appear, and the
// shapes without a leading boundary. The tokens are planted in every string
// the stand-in Buildkite returns and in every error path.
func TestSecurityM2TokenNeverInResultsErrorsAuditOrLogs(t *testing.T) {
	redact.Remember(previousToken) // as after a rotation: the old token was read before
	sim := buildkitetest.New(buildkitetest.WithUserRateLimit(1_000_000), buildkitetest.WithOrgRateLimit(1_000_000))
	t.Cleanup(sim.Close)
	hb := &hostile{sim: sim}
	proxy := httptest.NewServer(hb)
	t.Cleanup(proxy.Close)

	dir := t.TempDir()
	bk, err := buildkite.New(buildkite.Config{BaseURL: proxy.URL + "/", Tokens: secrets.Static(sharedToken), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := tools.Default(bk)
	if err != nil {
		t.Fatal(err)
	}
	store, err := (local.Env{}).PolicyStore(t.Context(), standalone.StoreOptions{Dir: filepath.Join(dir, "state"), Catalog: catalog}) // every read tool for everyone
	if err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(dir, "audit.jsonl")
	aw, err := audit.OpenFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { aw.Close() })
	var logs syncBuffer
	h, err := mcpserver.New(mcpserver.Config{
		Catalog: catalog, Policy: policy.NewCache(store, 0, nil), Audit: aw,
		Auth:        mustDev(t),
		ResourceURL: "http://127.0.0.1/mcp",
		// As functions/*/main.go wire it.
		Logger: slog.New(redact.Handler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	seed := buildkitetest.Seed()
	b := seed.Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild)
	job := b.JobByName(buildkitetest.LongLogJobName)
	org, pl, num := buildkitetest.SeedOrg, buildkitetest.SeedPipeline, strconv.Itoa(buildkitetest.FailedBuild)
	build := map[string]any{"org_slug": org, "pipeline_slug": pl, "build_number": num}
	withJob := map[string]any{"org_slug": org, "pipeline_slug": pl, "build_number": num, "job_id": job.ID}
	calls := map[string]map[string]any{
		"current_user": {}, "access_token": {}, "user_token_organization": {},
		"list_pipelines": {"org_slug": org}, "get_pipeline": {"org_slug": org, "pipeline_slug": pl},
		"list_builds": {"org_slug": org}, "get_build": build, "list_jobs": build, "get_job": withJob,
		"list_annotations": build, "list_artifacts_for_build": build, "get_build_failure_summary": build,
		"tail_logs": withJob, "read_logs": withJob,
		"search_logs": {"org_slug": org, "pipeline_slug": pl, "build_number": num, "job_id": job.ID, "pattern": "."},
		"list_agents": {"org_slug": org}, "list_clusters": {"org_slug": org},
	}
	var answers strings.Builder
	var redactedSeen int
	for _, status := range []int{0, 400, 401, 403, 404, 422, 429, 500, 502} {
		hb.failStatus = status
		for name, args := range calls {
			body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": name, "arguments": args}})
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Contains(out, []byte(`"result"`)) {
				t.Errorf("%s (upstream %d): no result: %.300s", name, status, out)
			}
			redactedSeen += bytes.Count(out, []byte(redact.Mark))
			answers.Write(out)
		}
	}
	auditText, _ := os.ReadFile(auditPath)
	for what, text := range map[string]string{"responses": answers.String(), "audit": string(auditText), "log": logs.String()} {
		for _, tok := range []string{sharedToken, previousToken, "bkua_aaaaaaaa"} {
			if n := strings.Count(text, tok); n > 0 {
				t.Errorf("%s hold %q %d times", what, tok, n)
			}
		}
	}
	// Not vacuous: the planted tokens did reach kitegate and were redacted.
	if redactedSeen < 100 {
		t.Errorf("only %d redaction marks in the responses: the tokens were not planted", redactedSeen)
	}
	if !strings.Contains(string(auditText), redact.Mark) {
		t.Error("no redaction mark in the audit: the error paths did not carry the token")
	}
}

func mustDev(t *testing.T) identity.Authenticator {
	t.Helper()
	a, err := identity.NewDev(identity.DevConfig{Default: identity.Caller{Subject: "dev", Groups: []string{"engineering"}, Source: "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}
