package buildkitetest

import (
	"maps"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Schedule is a pipeline schedule: builds created on a cron line.
type Schedule struct {
	ID            string
	GraphQLID     string
	Label         string
	Cronline      string
	Message       string
	Commit        string
	Branch        string
	Env           map[string]string
	Enabled       bool
	NextBuildAt   *time.Time
	FailedMessage string
	FailedAt      *time.Time
	CreatedAt     time.Time
	CreatedBy     *User
}

// SeedSchedules is how many schedules SeedPipeline has; the newest is
// disabled after failing to create a build.
const SeedSchedules = 3

func init() {
	const schedules = pipelinePath + "/schedules"
	routes = append(routes,
		rte("GET", schedules, "read_pipelines", (*Server).listSchedules),
		rte("POST", schedules, "write_pipelines", (*Server).createSchedule),
		rte("GET", schedules+"/:schedule", "read_pipelines", (*Server).getSchedule),
		rte("PATCH", schedules+"/:schedule", "write_pipelines", (*Server).updateSchedule),
	)
}

func seedSchedules(d *Data) {
	for _, o := range d.Organizations {
		for _, p := range o.Pipelines {
			add := func(label, cron, branch string, env map[string]string, age time.Duration, next time.Duration) *Schedule {
				s := &Schedule{
					ID: uuidFor("schedule", o.Slug, p.Slug, label), Label: label, Cronline: cron, Branch: branch,
					Commit: "HEAD", Message: label, Env: env, Enabled: true,
					NextBuildAt: tp(seedEpoch.Add(next)), CreatedAt: seedEpoch.Add(-age), CreatedBy: person(priya),
				}
				s.GraphQLID = graphQLID("PipelineSchedule", s.ID)
				p.Schedules = append(p.Schedules, s)
				return s
			}
			switch p.Slug {
			case SeedPipeline:
				add("Nightly full suite", "0 2 * * *", "main", map[string]string{"RSPEC_SEED": "random"}, 200*24*time.Hour, 10*time.Hour)
				add("Weekly dependency audit", "@weekly", "main", map[string]string{"AUDIT": "1"}, 90*24*time.Hour, 4*24*time.Hour)
				r := add("Release branch smoke test", "30 6 * * 1-5", "release/2026.10", nil, 30*24*time.Hour, 0)
				r.Enabled, r.NextBuildAt = false, nil
				r.FailedMessage = "Branch release/2026.10 does not exist"
				r.FailedAt = tp(seedEpoch.Add(-34 * time.Hour))
			case "infra-terraform":
				add("Drift detection", "@hourly", "main", map[string]string{"TF_PLAN_ONLY": "true"}, 300*24*time.Hour, 40*time.Minute)
			}
		}
	}
}

type scheduleJSON struct {
	ID            string            `json:"id"`
	GraphQLID     string            `json:"graphql_id"`
	URL           string            `json:"url"`
	Label         string            `json:"label"`
	Cronline      string            `json:"cronline"`
	Message       *string           `json:"message"`
	Commit        string            `json:"commit"`
	Branch        *string           `json:"branch"`
	Env           map[string]string `json:"env"`
	Enabled       bool              `json:"enabled"`
	NextBuildAt   *string           `json:"next_build_at"`
	FailedMessage *string           `json:"failed_message"`
	FailedAt      *string           `json:"failed_at"`
	CreatedAt     *string           `json:"created_at"`
	CreatedBy     *userJSON         `json:"created_by"`
	Pipeline      struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
		URL  string `json:"url"`
	} `json:"pipeline"`
}

func (r renderer) schedule(o *Organization, p *Pipeline, s *Schedule) scheduleJSON {
	pu := r.api("organizations/%s/pipelines/%s", o.Slug, p.Slug)
	out := scheduleJSON{
		ID: s.ID, GraphQLID: s.GraphQLID, URL: pu + "/schedules/" + s.ID, Label: s.Label, Cronline: s.Cronline,
		Message: strp(s.Message), Commit: s.Commit, Branch: strp(s.Branch), Env: s.Env, Enabled: s.Enabled,
		NextBuildAt: tsp(s.NextBuildAt), FailedMessage: strp(s.FailedMessage), FailedAt: tsp(s.FailedAt),
		CreatedAt: ts(s.CreatedAt), CreatedBy: r.user(s.CreatedBy),
	}
	if out.Env == nil {
		out.Env = map[string]string{}
	}
	if out.Commit == "" {
		out.Commit = "HEAD"
	}
	out.Pipeline.ID, out.Pipeline.Slug, out.Pipeline.URL = p.ID, p.Slug, pu
	return out
}

