package tools

import (
	"context"
	"strings"

	"github.com/kitegate/kitegate/internal/buildkite"
)

// agentAPI is what the agent tools call.
type agentAPI interface {
	ListAgents(ctx context.Context, org string, opt buildkite.AgentListOptions) ([]buildkite.Agent, buildkite.Pagination, error)
	GetAgent(ctx context.Context, org, agentID string) (buildkite.Agent, error)
}

type listAgentsArgs struct {
	OrgSlug     string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	Name        string `json:"name,omitempty" jsonschema:"keep agents whose name matches this"`
	Hostname    string `json:"hostname,omitempty" jsonschema:"keep agents on hosts whose name matches this"`
	Version     string `json:"version,omitempty" jsonschema:"agent version, e.g. 3.87.1"`
	Page        int    `json:"page,omitempty" jsonschema:"page number, from 1 (default 1); use next_page from the previous answer"`
	PerPage     int    `json:"per_page,omitempty" jsonschema:"agents per page, 1 to 100 (default 30)"`
	DetailLevel string `json:"detail_level,omitempty" jsonschema:"summary (default), detailed (addresses, tags, timings, pause details) or full"`
}

type getAgentArgs struct {
	OrgSlug     string `json:"org_slug" jsonschema:"the organization slug, e.g. acme"`
	AgentID     string `json:"agent_id" jsonschema:"the agent's UUID"`
	DetailLevel string `json:"detail_level,omitempty" jsonschema:"summary, detailed or full (default)"`
}

type agentJobOut struct {
	ID        string  `json:"id"`
	Name      string  `json:"name,omitempty"`
	State     string  `json:"state,omitempty"`
	WebURL    string  `json:"web_url,omitempty"`
	StartedAt *string `json:"started_at,omitempty"`
	Command   string  `json:"command,omitempty"`
}

type agentOut struct {
	ID              string       `json:"id"`
	Name            string       `json:"name"`
	ConnectionState string       `json:"connection_state"`
	Queue           string       `json:"queue,omitempty"`
	Version         string       `json:"version,omitempty"`
	Hostname        string       `json:"hostname,omitempty"`
	Busy            bool         `json:"busy"`
	Paused          bool         `json:"paused"`
	Job             *agentJobOut `json:"job,omitempty"`
	// detailed
	IPAddress         string   `json:"ip_address,omitempty"`
	MetaData          []string `json:"meta_data,omitempty"`
	Priority          *int     `json:"priority,omitempty"`
	CreatedAt         *string  `json:"created_at,omitempty"`
	LastJobFinishedAt *string  `json:"last_job_finished_at,omitempty"`
	PausedAt          *string  `json:"paused_at,omitempty"`
	PausedBy          string   `json:"paused_by,omitempty"`
	PausedNote        string   `json:"paused_note,omitempty"`
	WebURL            string   `json:"web_url,omitempty"`
	// full
	UserAgent              string `json:"user_agent,omitempty"`
	URL                    string `json:"url,omitempty"`
	GraphQLID              string `json:"graphql_id,omitempty"`
	Creator                string `json:"creator,omitempty"`
	PausedTimeoutInMinutes *int   `json:"paused_timeout_in_minutes,omitempty"`
}

type agentList struct {
	Items    []agentOut `json:"items"`
	NextPage int        `json:"next_page,omitempty"`
}

func shapeAgent(a buildkite.Agent, level string) agentOut {
	out := agentOut{
		ID: a.ID, Name: a.Name, ConnectionState: a.ConnectedState, Version: a.Version, Hostname: a.Hostname,
		Busy: a.Job != nil, Paused: a.Paused != nil && *a.Paused,
	}
	for _, tag := range a.Metadata {
		if q, ok := strings.CutPrefix(tag, "queue="); ok {
			out.Queue = q
		}
	}
	if j := a.Job; j != nil {
		name := j.Name
		if name == "" {
			name = j.Label
		}
		out.Job = &agentJobOut{ID: j.ID, Name: name, State: j.State}
		if level != summary {
			out.Job.WebURL, out.Job.StartedAt, out.Job.Command = j.WebURL, timestamp(j.StartedAt), j.Command
		}
	}
	if level == summary {
		return out
	}
	out.IPAddress, out.MetaData, out.Priority = a.IPAddress, a.Metadata, a.Priority
	out.CreatedAt, out.LastJobFinishedAt, out.PausedAt = timestamp(a.CreatedAt), timestamp(a.LastJobFinishedAt), timestamp(a.PausedAt)
	out.WebURL = a.WebURL
	if a.PausedBy != nil {
		out.PausedBy = a.PausedBy.Name
	}
	if a.PausedNote != nil {
		out.PausedNote = *a.PausedNote
	}
	if level == detailed {
		return out
	}
	out.UserAgent, out.URL, out.GraphQLID = a.UserAgent, a.URL, a.GraphQLID
	out.PausedTimeoutInMinutes = a.PausedTimeoutInMinutes
	if a.Creator != nil {
		out.Creator = a.Creator.Name
	}
	return out
}

func agentTools(bk agentAPI) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "list_agents",
		Title: "List agents",
		Description: "Lists the organization's connected agents (Buildkite omits disconnected ones), filtered by name, hostname or " +
			"version: items (id, name, connection_state, queue, version, hostname, busy, paused, current job) and next_page " +
			"when there are more. Shows whether a queue has idle capacity.",
		Area: "agents", Kind: Read, Scopes: []string{"read_agents"},
	}, func(ctx context.Context, in listAgentsArgs) (agentList, error) {
		level, err := detailLevel(in.DetailLevel, summary)
		if err != nil {
			return agentList{}, err
		}
		lo, err := listOptions(in.Page, in.PerPage, 100)
		if err != nil {
			return agentList{}, err
		}
		as, page, err := bk.ListAgents(ctx, in.OrgSlug, buildkite.AgentListOptions{
			Name: in.Name, Hostname: in.Hostname, Version: in.Version, ListOptions: lo,
		})
		if err != nil {
			return agentList{}, err
		}
		out := agentList{Items: make([]agentOut, 0, len(as)), NextPage: page.NextPage}
		for _, a := range as {
			out.Items = append(out.Items, shapeAgent(a, level))
		}
		return out, nil
	})
	add(&d, Spec{
		Name:  "get_agent",
		Title: "Get an agent",
		Description: "Returns one agent by its UUID, connected or not: connection_state, queue, version, hostname, busy and the job it is running, " +
			"paused (summary); detailed adds IP address, tags, priority, times and pause details; full (default) everything.",
		Area: "agents", Kind: Read, Scopes: []string{"read_agents"},
	}, func(ctx context.Context, in getAgentArgs) (agentOut, error) {
		level, err := detailLevel(in.DetailLevel, full)
		if err != nil {
			return agentOut{}, err
		}
		a, err := bk.GetAgent(ctx, in.OrgSlug, in.AgentID)
		if err != nil {
			return agentOut{}, err
		}
		return shapeAgent(a, level), nil
	})
	return d.done()
}
