package buildkitetest

import (
	"fmt"
	"strings"
	"time"
)

// Facts about Seed() that tests can rely on.
const (
	SeedOrg      = "acme"      // "Acme Inc", five pipelines
	SeedLabsOrg  = "acme-labs" // "Acme Labs", one pipeline
	SeedPipeline = "web-app"   // in SeedOrg; builds 1..SeedBuildCount
	// SeedBuildCount is the number of web-app builds: two pages at per_page 30.
	SeedBuildCount = 42

	// web-app builds, one per state.
	RunningBuild   = 42
	ScheduledBuild = 41
	FailingBuild   = 40
	BlockedBuild   = 39 // blocked on the ":rocket: Deploy to production?" block step
	CancelingBuild = 38
	// FailedBuild failed on LongLogJobName (over 200 log lines, ANSI colours),
	// has error, warning and info annotations, artifacts (one over 64 KiB),
	// and a retried Jest job (shown with include_retried_jobs=true).
	FailedBuild   = 37
	CanceledBuild = 36
	// PassedBuild is a main-branch build whose trigger step started an
	// infra-terraform build (every passed main-branch build deploys so).
	PassedBuild  = 35
	SkippedBuild = 34
	NotRunBuild  = 33

	// LongLogJobName names the failed RSpec job of FailedBuild.
	LongLogJobName = ":rspec: RSpec 2/2"
)

// seedEpoch is when the newest seeded build was created. Fixed, so the seed
// is identical on every run.
var seedEpoch = time.Date(2026, 11, 24, 16, 0, 0, 0, time.UTC)

// Build returns the build of org/pipeline with number n, or nil.
func (d *Data) Build(org, pipeline string, n int) *Build {
	for _, o := range d.Organizations {
		if o.Slug != org {
			continue
		}
		for _, p := range o.Pipelines {
			if p.Slug != pipeline {
				continue
			}
			for _, b := range p.Builds {
				if b.Number == n {
					return b
				}
			}
		}
	}
	return nil
}

// JobByName returns the latest (not retried) job named name, or nil.
func (b *Build) JobByName(name string) *Job {
	for _, j := range b.Jobs {
		if (j.Name == name || j.Label == name) && !j.Retried {
			return j
		}
	}
	return nil
}

// people who push code in the seed.
var (
	samRivera = User{Name: "Sam Rivera", Email: "sam.rivera@acme.example"}
	priya     = User{Name: "Priya Natarajan", Email: "priya@acme.example"}
	jonas     = User{Name: "Jonas Weber", Email: "jonas.weber@acme.example"}
	mei       = User{Name: "Mei Chen", Email: "mei.chen@acme.example"}
)

func person(u User) *User {
	u.ID = uuidFor("user", u.Email)
	u.GraphQLID = graphQLID("User", u.ID)
	u.AvatarURL = "https://www.gravatar.com/avatar/" + fmt.Sprintf("%x", sha1Sum([]byte(u.Email)))[:32]
	u.CreatedAt = time.Date(2023, 3, 14, 9, 26, 53, 0, time.UTC)
	return &u
}

