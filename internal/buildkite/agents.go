package buildkite

import (
	"context"

	gobuildkite "github.com/buildkite/go-buildkite/v4"
)

// AgentListOptions filters ListAgents.
type AgentListOptions struct {
	// Name, Hostname and Version keep agents whose field matches.
	Name     string
	Hostname string
	Version  string
	ListOptions
}

// ListAgents lists an organization's connected agents, a page at a time
// (GET /v2/organizations/{org}/agents). Disconnected agents are not listed.
func (c *Client) ListAgents(ctx context.Context, org string, opt AgentListOptions) ([]Agent, Pagination, error) {
	var p path
	o := p.slug("organization slug", org)
	lo, err := opt.check()
	if err = firstErr(p.err, err); err != nil {
		return nil, Pagination{}, err
	}
	as, resp, err := c.bk.Agents.List(ctx, o, &gobuildkite.AgentListOptions{
		Name: opt.Name, Hostname: opt.Hostname, Version: opt.Version, ListOptions: lo,
	})
	if err != nil {
		return nil, Pagination{}, mapOrgError(err, org, "the agents of organization "+org)
	}
	for i := range as {
		as[i].AgentToken = "" // a credential: never past this package
	}
	return as, pagination(resp), nil
}

// GetAgent fetches one agent, connected or not (GET …/agents/{id}).
func (c *Client) GetAgent(ctx context.Context, org, agentID string) (Agent, error) {
	var p path
	o, id := p.slug("organization slug", org), p.uuid("agent id", agentID)
	if p.err != nil {
		return Agent{}, p.err
	}
	a, _, err := c.bk.Agents.Get(ctx, o, id)
	a.AgentToken = ""
	return a, mapOrgError(err, org, "agent "+agentID+" of organization "+org)
}