func (s *Server) pipelineSchedule(c *call) (*Organization, *Pipeline, *Schedule) {
	o, p := s.pipeline(c)
	if p == nil {
		return nil, nil, nil
	}
	for _, sc := range p.Schedules {
		if sc.ID == c.params["schedule"] {
			return o, p, sc
		}
	}
	c.notFound(msgNotFound)
	return nil, nil, nil
}

// listSchedules answers newest first, as Buildkite does.
func (s *Server) listSchedules(c *call) {
	o, p := s.pipeline(c)
	if p == nil {
		return
	}
	lo, hi, ok := c.page(len(p.Schedules))
	if !ok {
		return
	}
	out := []scheduleJSON{}
	for i := len(p.Schedules) - 1 - lo; i >= len(p.Schedules)-hi; i-- {
		out = append(out, c.rend.schedule(o, p, p.Schedules[i]))
	}
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Server) getSchedule(c *call) {
	if o, p, sc := s.pipelineSchedule(c); sc != nil {
		writeJSON(c.w, http.StatusOK, c.rend.schedule(o, p, sc))
	}
}

type scheduleBody struct {
	Cronline *string            `json:"cronline"`
	Label    *string            `json:"label"`
	Message  *string            `json:"message"`
	Commit   *string            `json:"commit"`
	Branch   *string            `json:"branch"`
	Env      *map[string]string `json:"env"`
	Enabled  *bool              `json:"enabled"`
}

// cronline accepts the predefined intervals and five-field crontab lines,
// optionally followed by a time zone, as Buildkite does.
var cronline = regexp.MustCompile(`^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([0-9*,/\-A-Za-z?]+\s+){4}[0-9*,/\-A-Za-z?]+)(\s+[A-Za-z_]+(/[A-Za-z_]+)*)?$`)

func (c *call) checkSchedule(b scheduleBody) bool {
	if b.Cronline != nil && !cronline.MatchString(strings.TrimSpace(*b.Cronline)) {
		c.invalid("cronline", "invalid")
		return false
	}
	return true
}

func (sc *Schedule) apply(b scheduleBody) {
	for dst, src := range map[*string]*string{&sc.Cronline: b.Cronline, &sc.Label: b.Label, &sc.Message: b.Message, &sc.Commit: b.Commit, &sc.Branch: b.Branch} {
		if src != nil {
			*dst = *src
		}
	}
	if b.Env != nil {
		sc.Env = maps.Clone(*b.Env)
	}
	if b.Enabled != nil {
		sc.Enabled = *b.Enabled
	}
}

func (s *Server) createSchedule(c *call) {
	o, p := s.pipeline(c)
	if p == nil {
		return
	}
	var b scheduleBody
	if !c.decode(&b) {
		return
	}
	if b.Cronline == nil || strings.TrimSpace(*b.Cronline) == "" {
		c.invalid("cronline", "missing_field")
		return
	}
	if !c.checkSchedule(b) {
		return
	}
	now := s.clock().UTC().Truncate(time.Millisecond)
	u := s.data.User
	sc := &Schedule{ID: uuidFor("schedule", o.Slug, p.Slug, now.UnixNano()), Commit: "HEAD", Branch: p.DefaultBranch,
		Enabled: true, CreatedAt: now, CreatedBy: &u}
	sc.GraphQLID = graphQLID("PipelineSchedule", sc.ID)
	sc.apply(b)
	if sc.Label == "" {
		sc.Label = sc.Cronline
	}
	if sc.Enabled {
		sc.NextBuildAt = tp(now.Truncate(time.Hour).Add(time.Hour))
	}
	p.Schedules = append(p.Schedules, sc)
	writeJSON(c.w, http.StatusCreated, c.rend.schedule(o, p, sc))
}

func (s *Server) updateSchedule(c *call) {
	o, p, sc := s.pipelineSchedule(c)
	if sc == nil {
		return
	}
	var b scheduleBody
	if !c.decode(&b) || !c.checkSchedule(b) {
		return
	}
	sc.apply(b)
	if !sc.Enabled {
		sc.NextBuildAt = nil
	} else if sc.NextBuildAt == nil {
		sc.NextBuildAt = tp(s.clock().UTC().Truncate(time.Hour).Add(time.Hour))
		sc.FailedMessage, sc.FailedAt = "", nil
	}
	writeJSON(c.w, http.StatusOK, c.rend.schedule(o, p, sc))
}
