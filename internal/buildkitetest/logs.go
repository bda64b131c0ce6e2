package buildkitetest

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"
)

// ANSI escapes as CI tools print them.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiGrey   = "\x1b[90m"
)

// logWriter writes a job log the way buildkite-agent uploads it: every line
// opens with an "\x1b_bk;t=<unix ms>\x07" timestamp, lines end in "\r\n".
type logWriter struct {
	b strings.Builder
	t time.Time
}

func newLog(start time.Time) *logWriter { return &logWriter{t: start} }

func (w *logWriter) line(format string, a ...any) {
	fmt.Fprintf(&w.b, "\x1b_bk;t=%d\x07", w.t.UnixMilli())
	fmt.Fprintf(&w.b, format, a...)
	w.b.WriteString("\r\n")
	w.t = w.t.Add(137 * time.Millisecond)
}

func (w *logWriter) wait(d time.Duration) { w.t = w.t.Add(d) }

func (w *logWriter) String() string { return w.b.String() }

// preamble is what the agent prints before the step's command runs.
func (w *logWriter) preamble(agent, repo, branch, commit, command string) {
	w.line("~~~ Running global environment hook")
	w.line("%s$%s /etc/buildkite-agent/hooks/environment", ansiGrey, ansiReset)
	w.line("~~~ Preparing working directory")
	w.line("%s$%s cd /var/lib/buildkite-agent/builds/%s/acme/checkout", ansiGrey, ansiReset, agent)
	w.line("%s$%s git remote set-url origin %s", ansiGrey, ansiReset, repo)
	w.line("%s$%s git clean -ffxdq", ansiGrey, ansiReset)
	w.line("%s$%s git fetch -v --prune -- origin %s", ansiGrey, ansiReset, branch)
	w.line("POST git-upload-pack (328 bytes)")
	w.line("From github.com:%s", strings.TrimSuffix(strings.TrimPrefix(repo, "git@github.com:"), ".git"))
	w.line(" * branch            %s -> FETCH_HEAD", branch)
	w.wait(2 * time.Second)
	w.line("%s$%s git checkout -f %s", ansiGrey, ansiReset, commit)
	w.line("HEAD is now at %s", commit[:7])
	w.line("# Host \"github.com\" already in list of known hosts")
	w.line("~~~ Running plugin docker-compose pre-command hook")
	w.line("%s$%s /var/lib/buildkite-agent/plugins/github-com-buildkite-plugins-docker-compose-buildkite-plugin-v5-4-1/hooks/pre-command", ansiGrey, ansiReset)
	w.line("--- :docker: Pulling services app, postgres, redis")
	w.wait(8 * time.Second)
	w.line("%sapp Pulled%s", ansiGreen, ansiReset)
	w.line("%spostgres Pulled%s", ansiGreen, ansiReset)
	w.line("%sredis Pulled%s", ansiGreen, ansiReset)
	w.line("~~~ Running commands")
	w.line("%s$%s %s", ansiGrey, ansiReset, command)
}

// exit prints the agent's closing lines for a command's exit status.
func (w *logWriter) exit(status int) {
	if status == 0 {
		return
	}
	w.line("^^^ +++")
	w.line("%s🚨 Error: The command exited with status %d%s", ansiRed, status, ansiReset)
	w.line("^^^ +++")
	w.line("user command error: exit status %d", status)
}

// Deterministic pseudo-random numbers for log contents.
type prng uint64

func (p *prng) next(n int) int {
	*p ^= *p << 13
	*p ^= *p >> 7
	*p ^= *p << 17
	return int(uint64(*p) % uint64(n))
}

// specFiles are the spec files the web-app RSpec suite runs.
var specFiles = []string{
	"spec/models/user_spec.rb", "spec/models/order_spec.rb", "spec/models/cart_spec.rb",
	"spec/models/coupon_spec.rb", "spec/models/subscription_spec.rb", "spec/requests/api/v1/orders_spec.rb",
	"spec/requests/api/v1/products_spec.rb", "spec/requests/sessions_spec.rb", "spec/services/checkout_service_spec.rb",
	"spec/services/payment_gateway_spec.rb", "spec/services/tax_calculator_spec.rb", "spec/jobs/send_receipt_job_spec.rb",
	"spec/system/checkout_spec.rb", "spec/system/sign_in_spec.rb", "spec/mailers/order_mailer_spec.rb",
	"spec/policies/order_policy_spec.rb",
}

