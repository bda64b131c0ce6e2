package discovery

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/metrics"
	"github.com/kitegate/kitegate/internal/metrics/metricstest"
)

// TestMetrics: each run publishes the token's health as gauges the
// template's alarms watch: degraded and expiring soon with the days left,
// then failed once Buildkite refuses the token.
func TestMetrics(t *testing.T) {
	const short = "bkua_short_lived_44444444444444444444444444"
	expires := time.Now().Add(72 * time.Hour).Truncate(time.Second).UTC()
	e := newEnv(t, short, buildkitetest.WithExpiringToken(short, expires, buildkitetest.DefaultScopes...))
	s, err := openEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	withMetrics := func(c *Config) { c.Metrics = metrics.New(&out, "kitegate-test-DiscoveryFunction") }
	run(t, e.runner(t, s, PendingReview, withMetrics))
	e.token.set("bkua_revoked_5555555555555555555555555555555")
	run(t, e.runner(t, s, PendingReview, withMetrics))

	lines, err := metricstest.Parse(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 {
		t.Fatalf("%d metrics lines, want one per run:\n%s", len(lines), out.String())
	}
	expiring, failed := lines[0].Values, lines[1].Values
	if expiring["TokenDegraded"] != 1 || expiring["TokenExpiringSoon"] != 1 || expiring["TokenFailed"] != 0 {
		t.Errorf("an expiring token: %v, want TokenDegraded 1, TokenExpiringSoon 1, TokenFailed 0", expiring)
	}
	if d := expiring["TokenDaysToExpiry"]; math.Abs(d-3) > 0.1 {
		t.Errorf("TokenDaysToExpiry %v, want about 3", d)
	}
	if failed["TokenFailed"] != 1 || failed["TokenDegraded"] != 0 {
		t.Errorf("a refused token: %v, want TokenFailed 1", failed)
	}
	if _, ok := failed["TokenDaysToExpiry"]; ok {
		t.Errorf("a token that cannot be read published days to expiry: %v", failed)
	}
}