// Seed returns the default data: a believable CI history for two
// organizations. See the Seed* and *Build constants for what tests can rely on.
func Seed() *Data {
	d := &Data{User: *person(samRivera)}
	acme := &Organization{Name: "Acme Inc", Slug: SeedOrg, CreatedAt: time.Date(2021, 6, 1, 8, 0, 0, 0, time.UTC)}
	labs := &Organization{Name: "Acme Labs", Slug: SeedLabsOrg, CreatedAt: time.Date(2024, 2, 12, 11, 30, 0, 0, time.UTC)}
	for _, o := range []*Organization{acme, labs} {
		o.ID = uuidFor("org", o.Slug)
		o.GraphQLID = graphQLID("Organization", o.ID)
	}
	d.Organizations = []*Organization{acme, labs}

	g := &seeder{org: acme}
	web := g.pipeline("Web App", "web-app", "git@github.com:acme-inc/web-app.git", "Rails storefront and checkout", []string{"rails", "frontend"})
	api := g.pipeline("API Service", "api-service", "git@github.com:acme-inc/api-service.git", "Public REST API (Go)", []string{"go", "backend"})
	ios := g.pipeline("Mobile iOS", "mobile-ios", "git@github.com:acme-inc/mobile-ios.git", "Acme shopping app for iOS", []string{"mobile"})
	infra := g.pipeline("Infra Terraform", "infra-terraform", "git@github.com:acme-inc/infrastructure.git", "Terraform plans and applies for staging and production", []string{"infra", "deploy"})
	docs := g.pipeline("Docs Site", "docs-site", "git@github.com:acme-inc/docs.git", "", nil)
	g.webApp(web, infra)
	g.simple(api, 6, "go test ./...", ":go: Test")
	g.simple(ios, 4, "bundle exec fastlane test", ":xcode: Test")
	g.simple(docs, 3, "npm run build", ":hugo: Build")

	gl := &seeder{org: labs}
	ml := gl.pipeline("ML Experiments", "ml-experiments", "git@github.com:acme-labs/ml-experiments.git", "Nightly model training and evaluation", []string{"python", "gpu"})
	gl.simple(ml, 3, "python -m pytest -q", ":python: Tests")
	seedHostile(d)
	seedStepUploads(d)
	seedTestEngine(d)
	seedClusters(d)
	seedAgents(d)
	seedSchedules(d)
	seedAnnotations(d)
	return d
}

type seeder struct {
	org *Organization
}

func (g *seeder) pipeline(name, slug, repo, desc string, tags []string) *Pipeline {
	p := &Pipeline{
		ID:            uuidFor("pipeline", g.org.Slug, slug),
		Name:          name,
		Slug:          slug,
		Description:   desc,
		Repository:    repo,
		DefaultBranch: "main",
		ClusterID:     uuidFor("cluster", g.org.Slug, "default"),
		Visibility:    "private",
		Tags:          tags,
		Configuration: "steps:\n  - label: \":pipeline:\"\n    command: \"buildkite-agent pipeline upload\"\n",
		CreatedAt:     g.org.CreatedAt.Add(time.Duration(len(g.org.Pipelines)+1) * 24 * time.Hour),
	}
	p.GraphQLID = graphQLID("Pipeline", p.ID)
	g.org.Pipelines = append(g.org.Pipelines, p)
	return p
}

var commitMessages = []string{
	"Bump rack from 3.1.7 to 3.1.8",
	"Fix flaky session timeout spec",
	"Add regional tax rates to checkout",
	"Refactor CartSummary into smaller components",
	"Cache product listings for 5 minutes",
	"Upgrade to Rails 7.2.2",
	"Handle declined cards in PaymentStep",
	"Add Link header pagination to orders API",
	"Remove legacy coupon importer",
	"Tune Puma workers for staging",
	"Log Stripe request ids on payment errors",
	"Speed up system specs with parallel Capybara",
}

func commitFor(parts ...any) string {
	return fmt.Sprintf("%x", sha1Sum([]byte(fmt.Sprint(parts...))))
}

func tp(t time.Time) *time.Time { return &t }

func agentFor(org *Organization, n int) *Agent {
	name := fmt.Sprintf("%s-linux-ci-i-0%09x-%d", org.Slug, n*7919+4093, n%4+1)
	a := &Agent{
		ID:        uuidFor("agent", name),
		Name:      name,
		Hostname:  fmt.Sprintf("ip-10-0-%d-%d", 10+n%20, 20+n*13%200),
		Version:   "3.87.1",
		IPAddress: fmt.Sprintf("10.0.%d.%d", 10+n%20, 20+n*13%200),
		MetaData:  []string{"queue=default", "os=linux", "instance-type=c6i.2xlarge"},
		CreatedAt: seedEpoch.Add(-time.Duration(n) * time.Hour),
	}
	return a
}

