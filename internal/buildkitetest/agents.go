package buildkitetest

import (
	"net/http"
	"strings"
	"time"
)

// RegisteredAgent is an agent registered with an organization: the fleet
// GET …/agents lists, as opposed to the snapshot of an agent a job carries.
type RegisteredAgent struct {
	Agent
	ConnectionState   string // connected, disconnected, stopping, stopped, lost
	Job               *Job   // the job it is running, nil when idle
	LastJobFinishedAt *time.Time
	Priority          int
	Creator           *User
	Paused            bool
	PausedAt          *time.Time
	PausedBy          *User
	PausedNote        string
	PausedTimeout     int // minutes
}

// Facts about the seeded agents of SeedOrg.
const (
	// SeedListedAgents is how many of SeedOrg's agents GET …/agents lists:
	// two running RunningBuild's RSpec jobs, one idle, one paused, one stopping.
	SeedListedAgents = 5
	// SeedIdleAgent, SeedPausedAgent, SeedStoppingAgent and
	// SeedDisconnectedAgent name agents in those states; the disconnected one
	// is only found by ID.
	SeedIdleAgent         = "acme-linux-ci-i-0a1b2c3d4e5f60718-1"
	SeedPausedAgent       = "acme-mac-mini-03"
	SeedStoppingAgent     = "acme-linux-ci-i-0f9e8d7c6b5a49382-2"
	SeedDisconnectedAgent = "acme-linux-ci-i-0123456789abcdef0-1"
)

// SeedAgentID is the ID of a seeded agent named name.
func SeedAgentID(name string) string { return uuidFor("agent", name) }

func init() {
	routes = append(routes,
		rte("GET", orgPath+"/agents", "read_agents", (*Server).listAgents),
		rte("GET", orgPath+"/agents/:agent", "read_agents", (*Server).getAgent),
	)
}

func seedAgents(d *Data) {
	for _, o := range d.Organizations {
		fleet := func(name, host, ip, version string, meta []string, age time.Duration) *RegisteredAgent {
			a := &RegisteredAgent{
				Agent: Agent{
					ID: SeedAgentID(name), Name: name, Hostname: host, IPAddress: ip, Version: version,
					MetaData: meta, CreatedAt: seedEpoch.Add(-age),
				},
				ConnectionState: "connected", Creator: nil,
			}
			o.Agents = append(o.Agents, a)
			return a
		}
		linux := []string{"queue=default", "os=linux", "instance-type=c6i.2xlarge"}
		if o.Slug != SeedOrg {
			a := fleet(o.Slug+"-gpu-01", "ip-10-8-0-12", "10.8.0.12", "3.87.1", []string{"queue=gpu", "os=linux", "gpu=a10g"}, 30*time.Hour)
			a.LastJobFinishedAt = tp(seedEpoch.Add(-50 * time.Minute))
			continue
		}
		if b := d.Build(o.Slug, SeedPipeline, RunningBuild); b != nil {
			for _, j := range b.Jobs {
				if j.State == "running" && j.Agent != nil {
					a := &RegisteredAgent{Agent: *j.Agent, ConnectionState: "connected", Job: j,
						LastJobFinishedAt: tp(j.StartedAt.Add(-2 * time.Minute))}
					o.Agents = append(o.Agents, a)
				}
			}
		}
		idle := fleet(SeedIdleAgent, "ip-10-0-14-77", "10.0.14.77", "3.87.1", linux, 5*time.Hour)
		idle.LastJobFinishedAt = tp(seedEpoch.Add(-12 * time.Minute))
		mac := fleet(SeedPausedAgent, "acme-mac-mini-03.local", "10.0.40.13", "3.86.0",
			[]string{"queue=macos", "os=darwin", "arch=arm64", "xcode=16.1"}, 40*24*time.Hour)
		mac.Priority = 2
		mac.Paused, mac.PausedBy, mac.PausedAt = true, person(jonas), tp(seedEpoch.Add(-3*time.Hour))
		mac.PausedNote, mac.PausedTimeout = "Disk nearly full: clearing DerivedData", 120
		stopping := fleet(SeedStoppingAgent, "ip-10-0-22-201", "10.0.22.201", "3.87.1", linux, 9*time.Hour)
		stopping.ConnectionState = "stopping"
		stopping.LastJobFinishedAt = tp(seedEpoch.Add(-31 * time.Minute))
		gone := fleet(SeedDisconnectedAgent, "ip-10-0-11-19", "10.0.11.19", "3.79.0", linux, 20*24*time.Hour)
		gone.ConnectionState = "disconnected"
		gone.LastJobFinishedAt = tp(seedEpoch.Add(-19 * 24 * time.Hour))
	}
}

