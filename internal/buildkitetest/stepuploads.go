package buildkitetest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// StepUpload is one pipeline upload ("buildkite-agent pipeline upload") a
// build received while it ran.
type StepUpload struct {
	UUID             string
	State            string // pending, processing, applied, rejected, failed
	SourceJobID      string
	Replace          bool
	CreatedJobsCount *int // nil until applied
	RejectionType    string
	Message          string
	CreatedAt        time.Time
	ProcessedAt      *time.Time
	// Definition is the uploaded pipeline as JSON ({"steps": [...]}).
	Definition string
}

type stepUploadJSON struct {
	UUID                 string          `json:"uuid"`
	GraphQLID            string          `json:"graphql_id"`
	State                string          `json:"state"`
	Source               string          `json:"source"`
	SourceJobID          string          `json:"source_job_id"`
	ReplaceExistingSteps bool            `json:"replace_existing_steps"`
	CreatedJobsCount     *int            `json:"created_jobs_count"`
	RejectionType        *string         `json:"rejection_type"`
	Message              *string         `json:"message"`
	URL                  string          `json:"url"`
	CreatedAt            *string         `json:"created_at"`
	ProcessedAt          *string         `json:"processed_at"`
	Definition           json.RawMessage `json:"definition,omitempty"`
}

func init() {
	routes = append(routes,
		rte("GET", buildPath+"/step-uploads", "read_builds", (*Server).listStepUploads),
		rte("GET", buildPath+"/step-uploads/:upload", "read_builds", (*Server).getStepUpload),
	)
}

func (r renderer) stepUpload(o *Organization, p *Pipeline, b *Build, u *StepUpload, withDefinition bool) stepUploadJSON {
	out := stepUploadJSON{
		UUID: u.UUID, GraphQLID: graphQLID("StepUpload", u.UUID), State: u.State, Source: "job",
		SourceJobID: u.SourceJobID, ReplaceExistingSteps: u.Replace, CreatedJobsCount: u.CreatedJobsCount,
		RejectionType: strp(u.RejectionType), Message: strp(u.Message),
		URL:       r.api("organizations/%s/pipelines/%s/builds/%d/step-uploads/%s", o.Slug, p.Slug, b.Number, u.UUID),
		CreatedAt: ts(u.CreatedAt), ProcessedAt: tsp(u.ProcessedAt),
	}
	if withDefinition {
		out.Definition = json.RawMessage(u.Definition)
		if u.Definition == "" {
			out.Definition = json.RawMessage("null")
		}
	}
	return out
}

// listStepUploads answers GET …/builds/{n}/step-uploads, newest first, with
// cursor pagination like jobs: {"items": [...], "links": {...}}.
func (s *Server) listStepUploads(c *call) {
	o, p, b := s.build(c)
	if b == nil {
		return
	}
	q := c.r.URL.Query()
	perPage, ok := c.perPage(q)
	if !ok {
		return
	}
	var ups []*StepUpload
	for _, u := range slices.Backward(b.StepUploads) {
		if id := q.Get("source_job_id"); id != "" && u.SourceJobID != id {
			continue
		}
		ups = append(ups, u)
	}
	lo, hi := 0, min(perPage, len(ups))
	if a, bf := q.Get("after"), q.Get("before"); a != "" || bf != "" {
		cur := a
		if cur == "" {
			cur = bf
		}
		id, err := base64.RawURLEncoding.DecodeString(cur)
		i := slices.IndexFunc(ups, func(u *StepUpload) bool { return u.UUID == string(id) })
		if err != nil || i < 0 {
			writeJSON(c.w, http.StatusBadRequest, map[string]string{"message": "Invalid cursor"})
			return
		}
		if a != "" {
			lo, hi = i+1, min(i+1+perPage, len(ups))
		} else {
			lo, hi = max(0, i-perPage), i
		}
	}
	items := []stepUploadJSON{}
	for _, u := range ups[lo:hi] {
		items = append(items, c.rend.stepUpload(o, p, b, u, false))
	}
	link := func(set string, u *StepUpload) string {
		self := c.selfURL()
		v := self.Query()
		v.Del("after")
		v.Del("before")
		if u != nil {
			v.Set(set, base64.RawURLEncoding.EncodeToString([]byte(u.UUID)))
		}
		v.Set("per_page", itoa(perPage))
		self.RawQuery = v.Encode()
		return self.String()
	}
	links := map[string]string{"first": link("", nil), "self": c.selfURL().String()}
	if hi < len(ups) && hi > lo {
		links["next"] = link("after", ups[hi-1])
	}
	if lo > 0 && hi > lo {
		links["prev"] = link("before", ups[lo])
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"items": items, "links": links})
}