// newBuild makes a build shell; jobs are added by the caller.
func (g *seeder) newBuild(p *Pipeline, n int, created time.Time, state, branch string, creator *User) *Build {
	b := &Build{
		ID:          uuidFor("build", g.org.Slug, p.Slug, n),
		Number:      n,
		State:       state,
		Message:     commitMessages[(n*5+len(p.Slug))%len(commitMessages)],
		Commit:      commitFor(g.org.Slug, p.Slug, n),
		Branch:      branch,
		Source:      "webhook",
		Creator:     creator,
		CreatedAt:   created,
		ScheduledAt: tp(created),
		MetaData:    map[string]string{},
	}
	b.GraphQLID = graphQLID("Build", b.ID)
	if creator != nil {
		b.Source = "ui"
		b.Author = &Author{Name: creator.Name, Email: creator.Email}
	} else {
		author := []User{priya, jonas, mei, samRivera}[n%4]
		b.Author = &Author{Username: strings.ToLower(strings.Fields(author.Name)[0]), Name: author.Name, Email: author.Email}
	}
	b.Env = map[string]string{}
	return b
}

// jobMaker builds the jobs of one build.
type jobMaker struct {
	g     *seeder
	p     *Pipeline
	b     *Build
	clock time.Time
	n     int
}

func (m *jobMaker) job(typ, name, key, state string) *Job {
	m.n++
	j := &Job{
		ID:        uuidFor("job", m.b.ID, m.n, name),
		Type:      typ,
		StepKey:   key,
		State:     state,
		CreatedAt: m.b.CreatedAt,
	}
	j.GraphQLID = graphQLID("Job", j.ID)
	switch typ {
	case JobTypeManual:
		j.Label = name
	case JobTypeScript, JobTypeTrigger:
		j.Name = name
	}
	m.b.Jobs = append(m.b.Jobs, j)
	return j
}

// script adds a script job that ran (or is running, or never started,
// depending on state) and produces its log with mkLog.
func (m *jobMaker) script(name, key, command, state string, exit *int, dur time.Duration, mkLog func(start time.Time, agent string) string) *Job {
	j := m.job(JobTypeScript, name, key, state)
	j.Command = command
	j.AgentQueryRules = []string{"queue=default"}
	j.ScheduledAt = tp(m.b.CreatedAt)
	j.RunnableAt = tp(m.clock)
	j.Priority = 0
	o, p, b := m.g.org, m.p, m.b
	switch state {
	case "scheduled", "waiting", "broken", "skipped", "canceled":
		if state == "canceled" {
			j.ExitStatus = exit
		}
	default:
		agent := agentFor(o, b.Number+m.n)
		j.Agent = agent
		start := m.clock.Add(4 * time.Second)
		j.StartedAt = tp(start)
		if mkLog != nil {
			j.Log = mkLog(start, agent.Name)
		}
		if state != "running" && state != "canceling" {
			end := start.Add(dur)
			j.FinishedAt = tp(end)
			j.ExitStatus = exit
			m.clock = end
		}
	}
	j.Env = map[string]string{
		"BUILDKITE":                       "true",
		"CI":                              "true",
		"BUILDKITE_ORGANIZATION_SLUG":     o.Slug,
		"BUILDKITE_PIPELINE_SLUG":         p.Slug,
		"BUILDKITE_PIPELINE_NAME":         p.Name,
		"BUILDKITE_REPO":                  p.Repository,
		"BUILDKITE_BUILD_ID":              b.ID,
		"BUILDKITE_BUILD_NUMBER":          fmt.Sprint(b.Number),
		"BUILDKITE_BUILD_URL":             fmt.Sprintf("%s%s/%s/builds/%d", webBase, o.Slug, p.Slug, b.Number),
		"BUILDKITE_BRANCH":                b.Branch,
		"BUILDKITE_COMMIT":                b.Commit,
		"BUILDKITE_MESSAGE":               b.Message,
		"BUILDKITE_SOURCE":                b.Source,
		"BUILDKITE_JOB_ID":                j.ID,
		"BUILDKITE_LABEL":                 name,
		"BUILDKITE_COMMAND":               command,
		"BUILDKITE_STEP_KEY":              key,
		"BUILDKITE_AGENT_META_DATA_QUEUE": "default",
		"RAILS_ENV":                       "test",
		"DATABASE_URL":                    "postgres://ci:ci-simulated-password@postgres:5432/app_test",
		"SENTRY_DSN":                      "https://0f1e2d3c4b5a69788796a5b4c3d2e1f0@o000000.ingest.sentry.example/4500000",
	}
	return j
}