type fleetAgentJSON struct {
	ID                string    `json:"id"`
	GraphQLID         string    `json:"graphql_id"`
	URL               string    `json:"url"`
	WebURL            string    `json:"web_url"`
	Name              string    `json:"name"`
	ConnectionState   string    `json:"connection_state"`
	Hostname          string    `json:"hostname"`
	IPAddress         string    `json:"ip_address"`
	UserAgent         string    `json:"user_agent"`
	Version           string    `json:"version"`
	Creator           *userJSON `json:"creator"`
	CreatedAt         *string   `json:"created_at"`
	Job               *jobJSON  `json:"job"`
	LastJobFinishedAt *string   `json:"last_job_finished_at"`
	Priority          int       `json:"priority"`
	MetaData          []string  `json:"meta_data"`
	Paused            bool      `json:"paused"`
	PausedAt          *string   `json:"paused_at"`
	PausedBy          *userJSON `json:"paused_by"`
	PausedNote        *string   `json:"paused_note"`
	PausedTimeout     *int      `json:"paused_timeout_in_minutes"`
}

func (s *Server) renderAgent(c *call, o *Organization, a *RegisteredAgent) fleetAgentJSON {
	out := fleetAgentJSON{
		ID: a.ID, GraphQLID: graphQLID("Agent", a.ID),
		URL:    c.rend.api("organizations/%s/agents/%s", o.Slug, a.ID),
		WebURL: webBase + "organizations/" + o.Slug + "/agents/" + a.ID,
		Name:   a.Name, ConnectionState: a.ConnectionState, Hostname: a.Hostname, IPAddress: a.IPAddress,
		UserAgent: "buildkite-agent/" + a.Version + " (linux; amd64)", Version: a.Version,
		Creator: c.rend.user(a.Creator), CreatedAt: ts(a.CreatedAt),
		LastJobFinishedAt: tsp(a.LastJobFinishedAt), Priority: a.Priority, MetaData: a.MetaData,
		Paused: a.Paused, PausedAt: tsp(a.PausedAt), PausedBy: c.rend.user(a.PausedBy), PausedNote: strp(a.PausedNote),
	}
	if strings.Contains(strings.Join(a.MetaData, ","), "os=darwin") {
		out.UserAgent = "buildkite-agent/" + a.Version + " (darwin; arm64)"
	}
	if out.MetaData == nil {
		out.MetaData = []string{}
	}
	if a.Paused && a.PausedTimeout > 0 {
		out.PausedTimeout = ptr(a.PausedTimeout)
	}
	if a.Job != nil {
		for _, p := range o.Pipelines {
			for _, b := range p.Builds {
				for _, j := range b.Jobs {
					if j == a.Job {
						jj := c.rend.job(o, p, b, j)
						jj.Agent = nil // the job's agent is this agent
						out.Job = &jj
					}
				}
			}
		}
	}
	return out
}

// listed reports whether GET …/agents shows an agent: Buildkite leaves out
// agents that are no longer connected.
func listed(a *RegisteredAgent) bool {
	switch a.ConnectionState {
	case "disconnected", "lost", "stopped", "never_connected":
		return false
	}
	return true
}

func (s *Server) listAgents(c *call) {
	o := s.org(c)
	if o == nil {
		return
	}
	q := c.r.URL.Query()
	name, host, version := strings.ToLower(q.Get("name")), strings.ToLower(q.Get("hostname")), q.Get("version")
	var as []*RegisteredAgent
	for _, a := range o.Agents {
		switch {
		case !listed(a),
			name != "" && !strings.Contains(strings.ToLower(a.Name), name),
			host != "" && !strings.Contains(strings.ToLower(a.Hostname), host),
			version != "" && !strings.HasPrefix(a.Version, version):
			continue
		}
		as = append(as, a)
	}
	lo, hi, ok := c.page(len(as))
	if !ok {
		return
	}
	out := []fleetAgentJSON{}
	for _, a := range as[lo:hi] {
		out = append(out, s.renderAgent(c, o, a))
	}
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Server) getAgent(c *call) {
	o := s.org(c)
	if o == nil {
		return
	}
	for _, a := range o.Agents {
		if a.ID == c.params["agent"] {
			writeJSON(c.w, http.StatusOK, s.renderAgent(c, o, a))
			return
		}
	}
	c.notFound(msgNotFound)
}