func (s *Server) getStepUpload(c *call) {
	o, p, b := s.build(c)
	if b == nil {
		return
	}
	for _, u := range b.StepUploads {
		if u.UUID == c.params["upload"] {
			writeJSON(c.w, http.StatusOK, c.rend.stepUpload(o, p, b, u, true))
			return
		}
	}
	c.notFound(msgNotFound)
}

// seedStepUploads gives every web-app build whose pipeline upload ran the
// upload it made; FailedBuild also has a dynamic upload from its RSpec
// job and one that was rejected.
func seedStepUploads(d *Data) {
	for _, o := range d.Organizations {
		for _, p := range o.Pipelines {
			if p.Slug != SeedPipeline {
				continue
			}
			for _, b := range p.Builds {
				up := b.JobByName(":pipeline:")
				if up == nil || up.FinishedAt == nil {
					continue
				}
				var steps []map[string]any
				for _, j := range b.Jobs {
					if j == up || j.Retried {
						continue
					}
					switch j.Type {
					case JobTypeScript:
						steps = append(steps, map[string]any{"label": j.Name, "key": j.StepKey, "command": j.Command})
					case JobTypeWaiter:
						steps = append(steps, map[string]any{"wait": nil})
					case JobTypeManual:
						steps = append(steps, map[string]any{"block": j.Label, "key": j.StepKey})
					case JobTypeTrigger:
						steps = append(steps, map[string]any{"trigger": "infra-terraform", "label": j.Name, "key": j.StepKey})
					}
				}
				def, _ := json.Marshal(map[string]any{"steps": steps})
				n := len(steps)
				at := up.FinishedAt.Add(-2 * time.Second)
				b.StepUploads = append(b.StepUploads, &StepUpload{
					UUID: uuidFor("step-upload", b.ID, 1), State: "applied", SourceJobID: up.ID,
					CreatedJobsCount: &n, CreatedAt: at, ProcessedAt: tp(at.Add(800 * time.Millisecond)), Definition: string(def),
				})
				if b.Number != FailedBuild {
					continue
				}
				rspec := b.JobByName(LongLogJobName)
				zero := 0
				later := rspec.StartedAt.Add(20 * time.Second)
				b.StepUploads = append(b.StepUploads,
					&StepUpload{
						UUID: uuidFor("step-upload", b.ID, 2), State: "applied", SourceJobID: rspec.ID,
						CreatedJobsCount: &zero, CreatedAt: later, ProcessedAt: tp(later.Add(time.Second)),
						Definition: `{"steps":[{"label":":junit: Annotate","command":"bin/annotate-junit","depends_on":"rspec","if":"build.state == 'failing'"}]}`,
					},
					&StepUpload{
						UUID: uuidFor("step-upload", b.ID, 3), State: "rejected", SourceJobID: rspec.ID,
						RejectionType: "validation_error",
						Message:       fmt.Sprintf(`Step "rspec-retry" is invalid: "parallelism" must be between 1 and %d`, 1000),
						CreatedAt:     later.Add(5 * time.Second), ProcessedAt: tp(later.Add(6 * time.Second)),
						Definition: `{"steps":[{"label":":rspec: Retry failures","key":"rspec-retry","command":"bin/ci-rspec --only-failures","parallelism":5000}]}`,
					},
				)
			}
		}
	}
}