func (m *jobMaker) waiter() *Job { return m.job(JobTypeWaiter, "", "", "") }

func exit(n int) *int { return &n }

// webApp seeds the web-app pipeline: SeedBuildCount builds covering every
// build state, and the trigger steps that start infra-terraform deploys.
func (g *seeder) webApp(p, infra *Pipeline) {
	states := map[int]string{
		RunningBuild: "running", ScheduledBuild: "scheduled", FailingBuild: "failing",
		BlockedBuild: "blocked", CancelingBuild: "canceling", FailedBuild: "failed",
		CanceledBuild: "canceled", PassedBuild: "passed", SkippedBuild: "skipped",
		NotRunBuild: "not_run", 29: "failed", 21: "failed", 17: "canceled", 12: "failed",
	}
	branches := map[int]string{
		FailedBuild: "feature/checkout-v2", FailingBuild: "fix/session-timeout", CanceledBuild: "feature/checkout-v2",
		CancelingBuild: "dependabot/bundler/rack-3.1.8", SkippedBuild: "feature/checkout-v2", 29: "feature/tax-rates",
		21: "feature/tax-rates", 26: "release/2026.11", 12: "dependabot/npm_and_yarn/axios-1.7.4",
	}
	deploy := 0
	for n := 1; n <= SeedBuildCount; n++ {
		state := states[n]
		if state == "" {
			state = "passed"
		}
		branch := branches[n]
		if branch == "" {
			branch = "main"
		}
		var creator *User
		if n == ScheduledBuild || n == CanceledBuild {
			creator = person(samRivera)
		}
		created := seedEpoch.Add(-time.Duration(SeedBuildCount-n) * 97 * time.Minute)
		b := g.newBuild(p, n, created, state, branch, creator)
		if strings.HasPrefix(branch, "feature/") || strings.HasPrefix(branch, "fix/") || strings.HasPrefix(branch, "dependabot/") {
			b.PullRequest = &PullRequest{ID: fmt.Sprint(1800 + n), Base: "main", Repository: p.Repository}
			b.MetaData["pr-author"] = b.Author.Username
		}
		b.MetaData["release-version"] = fmt.Sprintf("2026.11.%d", n)
		p.Builds = append(p.Builds, b)
		triggered := g.webAppJobs(p, b)
		if triggered {
			deploy++
			ib := g.newBuild(infra, deploy, b.CreatedAt.Add(9*time.Minute), "passed", "main", nil)
			ib.Source = "trigger_job"
			ib.Message = "Deploy web-app " + b.Commit[:7] + " to staging"
			ib.Commit = commitFor("infra", deploy)
			ib.Env["DEPLOY_ENV"] = "staging"
			ib.Env["APP_IMAGE_TAG"] = b.Commit[:12]
			tj := b.Jobs[len(b.Jobs)-1]
			ib.TriggeredFrom = &TriggeredFrom{BuildID: b.ID, BuildNumber: b.Number, BuildPipelineSlug: p.Slug}
			tj.TriggeredBuild = &TriggeredBuild{ID: ib.ID, Number: ib.Number, Pipeline: infra.Slug}
			m := &jobMaker{g: g, p: infra, b: ib, clock: ib.CreatedAt}
			m.script(":terraform: Apply (staging)", "apply", "terraform apply -auto-approve tfplan", "passed", exit(0), 2*time.Minute,
				func(start time.Time, agent string) string {
					return commandLog(start, agent, infra.Repository, "main", ib.Commit, "terraform apply -auto-approve tfplan", 0,
						"--- :terraform: Applying plan",
						"aws_ecs_service.web_app: Modifying... [id=arn:aws:ecs:us-east-1:123456789012:service/staging/web-app]",
						"aws_ecs_service.web_app: Modifications complete after 41s",
						ansiGreen+ansiBold+"Apply complete! Resources: 0 added, 1 changed, 0 destroyed."+ansiReset)
				})
			ib.StartedAt = ib.Jobs[0].StartedAt
			ib.FinishedAt = ib.Jobs[0].FinishedAt
			infra.Builds = append(infra.Builds, ib)
		}
	}
	for _, b := range p.Builds {
		if b.Number == FailedBuild {
			g.failedBuildExtras(b)
		}
		if b.Number == PassedBuild {
			b.Annotations = append(b.Annotations, &Annotation{
				ID: uuidFor("annotation", b.ID, "deploy"), Context: "deploy", Style: "success", Priority: 3,
				BodyHTML:  "<p>Deployed <code>" + b.Commit[:7] + "</code> to <strong>staging</strong>.</p>",
				CreatedAt: b.CreatedAt.Add(12 * time.Minute), UpdatedAt: b.CreatedAt.Add(12 * time.Minute),
			})
		}
	}
}

