package buildkitetest

import (
	"net/http"
	"regexp"
	"strings"
	"time"
)

func init() {
	routes = append(routes,
		rte("POST", orgPath+"/pipelines", "write_pipelines", (*Server).createPipeline),
		rte("PATCH", pipelinePath, "write_pipelines", (*Server).updatePipeline),
		rte("POST", pipelinePath+"/webhook", "write_pipelines", (*Server).addWebhook),
	)
}

type pipelineBody struct {
	Name                *string   `json:"name"`
	Repository          *string   `json:"repository"`
	ClusterID           *string   `json:"cluster_id"`
	Configuration       *string   `json:"configuration"`
	DefaultBranch       *string   `json:"default_branch"`
	Description         *string   `json:"description"`
	Visibility          *string   `json:"visibility"`
	Tags                *[]string `json:"tags"`
	BranchConfiguration *string   `json:"branch_configuration"`
	SkipQueued          *bool     `json:"skip_queued_branch_builds"`
	CancelRunning       *bool     `json:"cancel_running_branch_builds"`
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slugFor(name string) string {
	return strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(name), "-"), "-")
}

// checkPipeline applies Buildkite's rules to the fields present, answering
// 422 on the first one broken.
func (c *call) checkPipeline(o *Organization, self *Pipeline, b pipelineBody) bool {
	if b.Name != nil {
		if slugFor(*b.Name) == "" {
			c.invalid("name", "missing_field")
			return false
		}
		for _, p := range o.Pipelines {
			if p != self && (p.Slug == slugFor(*b.Name) || p.Name == *b.Name) {
				c.invalid("name", "already_exists")
				return false
			}
		}
	}
	if b.Repository != nil && strings.TrimSpace(*b.Repository) == "" {
		c.invalid("repository", "missing_field")
		return false
	}
	if b.ClusterID != nil && *b.ClusterID != "" {
		found := false
		for _, cl := range o.Clusters {
			found = found || cl.ID == *b.ClusterID
		}
		if !found {
			c.invalid("cluster_id", "invalid")
			return false
		}
	}
	if b.Visibility != nil && *b.Visibility != "private" && *b.Visibility != "public" {
		c.invalid("visibility", "invalid")
		return false
	}
	if b.Configuration != nil && strings.Contains(*b.Configuration, "\t") {
		// YAML forbids tabs for indentation: the commonest broken upload.
		c.invalid("configuration", "invalid")
		return false
	}
	return true
}

func (p *Pipeline) apply(b pipelineBody) {
	for dst, src := range map[*string]*string{
		&p.Name: b.Name, &p.Repository: b.Repository, &p.ClusterID: b.ClusterID, &p.Configuration: b.Configuration,
		&p.DefaultBranch: b.DefaultBranch, &p.Description: b.Description, &p.Visibility: b.Visibility,
	} {
		if src != nil {
			*dst = *src
		}
	}
	if b.Tags != nil {
		p.Tags = append([]string(nil), *b.Tags...)
	}
	if b.SkipQueued != nil {
		p.SkipQueuedBranchBuilds = *b.SkipQueued
	}
	if b.CancelRunning != nil {
		p.CancelRunningBranchBuilds = *b.CancelRunning
	}
}

func (s *Server) createPipeline(c *call) {
	o := s.org(c)
	if o == nil {
		return
	}
	var b pipelineBody
	if !c.decode(&b) {
		return
	}
	switch {
	case b.Name == nil:
		c.invalid("name", "missing_field")
		return
	case b.Repository == nil:
		c.invalid("repository", "missing_field")
		return
	}
	if !c.checkPipeline(o, nil, b) {
		return
	}
	now := s.clock().UTC().Truncate(time.Millisecond)
	p := &Pipeline{
		ID: uuidFor("pipeline", o.Slug, slugFor(*b.Name), now.UnixNano()), Slug: slugFor(*b.Name),
		DefaultBranch: "main", Visibility: "private", CreatedAt: now,
		Configuration: "steps:\n  - command: \"buildkite-agent pipeline upload\"\n",
	}
	if len(o.Clusters) > 0 {
		p.ClusterID = o.Clusters[0].ID
	}
	p.GraphQLID = graphQLID("Pipeline", p.ID)
	p.apply(b)
	o.Pipelines = append(o.Pipelines, p)
	writeJSON(c.w, http.StatusCreated, c.rend.pipeline(o, p))
}

func (s *Server) updatePipeline(c *call) {
	o, p := s.pipeline(c)
	if p == nil {
		return
	}
	var b pipelineBody
	if !c.decode(&b) || !c.checkPipeline(o, p, b) {
		return
	}
	p.apply(b)
	writeJSON(c.w, http.StatusOK, c.rend.pipeline(o, p))
}

// addWebhook answers POST …/webhook: Buildkite can only create the webhook
// on a repository host it has an integration with (GitHub here).
func (s *Server) addWebhook(c *call) {
	o, p := s.pipeline(c)
	if p == nil {
		return
	}
	if !strings.Contains(p.Repository, "github.com") {
		writeJSON(c.w, http.StatusUnprocessableEntity, map[string]string{
			"message": "Webhooks can only be created automatically for GitHub repositories",
		})
		return
	}
	writeJSON(c.w, http.StatusCreated, c.rend.pipeline(o, p).Provider)
}