// rspecLog is the log of an RSpec job. With failures > 0 it is long (well
// over 200 lines) and ends in the failure report, as a real failing run does.
func rspecLog(start time.Time, agent, repo, branch, commit string, index, total, failures int, seed uint64) string {
	w := newLog(start)
	w.preamble(agent, repo, branch, commit, "bin/ci-rspec")
	w.line("--- :rspec: Running RSpec (%d/%d)", index+1, total)
	w.line("Randomized with seed %d", 10000+seed%50000)
	w.line("Knapsack Pro: running %d of %d test files", 8, len(specFiles))
	rnd := prng(seed*2654435761 + 1)
	examples := 0
	lines := 60
	if failures > 0 {
		lines = 190
	}
	for i := 0; i < lines; i++ {
		var b strings.Builder
		for k := 0; k < 60; k++ {
			examples++
			switch {
			case failures > 0 && (i == 37 || i == 101 || i == 166) && k == 13:
				b.WriteString(ansiRed + "F" + ansiReset)
			case rnd.next(97) == 0:
				b.WriteString(ansiYellow + "*" + ansiReset)
			default:
				b.WriteString(ansiGreen + "." + ansiReset)
			}
		}
		w.line("%s", b.String())
		w.wait(350 * time.Millisecond)
	}
	w.line("")
	if failures > 0 {
		w.line("Failures:")
		w.line("")
		fails := []struct{ desc, file, err, want, got string }{
			{"CheckoutService#call with an expired coupon rejects the order", "spec/services/checkout_service_spec.rb:84",
				"expected CheckoutService::CouponExpired to be raised", "CheckoutService::CouponExpired", "nothing was raised"},
			{"Checkout applies the regional tax rate to the order total", "spec/system/checkout_spec.rb:142",
				"expected: \"$107.25\"", "\"$107.25\"", "\"$100.00\""},
			{"Api::V1::Orders GET /api/v1/orders paginates with Link headers", "spec/requests/api/v1/orders_spec.rb:57",
				"expected the response to have status code 200", "200", "500"},
		}
		for n, f := range fails[:min(failures, len(fails))] {
			w.line("  %d) %s", n+1, f.desc)
			w.line("     %sFailure/Error: %s%s", ansiRed, f.err, ansiReset)
			w.line("")
			w.line("       %sexpected: %s%s", ansiRed, f.want, ansiReset)
			w.line("       %s     got: %s%s", ansiRed, f.got, ansiReset)
			w.line("")
			w.line("     %s# ./app/services/checkout_service.rb:%d:in `apply_discounts'%s", ansiCyan, 40+n*7, ansiReset)
			w.line("     %s# ./app/services/checkout_service.rb:%d:in `call'%s", ansiCyan, 18+n, ansiReset)
			w.line("     %s# ./%s:in `block (3 levels) in <top (required)>'%s", ansiCyan, f.file, ansiReset)
			w.line("     %s# ./spec/support/database_cleaner.rb:22:in `block (2 levels) in <top (required)>'%s", ansiCyan, ansiReset)
			w.line("")
		}
		w.line("Finished in 3 minutes 12.4 seconds (files took 6.81 seconds to load)")
		w.line("%s%d examples, %d failures, %d pending%s", ansiRed, examples, failures, examples/97, ansiReset)
		w.line("")
		w.line("Failed examples:")
		w.line("")
		for _, f := range fails[:min(failures, len(fails))] {
			w.line("%srspec ./%s%s %s# %s%s", ansiRed, f.file, ansiReset, ansiCyan, f.desc, ansiReset)
		}
		w.line("")
		w.line("Randomized with seed %d", 10000+seed%50000)
		w.line("~~~ Uploading artifacts")
		w.line("%s$%s buildkite-agent artifact upload \"tmp/rspec/*.xml;log/test.log;tmp/capybara/*.png\"", ansiGrey, ansiReset)
		w.line("2026-11-24 16:03:41 INFO   Found 3 files that match \"tmp/rspec/*.xml;log/test.log;tmp/capybara/*.png\"")
		w.line("2026-11-24 16:03:42 INFO   Uploading 3 files")
		w.exit(1)
		return w.String()
	}
	w.line("Finished in 1 minute 48.9 seconds (files took 6.12 seconds to load)")
	w.line("%s%d examples, 0 failures, %d pending%s", ansiGreen, examples, examples/97, ansiReset)
	w.line("")
	w.line("Randomized with seed %d", 10000+seed%50000)
	return w.String()
}

// commandLog is the log of a short script job: the preamble, then body
// lines, then the exit status.
func commandLog(start time.Time, agent, repo, branch, commit, command string, status int, body ...string) string {
	w := newLog(start)
	w.preamble(agent, repo, branch, commit, command)
	for _, l := range body {
		w.line("%s", l)
		w.wait(400 * time.Millisecond)
	}
	w.exit(status)
	return w.String()
}