// webAppJobs adds the jobs of a web-app build matching its state and sets
// its started/finished times. It reports whether a trigger step ran.
func (g *seeder) webAppJobs(p *Pipeline, b *Build) bool {
	m := &jobMaker{g: g, p: p, b: b, clock: b.CreatedAt.Add(3 * time.Second)}
	repo, br, c := p.Repository, b.Branch, b.Commit
	upload := func(state string) {
		m.script(":pipeline:", "", "buildkite-agent pipeline upload", state, exit(0), 6*time.Second,
			func(s time.Time, a string) string { return uploadLog(s, a, repo, br, c) })
	}
	lint := func(state string, offenses int) {
		st := 0
		if offenses > 0 {
			st = 1
		}
		m.script(":rubocop: Lint", "lint", "bundle exec rubocop --parallel", state, exit(st), 52*time.Second,
			func(s time.Time, a string) string { return lintLog(s, a, repo, br, c, offenses) })
	}
	rspec := func(i int, state string, failures int) *Job {
		st := 0
		if failures > 0 {
			st = 1
		}
		j := m.script(fmt.Sprintf(":rspec: RSpec %d/2", i+1), "rspec", "bin/ci-rspec", state, exit(st), 3*time.Minute+12*time.Second,
			func(s time.Time, a string) string {
				return rspecLog(s, a, repo, br, c, i, 2, failures, uint64(b.Number*10+i))
			})
		j.ParallelIndex, j.ParallelTotal = exit(i), exit(2)
		j.ArtifactPaths = "tmp/rspec/*.xml;log/test.log;tmp/capybara/*.png"
		return j
	}
	jest := func(state string, failed bool) *Job {
		st := 0
		if failed {
			st = 1
		}
		return m.script(":jest: Jest", "jest", "yarn test --ci", state, exit(st), 47*time.Second,
			func(s time.Time, a string) string { return jestLog(s, a, repo, br, c, failed) })
	}
	docker := func(state string) *Job {
		return m.script(":docker: Build image", "docker-build", ".buildkite/steps/docker-build.sh", state, exit(0), 2*time.Minute,
			func(s time.Time, a string) string { return dockerLog(s, a, repo, br, c) })
	}
	gate := func(state string) *Job {
		j := m.job(JobTypeManual, ":rocket: Deploy to production?", "release-gate", state)
		j.Unblockable = state == "blocked"
		if state == "unblocked" {
			j.UnblockedBy = person(priya)
			j.UnblockedAt = tp(m.clock.Add(3 * time.Minute))
			m.clock = m.clock.Add(3 * time.Minute)
		}
		return j
	}
	trigger := func(state string) *Job {
		j := m.job(JobTypeTrigger, ":terraform: Deploy to staging", "deploy", state)
		j.ScheduledAt, j.RunnableAt = tp(m.clock), tp(m.clock)
		if state != "waiting" && state != "broken" {
			j.StartedAt = tp(m.clock.Add(2 * time.Second))
			j.FinishedAt = tp(m.clock.Add(4 * time.Minute))
			m.clock = m.clock.Add(4 * time.Minute)
		}
		return j
	}
	main := b.Branch == "main"
	triggered := false

	switch b.State {
	case "not_run":
		// The branch filter matched nothing: no jobs at all.
	case "skipped":
		upload("skipped")
	case "scheduled":
		upload("scheduled")
	case "running":
		upload("passed")
		lint("passed", 0)
		rspec(0, "running", 0)
		rspec(1, "running", 0)
		jest("scheduled", false)
		m.waiter()
		docker("waiting")
	case "failing":
		upload("passed")
		lint("passed", 0)
		rspec(0, "failed", 3)
		// Still running, but it already knows it will fail.
		promised := rspec(1, "running", 0)
		promised.PromisedExitStatus = exit(1)
		if promised.StartedAt != nil {
			at := promised.StartedAt.Add(time.Minute)
			promised.PromisedExitStatusAt = &at
		}
		jest("passed", false)
		m.waiter()
		docker("waiting")
	case "canceling":
		upload("passed")
		lint("passed", 0)
		rspec(0, "canceling", 0)
		rspec(1, "canceling", 0)
		jest("passed", false)
		m.waiter()
		docker("canceled")
	case "canceled":
		upload("passed")
		lint("passed", 0)
		rspec(0, "canceled", 0).ExitStatus = exit(-1)
		rspec(1, "canceled", 0).ExitStatus = exit(-1)
		jest("canceled", false).ExitStatus = exit(-1)
		m.waiter()
		docker("broken")
	case "failed":
		upload("passed")
		switch b.Number {
		case 21:
			lint("failed", 2)
			rspec(0, "passed", 0)
			rspec(1, "passed", 0)
			jest("passed", false)
		case 12:
			lint("passed", 0)
			rspec(0, "passed", 0)
			rspec(1, "passed", 0)
			jest("failed", true)
		default:
			lint("passed", 0)
			rspec(0, "passed", 0)
			rspec(1, "failed", 3)
			if b.Number == FailedBuild {
				first := jest("failed", true)
				retry := jest("passed", false)
				first.Retried, first.RetriedInJobID = true, retry.ID
				retry.RetriesCount, retry.RetryType, retry.RetrySourceID = 1, "manual", first.ID
			} else {
				jest("passed", false)
			}
		}
		m.waiter()
		docker("broken")
	case "blocked":
		upload("passed")
		lint("passed", 0)
		rspec(0, "passed", 0)
		rspec(1, "passed", 0)
		jest("passed", false)
		m.waiter()
		docker("passed")
		gate("blocked")
		trigger("waiting")
		b.Blocked = true
	default: // passed
		upload("passed")
		lint("passed", 0)
		rspec(0, "passed", 0)
		rspec(1, "passed", 0)
		jest("passed", false)
		m.waiter()
		docker("passed").Artifacts = []*Artifact{{
			ID: uuidFor("artifact", b.ID, "image-digest"), Path: "image-digest.txt", GlobPath: "image-digest.txt",
			State: "finished", MimeType: "text/plain",
			Content: []byte("sha256:" + fmt.Sprintf("%x", sha1Sum([]byte(b.Commit))) + "\n"),
		}}
		if main {
			gate("unblocked")
			trigger("passed")
			triggered = true
		}
	}
	for _, j := range b.Jobs {
		if j.StartedAt != nil && (b.StartedAt == nil || j.StartedAt.Before(*b.StartedAt)) {
			b.StartedAt = j.StartedAt
		}
	}
	switch b.State {
	case "passed", "failed", "canceled", "blocked", "skipped", "not_run":
		end := m.clock.Add(5 * time.Second)
		b.FinishedAt = &end
	}
	return triggered
}

