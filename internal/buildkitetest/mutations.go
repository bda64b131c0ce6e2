package buildkitetest

import (
	"encoding/json"
	"html"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// schedule numbers b as the pipeline's next build, gives it the pipeline
// upload job every new build starts with, and adds it to p.
func (s *Server) schedule(o *Organization, p *Pipeline, b *Build) {
	now := s.clock().UTC().Truncate(time.Millisecond)
	b.Number = 1
	for _, old := range p.Builds {
		b.Number = max(b.Number, old.Number+1)
	}
	b.ID = uuidFor("build", o.Slug, p.Slug, b.Number, now.UnixNano())
	b.GraphQLID = graphQLID("Build", b.ID)
	b.State = "scheduled"
	b.CreatedAt = now
	b.ScheduledAt = &now
	upload := &Job{
		ID:              uuidFor("job", b.ID, "pipeline-upload"),
		Type:            JobTypeScript,
		Name:            ":pipeline:",
		State:           "scheduled",
		Command:         "buildkite-agent pipeline upload",
		CreatedAt:       now,
		ScheduledAt:     &now,
		RunnableAt:      &now,
		AgentQueryRules: []string{"queue=default"},
		Env:             map[string]string{},
	}
	upload.GraphQLID = graphQLID("Job", upload.ID)
	b.Jobs = []*Job{upload}
	p.Builds = append(p.Builds, b)
}

// rebuildBuild answers PUT .../builds/{n}/rebuild: a new scheduled build of
// the same commit, branch and message, pointing back with rebuilt_from.
func (s *Server) rebuildBuild(c *call) {
	o, p, old := s.build(c)
	if old == nil {
		return
	}
	u := s.data.User
	b := &Build{
		Message:     old.Message,
		Commit:      old.Commit,
		Branch:      old.Branch,
		Env:         maps.Clone(old.Env),
		Source:      "ui",
		Creator:     &u,
		Author:      old.Author,
		MetaData:    maps.Clone(old.MetaData),
		PullRequest: old.PullRequest,
		RebuiltFrom: old,
	}
	s.schedule(o, p, b)
	writeJSON(c.w, http.StatusOK, c.rend.build(o, p, b, buildOpts{}))
}

// unblockJob answers PUT .../jobs/{j}/unblock for a blocked manual job: the
// job becomes unblocked, the build resumes running and waiting jobs are
// scheduled.
func (s *Server) unblockJob(c *call) {
	o, p, b, j := s.job(c)
	if j == nil {
		return
	}
	if j.Type != JobTypeManual || j.State != "blocked" {
		writeJSON(c.w, http.StatusUnprocessableEntity, map[string]string{"message": "This job can't be unblocked because it isn't blocked"})
		return
	}
	now := s.clock().UTC().Truncate(time.Millisecond)
	u := s.data.User
	j.State, j.UnblockedBy, j.UnblockedAt, j.Unblockable = "unblocked", &u, &now, false
	for _, other := range b.Jobs {
		if other.State == "waiting" {
			other.State = "scheduled"
			other.ScheduledAt, other.RunnableAt = &now, &now
		}
	}
	b.Blocked, b.State, b.FinishedAt = false, "running", nil
	writeJSON(c.w, http.StatusOK, c.rend.job(o, p, b, j))
}

// retryJob answers PUT .../jobs/{j}/retry for a finished script job: the job
// is marked retried and a scheduled copy takes its place; the build runs again.
func (s *Server) retryJob(c *call) {
	o, p, b, j := s.job(c)
	if j == nil {
		return
	}
	finished := slices.Contains([]string{"passed", "failed", "canceled", "timed_out", "expired", "broken"}, j.State)
	if j.Type != JobTypeScript || !finished || j.Retried {
		writeJSON(c.w, http.StatusUnprocessableEntity, map[string]string{"message": "Only finished script jobs that haven't been retried can be retried"})
		return
	}
	now := s.clock().UTC().Truncate(time.Millisecond)
	n := *j
	n.ID = uuidFor("job", j.ID, "retry", now.UnixNano())
	n.GraphQLID = graphQLID("Job", n.ID)
	n.State, n.ExitStatus, n.Agent, n.Log = "scheduled", nil, nil, ""
	n.CreatedAt, n.ScheduledAt, n.RunnableAt, n.StartedAt, n.FinishedAt = now, &now, &now, nil, nil
	n.Retried, n.RetriedInJobID = false, ""
	n.RetriesCount, n.RetryType, n.RetrySourceID = j.RetriesCount+1, "manual", j.ID
	n.Artifacts = nil
	n.Env = maps.Clone(j.Env)
	if n.Env != nil {
		n.Env["BUILDKITE_JOB_ID"] = n.ID
	}
	j.Retried, j.RetriedInJobID = true, n.ID
	i := slices.Index(b.Jobs, j)
	b.Jobs = slices.Insert(b.Jobs, i+1, &n)
	b.State, b.FinishedAt = "running", nil
	writeJSON(c.w, http.StatusOK, c.rend.job(o, p, b, &n))
}

type annotationBody struct {
	Body     string `json:"body"`
	Context  string `json:"context"`
	Style    string `json:"style"`
	Priority int    `json:"priority"`
	Append   bool   `json:"append"`
}

// createAnnotation answers POST .../builds/{n}/annotations. The body is
// rendered as escaped text in a paragraph, not as Markdown; "append" adds to
// the annotation with the same context.
func (s *Server) createAnnotation(c *call) {
	_, _, b := s.build(c)
	if b == nil {
		return
	}
	var body annotationBody
	if err := json.NewDecoder(c.r.Body).Decode(&body); err != nil {
		writeJSON(c.w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	if strings.TrimSpace(body.Body) == "" {
		writeJSON(c.w, http.StatusUnprocessableEntity, map[string]any{
			"message": "Validation Failed", "errors": []fieldError{{Field: "body", Code: "missing_field"}},
		})
		return
	}
	switch body.Style {
	case "":
		body.Style = "default"
	case "default", "success", "info", "warning", "error":
	default:
		writeJSON(c.w, http.StatusUnprocessableEntity, map[string]any{
			"message": "Validation Failed", "errors": []fieldError{{Field: "style", Code: "invalid"}},
		})
		return
	}
	if body.Context == "" {
		body.Context = "default"
	}
	if body.Priority == 0 {
		body.Priority = 3
	}
	now := s.clock().UTC().Truncate(time.Millisecond)
	htmlBody := "<p>" + html.EscapeString(body.Body) + "</p>"
	for _, a := range b.Annotations {
		if a.Context == body.Context && a.JobID == "" {
			if body.Append {
				a.BodyHTML += htmlBody
			} else {
				a.BodyHTML = htmlBody
			}
			a.Style, a.Priority, a.UpdatedAt = body.Style, body.Priority, now
			writeJSON(c.w, http.StatusCreated, c.rend.annotation(a))
			return
		}
	}
	a := &Annotation{
		ID: uuidFor("annotation", b.ID, body.Context), Context: body.Context, Style: body.Style,
		Priority: body.Priority, BodyHTML: htmlBody, CreatedAt: now, UpdatedAt: now,
	}
	b.Annotations = append(b.Annotations, a)
	writeJSON(c.w, http.StatusCreated, c.rend.annotation(a))
}