func uploadLog(start time.Time, agent, repo, branch, commit string) string {
	return commandLog(start, agent, repo, branch, commit, "buildkite-agent pipeline upload", 0,
		"2026-11-24 16:00:07 INFO   Reading pipeline config from \".buildkite/pipeline.yml\"",
		"2026-11-24 16:00:07 INFO   Updating BUILDKITE_COMMIT to \""+commit+"\"",
		"2026-11-24 16:00:08 INFO   Successfully parsed and uploaded pipeline #1 (9 steps)",
	)
}

func lintLog(start time.Time, agent, repo, branch, commit string, offenses int) string {
	body := []string{
		"--- :rubocop: Running RuboCop",
		"Inspecting 812 files",
	}
	if offenses == 0 {
		body = append(body, strings.Repeat(ansiGreen+"."+ansiReset, 80),
			"", "812 files inspected, "+ansiGreen+"no offenses"+ansiReset+" detected")
		return commandLog(start, agent, repo, branch, commit, "bundle exec rubocop --parallel", 0, body...)
	}
	body = append(body,
		strings.Repeat(ansiGreen+"."+ansiReset, 41)+ansiRed+"C"+ansiReset+strings.Repeat(ansiGreen+"."+ansiReset, 30),
		"",
		"Offenses:",
		"",
		ansiCyan+"app/controllers/checkout_controller.rb"+ansiReset+":48:5: "+ansiYellow+"C"+ansiReset+": [Correctable] Style/GuardClause: Use a guard clause (return unless cart.present?) instead of wrapping the code inside a conditional expression.",
		ansiCyan+"app/models/order.rb"+ansiReset+":112:121: "+ansiYellow+"C"+ansiReset+": Layout/LineLength: Line is too long. [131/120]",
		"",
		fmt.Sprintf("812 files inspected, %s%d offenses%s detected, 1 offense autocorrectable", ansiRed, offenses, ansiReset),
	)
	return commandLog(start, agent, repo, branch, commit, "bundle exec rubocop --parallel", 1, body...)
}

func jestLog(start time.Time, agent, repo, branch, commit string, failed bool) string {
	body := []string{
		"--- :jest: Running Jest",
		"yarn run v1.22.22",
		"$ jest --ci --reporters=default --reporters=jest-junit",
		ansiGreen + ansiBold + " PASS " + ansiReset + " app/javascript/cart/__tests__/CartSummary.test.tsx",
		ansiGreen + ansiBold + " PASS " + ansiReset + " app/javascript/checkout/__tests__/AddressForm.test.tsx",
	}
	status := 0
	if failed {
		status = 1
		body = append(body,
			ansiRed+ansiBold+" FAIL "+ansiReset+" app/javascript/checkout/__tests__/PaymentStep.test.tsx",
			"  ● PaymentStep › shows the card error returned by the gateway",
			"",
			"    TestingLibraryElementError: Unable to find an element with the text: /card was declined/i",
			"",
			"      at Object.getElementError (node_modules/@testing-library/dom/dist/config.js:37:19)",
			"",
			"Tests:       "+ansiRed+"1 failed"+ansiReset+", "+ansiGreen+"214 passed"+ansiReset+", 215 total",
		)
	} else {
		body = append(body,
			ansiGreen+ansiBold+" PASS "+ansiReset+" app/javascript/checkout/__tests__/PaymentStep.test.tsx",
			"Tests:       "+ansiGreen+"215 passed"+ansiReset+", 215 total",
		)
	}
	body = append(body, "Time:        41.283 s", "Done in 43.02s.")
	return commandLog(start, agent, repo, branch, commit, "yarn test --ci", status, body...)
}

func dockerLog(start time.Time, agent, repo, branch, commit string) string {
	return commandLog(start, agent, repo, branch, commit, ".buildkite/steps/docker-build.sh", 0,
		"--- :docker: Building 123456789012.dkr.ecr.us-east-1.amazonaws.com/web-app:"+commit[:12],
		"#1 [internal] load build definition from Dockerfile",
		"#5 [build 3/7] RUN bundle install --jobs 8 --without development test",
		"#9 [build 7/7] RUN bin/rails assets:precompile",
		"#12 exporting to image",
		"#12 naming to 123456789012.dkr.ecr.us-east-1.amazonaws.com/web-app:"+commit[:12]+" done",
		"--- :docker: Pushing image",
		commit[:12]+": digest: sha256:"+fmt.Sprintf("%x", sha256.Sum256([]byte(commit)))+" size: 3254",
	)
}