// failedBuildExtras gives FailedBuild the annotations and artifacts a real
// failed build would have.
func (g *seeder) failedBuildExtras(b *Build) {
	rspec := b.JobByName(LongLogJobName)
	at := b.CreatedAt.Add(4 * time.Minute)
	b.Annotations = []*Annotation{
		{
			ID: uuidFor("annotation", b.ID, "rspec"), Context: "rspec", Style: "error", Priority: 5,
			BodyHTML: "<h4>3 RSpec failures</h4>\n<ul>\n" +
				"<li><code>spec/services/checkout_service_spec.rb:84</code> CheckoutService#call with an expired coupon rejects the order</li>\n" +
				"<li><code>spec/system/checkout_spec.rb:142</code> Checkout applies the regional tax rate to the order total</li>\n" +
				"<li><code>spec/requests/api/v1/orders_spec.rb:57</code> Api::V1::Orders GET /api/v1/orders paginates with Link headers</li>\n</ul>",
			JobID: rspec.ID, CreatedAt: at, UpdatedAt: at,
		},
		{
			ID: uuidFor("annotation", b.ID, "coverage"), Context: "coverage", Style: "warning", Priority: 3,
			BodyHTML:  "<p>Line coverage dropped <strong>1.8%</strong> to <strong>84.2%</strong> (threshold 85%).</p>",
			CreatedAt: at.Add(time.Minute), UpdatedAt: at.Add(time.Minute),
		},
		{
			ID: uuidFor("annotation", b.ID, "bundle-audit"), Context: "bundle-audit", Style: "info", Priority: 1,
			BodyHTML:  "<p>bundle-audit: no vulnerable gems found (advisory DB updated 2026-11-24).</p>",
			CreatedAt: b.CreatedAt.Add(time.Minute), UpdatedAt: b.CreatedAt.Add(time.Minute),
		},
	}
	var testLog strings.Builder
	for i := 0; testLog.Len() < 100*1024; i++ {
		fmt.Fprintf(&testLog, "D, [2026-11-24T16:01:%02d.%06d #4127] DEBUG -- :   Order Load (0.%dms)  SELECT \"orders\".* FROM \"orders\" WHERE \"orders\".\"id\" = $1 LIMIT $2  [[\"id\", %d], [\"LIMIT\", 1]]\n", i%60, i*7919%1000000, i%9+1, 1000+i)
	}
	png := []byte("\x89PNG\r\n\x1a\n")
	for i := 0; len(png) < 24*1024; i++ {
		png = append(png, byte(i*31+7))
	}
	rspec.Artifacts = []*Artifact{
		{
			ID: uuidFor("artifact", b.ID, "junit-2"), Path: "tmp/rspec/junit-2.xml", GlobPath: "tmp/rspec/*.xml",
			State: "finished", MimeType: "application/xml",
			Content: []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
				`<testsuite name="rspec" tests="412" failures="3" errors="0" time="192.4">` + "\n" +
				`  <testcase classname="spec.services.checkout_service_spec" name="CheckoutService#call with an expired coupon rejects the order" file="./spec/services/checkout_service_spec.rb" time="0.41"><failure message="expected CheckoutService::CouponExpired to be raised"/></testcase>` + "\n" +
				`</testsuite>` + "\n"),
		},
		{
			ID: uuidFor("artifact", b.ID, "test-log"), Path: "log/test.log", GlobPath: "log/test.log",
			State: "finished", MimeType: "text/plain", Content: []byte(testLog.String()),
		},
		{
			ID: uuidFor("artifact", b.ID, "screenshot"), Path: "tmp/capybara/checkout_spec_failure.png", GlobPath: "tmp/capybara/*.png",
			State: "finished", MimeType: "image/png", Content: png,
		},
	}
}

// simple appends n builds of a one-step pipeline to p, the newest failed and
// the rest passed.
func (g *seeder) simple(p *Pipeline, n int, command, label string) {
	first := len(p.Builds) + 1
	for i := 1; i <= n; i++ {
		state := "passed"
		if i == n {
			state = "failed"
		}
		created := seedEpoch.Add(-time.Duration(n-i)*5*time.Hour - 45*time.Minute)
		b := g.newBuild(p, first+i-1, created, state, "main", nil)
		m := &jobMaker{g: g, p: p, b: b, clock: created.Add(3 * time.Second)}
		st := 0
		body := []string{"--- " + label, "ok  \tall tests passed"}
		if state == "failed" {
			st = 2
			body = []string{"--- " + label, ansiRed + "FAIL" + ansiReset + "\tintegration test timed out after 10m0s", "panic: test timed out after 10m0s"}
		}
		m.script(label, "test", command, state, exit(st), 90*time.Second, func(s time.Time, a string) string {
			return commandLog(s, a, p.Repository, "main", b.Commit, command, st, body...)
		})
		b.StartedAt = b.Jobs[0].StartedAt
		b.FinishedAt = b.Jobs[0].FinishedAt
		p.Builds = append(p.Builds, b)
	}
}
