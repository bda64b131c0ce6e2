package buildkitetest

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The types below are the wire format: field names and nesting follow the
// Buildkite REST API reference (and what go-buildkite v4 decodes). Nullable
// fields are pointers without omitempty so they render as null, as Buildkite's do.

// webBase is where web_url links point; nothing fetches them.
const webBase = "https://buildkite.com/"

type userJSON struct {
	ID        string  `json:"id"`
	GraphQLID string  `json:"graphql_id"`
	Name      string  `json:"name"`
	Email     string  `json:"email"`
	AvatarURL string  `json:"avatar_url"`
	CreatedAt *string `json:"created_at"`
}

type organizationJSON struct {
	ID           string  `json:"id"`
	GraphQLID    string  `json:"graphql_id"`
	URL          string  `json:"url"`
	WebURL       string  `json:"web_url"`
	Name         string  `json:"name"`
	Slug         string  `json:"slug"`
	PipelinesURL string  `json:"pipelines_url"`
	AgentsURL    string  `json:"agents_url"`
	EmojisURL    string  `json:"emojis_url"`
	CreatedAt    *string `json:"created_at"`
}

type providerJSON struct {
	ID         string         `json:"id"`
	WebhookURL string         `json:"webhook_url"`
	Settings   map[string]any `json:"settings"`
}

type stepJSON struct {
	Type                string            `json:"type"`
	Name                *string           `json:"name"`
	Command             string            `json:"command"`
	ArtifactPaths       *string           `json:"artifact_paths"`
	BranchConfiguration *string           `json:"branch_configuration"`
	Env                 map[string]string `json:"env"`
	TimeoutInMinutes    *int              `json:"timeout_in_minutes"`
	AgentQueryRules     []string          `json:"agent_query_rules"`
}

type pipelineJSON struct {
	ID                        string         `json:"id"`
	GraphQLID                 string         `json:"graphql_id"`
	URL                       string         `json:"url"`
	WebURL                    string         `json:"web_url"`
	Name                      string         `json:"name"`
	Description               *string        `json:"description"`
	Slug                      string         `json:"slug"`
	Repository                string         `json:"repository"`
	ClusterID                 *string        `json:"cluster_id"`
	BranchConfiguration       *string        `json:"branch_configuration"`
	DefaultBranch             string         `json:"default_branch"`
	SkipQueuedBranchBuilds    bool           `json:"skip_queued_branch_builds"`
	CancelRunningBranchBuilds bool           `json:"cancel_running_branch_builds"`
	Provider                  providerJSON   `json:"provider"`
	BuildsURL                 string         `json:"builds_url"`
	BadgeURL                  string         `json:"badge_url"`
	CreatedAt                 *string        `json:"created_at"`
	ArchivedAt                *string        `json:"archived_at"`
	Env                       map[string]any `json:"env"`
	ScheduledBuildsCount      int            `json:"scheduled_builds_count"`
	RunningBuildsCount        int            `json:"running_builds_count"`
	ScheduledJobsCount        int            `json:"scheduled_jobs_count"`
	RunningJobsCount          int            `json:"running_jobs_count"`
	WaitingJobsCount          int            `json:"waiting_jobs_count"`
	Visibility                string         `json:"visibility"`
	Tags                      []string       `json:"tags"`
	Configuration             string         `json:"configuration"`
	Steps                     []stepJSON     `json:"steps"`
}

type buildJSON struct {
	ID            string             `json:"id"`
	GraphQLID     string             `json:"graphql_id"`
	URL           string             `json:"url"`
	WebURL        string             `json:"web_url"`
	Number        int                `json:"number"`
	State         string             `json:"state"`
	CancelReason  *string            `json:"cancel_reason"`
	Blocked       bool               `json:"blocked"`
	Message       string             `json:"message"`
	Commit        string             `json:"commit"`
	Branch        string             `json:"branch"`
	Tag           *string            `json:"tag"`
	Env           map[string]string  `json:"env"`
	Source        string             `json:"source"`
	Author        *authorJSON        `json:"author,omitempty"`
	Creator       *userJSON          `json:"creator"`
	Jobs          []jobJSON          `json:"jobs,omitempty"`
	CreatedAt     *string            `json:"created_at"`
	ScheduledAt   *string            `json:"scheduled_at"`
	StartedAt     *string            `json:"started_at"`
	FinishedAt    *string            `json:"finished_at"`
	MetaData      map[string]string  `json:"meta_data"`
	PullRequest   *pullRequestJSON   `json:"pull_request,omitempty"`
	RebuiltFrom   *rebuiltFromJSON   `json:"rebuilt_from"`
	TriggeredFrom *triggeredFromJSON `json:"triggered_from,omitempty"`
	Pipeline      *pipelineJSON      `json:"pipeline,omitempty"`
	TestEngine    *testEngineJSON    `json:"test_engine,omitempty"`
}

type authorJSON struct {
	Username string `json:"username,omitempty"`
	Name     string `json:"name"`
	Email    string `json:"email"`
}

type pullRequestJSON struct {
	ID         string `json:"id"`
	Base       string `json:"base"`
	Repository string `json:"repository"`
}

type rebuiltFromJSON struct {
	ID     string `json:"id"`
	Number int    `json:"number"`
	URL    string `json:"url"`
}

type triggeredFromJSON struct {
	BuildID           string `json:"build_id"`
	BuildNumber       int    `json:"build_number"`
	BuildPipelineSlug string `json:"build_pipeline_slug"`
}

type agentJSON struct {
	ID              string   `json:"id"`
	GraphQLID       string   `json:"graphql_id"`
	URL             string   `json:"url"`
	WebURL          string   `json:"web_url"`
	Name            string   `json:"name"`
	ConnectionState string   `json:"connection_state"`
	Hostname        string   `json:"hostname"`
	IPAddress       string   `json:"ip_address"`
	UserAgent       string   `json:"user_agent"`
	Version         string   `json:"version"`
	Creator         *string  `json:"creator"`
	CreatedAt       *string  `json:"created_at"`
	MetaData        []string `json:"meta_data"`
}

type triggeredBuildJSON struct {
	ID     string `json:"id"`
	Number int    `json:"number"`
	URL    string `json:"url"`
	WebURL string `json:"web_url"`
}

type retrySourceJSON struct {
	JobID     string `json:"job_id"`
	RetryType string `json:"retry_type"`
}

type priorityJSON struct {
	Number int `json:"number"`
}

// jobJSON covers every job type; waiter, manual and trigger jobs carry only
// the subset Buildkite sends for them (see renderJob), hence omitempty on
// fields that script jobs always have.
type jobJSON struct {
	ID                   string               `json:"id"`
	GraphQLID            string               `json:"graphql_id"`
	Type                 string               `json:"type"`
	Name                 *string              `json:"name,omitempty"`
	Label                *string              `json:"label,omitempty"`
	StepKey              **string             `json:"step_key,omitempty"`
	GroupKey             **string             `json:"group_key,omitempty"`
	Step                 *map[string]any      `json:"step,omitempty"`
	Priority             *priorityJSON        `json:"priority,omitempty"`
	AgentQueryRules      *[]string            `json:"agent_query_rules,omitempty"`
	State                string               `json:"state,omitempty"`
	BuildURL             string               `json:"build_url,omitempty"`
	WebURL               string               `json:"web_url,omitempty"`
	LogURL               string               `json:"log_url,omitempty"`
	RawLogURL            string               `json:"raw_log_url,omitempty"`
	ArtifactsURL         string               `json:"artifacts_url,omitempty"`
	Command              *string              `json:"command,omitempty"`
	SoftFailed           *bool                `json:"soft_failed,omitempty"`
	ExitStatus           **int                `json:"exit_status,omitempty"`
	PromisedExitStatus   **int                `json:"promised_exit_status,omitempty"`
	PromisedExitStatusAt **string             `json:"promised_exit_status_at,omitempty"`
	ArtifactPaths        **string             `json:"artifact_paths,omitempty"`
	Agent                **agentJSON          `json:"agent,omitempty"`
	CreatedAt            **string             `json:"created_at,omitempty"`
	ScheduledAt          **string             `json:"scheduled_at,omitempty"`
	RunnableAt           **string             `json:"runnable_at,omitempty"`
	StartedAt            **string             `json:"started_at,omitempty"`
	FinishedAt           **string             `json:"finished_at,omitempty"`
	Retried              *bool                `json:"retried,omitempty"`
	RetriedInJobID       **string             `json:"retried_in_job_id,omitempty"`
	RetriesCount         **int                `json:"retries_count,omitempty"`
	RetrySource          **retrySourceJSON    `json:"retry_source,omitempty"`
	RetryType            **string             `json:"retry_type,omitempty"`
	ParallelGroupIndex   **int                `json:"parallel_group_index,omitempty"`
	ParallelGroupTotal   **int                `json:"parallel_group_total,omitempty"`
	Matrix               **string             `json:"matrix,omitempty"`
	ClusterID            **string             `json:"cluster_id,omitempty"`
	ClusterQueueID       **string             `json:"cluster_queue_id,omitempty"`
	UnblockedBy          **userJSON           `json:"unblocked_by,omitempty"`
	UnblockedAt          **string             `json:"unblocked_at,omitempty"`
	Unblockable          *bool                `json:"unblockable,omitempty"`
	UnblockURL           string               `json:"unblock_url,omitempty"`
	TriggeredBuild       **triggeredBuildJSON `json:"triggered_build,omitempty"`
}

type annotationJSON struct {
	ID        string  `json:"id"`
	Context   string  `json:"context"`
	Style     string  `json:"style"`
	Priority  int     `json:"priority"`
	Scope     string  `json:"scope"`
	JobID     *string `json:"job_id"`
	BodyHTML  string  `json:"body_html"`
	CreatedAt *string `json:"created_at"`
	UpdatedAt *string `json:"updated_at"`
}

type artifactJSON struct {
	ID           string `json:"id"`
	JobID        string `json:"job_id"`
	URL          string `json:"url"`
	DownloadURL  string `json:"download_url"`
	State        string `json:"state"`
	Path         string `json:"path"`
	Dirname      string `json:"dirname"`
	Filename     string `json:"filename"`
	MimeType     string `json:"mime_type"`
	FileSize     int64  `json:"file_size"`
	GlobPath     string `json:"glob_path"`
	OriginalPath string `json:"original_path"`
	SHA1Sum      string `json:"sha1sum"`
}

type accessTokenJSON struct {
	UUID        string   `json:"uuid"`
	Scopes      []string `json:"scopes"`
	Description string   `json:"description"`
	CreatedAt   *string  `json:"created_at"`
	ExpiresAt   *string  `json:"expires_at"`
	User        struct {
		UUID  string `json:"uuid"`
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"user"`
}

// ts renders times the way Buildkite does: UTC with milliseconds.
func ts(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format("2006-01-02T15:04:05.000Z")
	return &s
}

func tsp(t *time.Time) *string {
	if t == nil {
		return nil
	}
	return ts(*t)
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func ptr[T any](v T) *T { return &v }

// renderer knows the base URL that API links point at.
type renderer struct {
	base string // e.g. http://127.0.0.1:1234/ (trailing slash)
}

func (r renderer) api(format string, a ...any) string {
	return r.base + "v2/" + fmt.Sprintf(format, a...)
}

func (r renderer) user(u *User) *userJSON {
	if u == nil {
		return nil
	}
	return &userJSON{ID: u.ID, GraphQLID: u.GraphQLID, Name: u.Name, Email: u.Email, AvatarURL: u.AvatarURL, CreatedAt: ts(u.CreatedAt)}
}

func (r renderer) organization(o *Organization) organizationJSON {
	return organizationJSON{
		ID: o.ID, GraphQLID: o.GraphQLID,
		URL:          r.api("organizations/%s", o.Slug),
		WebURL:       webBase + o.Slug,
		Name:         o.Name,
		Slug:         o.Slug,
		PipelinesURL: r.api("organizations/%s/pipelines", o.Slug),
		AgentsURL:    r.api("organizations/%s/agents", o.Slug),
		EmojisURL:    r.api("organizations/%s/emojis", o.Slug),
		CreatedAt:    ts(o.CreatedAt),
	}
}

func (r renderer) pipeline(o *Organization, p *Pipeline) *pipelineJSON {
	pj := &pipelineJSON{
		ID: p.ID, GraphQLID: p.GraphQLID,
		URL:                       r.api("organizations/%s/pipelines/%s", o.Slug, p.Slug),
		WebURL:                    webBase + o.Slug + "/" + p.Slug,
		Name:                      p.Name,
		Description:               strp(p.Description),
		Slug:                      p.Slug,
		Repository:                p.Repository,
		ClusterID:                 strp(p.ClusterID),
		DefaultBranch:             p.DefaultBranch,
		BranchConfiguration:       nil,
		SkipQueuedBranchBuilds:    p.SkipQueuedBranchBuilds,
		CancelRunningBranchBuilds: p.CancelRunningBranchBuilds,
		Provider: providerJSON{
			ID:         "github",
			WebhookURL: "https://webhook.buildkite.com/deliver/" + strings.ReplaceAll(p.ID, "-", "")[:24],
			Settings: map[string]any{
				"trigger_mode":                                  "code",
				"build_pull_requests":                           true,
				"pull_request_branch_filter_enabled":            false,
				"skip_pull_request_builds_for_existing_commits": true,
				"build_tags":                                    false,
				"publish_commit_status":                         true,
				"publish_blocked_as_pending":                    true,
				"repository":                                    strings.TrimSuffix(strings.TrimPrefix(p.Repository, "git@github.com:"), ".git"),
			},
		},
		BuildsURL:     r.api("organizations/%s/pipelines/%s/builds", o.Slug, p.Slug),
		BadgeURL:      "https://badge.buildkite.com/" + strings.ReplaceAll(p.ID, "-", "") + ".svg",
		CreatedAt:     ts(p.CreatedAt),
		Env:           map[string]any{},
		Visibility:    p.Visibility,
		Tags:          p.Tags,
		Configuration: p.Configuration,
		Steps: []stepJSON{{
			Type:    "script",
			Name:    ptr(":pipeline:"),
			Command: "buildkite-agent pipeline upload",
		}},
	}
	if pj.Tags == nil {
		pj.Tags = []string{}
	}
	for _, b := range p.Builds {
		switch b.State {
		case "scheduled":
			pj.ScheduledBuildsCount++
		case "running", "failing", "canceling":
			pj.RunningBuildsCount++
		}
		for _, j := range b.Jobs {
			switch j.State {
			case "scheduled", "assigned", "accepted":
				pj.ScheduledJobsCount++
			case "running":
				pj.RunningJobsCount++
			case "waiting":
				pj.WaitingJobsCount++
			}
		}
	}
	return pj
}

// buildOpts are the query flags that change how a build renders.
type buildOpts struct {
	includeRetried  bool
	excludeJobs     bool
	excludePipeline bool
}

func (r renderer) build(o *Organization, p *Pipeline, b *Build, opt buildOpts) buildJSON {
	bj := buildJSON{
		ID: b.ID, GraphQLID: b.GraphQLID,
		URL:          r.api("organizations/%s/pipelines/%s/builds/%d", o.Slug, p.Slug, b.Number),
		WebURL:       fmt.Sprintf("%s%s/%s/builds/%d", webBase, o.Slug, p.Slug, b.Number),
		Number:       b.Number,
		State:        b.State,
		CancelReason: strp(b.CancelReason),
		Blocked:      b.Blocked,
		Message:      b.Message,
		Commit:       b.Commit,
		Branch:       b.Branch,
		Env:          b.Env,
		Source:       b.Source,
		Creator:      r.user(b.Creator),
		CreatedAt:    ts(b.CreatedAt),
		ScheduledAt:  tsp(b.ScheduledAt),
		StartedAt:    tsp(b.StartedAt),
		FinishedAt:   tsp(b.FinishedAt),
		MetaData:     b.MetaData,
	}
	if bj.Env == nil {
		bj.Env = map[string]string{}
	}
	if bj.MetaData == nil {
		bj.MetaData = map[string]string{}
	}
	if b.Author != nil {
		bj.Author = &authorJSON{Username: b.Author.Username, Name: b.Author.Name, Email: b.Author.Email}
	}
	if b.PullRequest != nil {
		bj.PullRequest = &pullRequestJSON{ID: b.PullRequest.ID, Base: b.PullRequest.Base, Repository: b.PullRequest.Repository}
	}
	if rf := b.RebuiltFrom; rf != nil {
		bj.RebuiltFrom = &rebuiltFromJSON{ID: rf.ID, Number: rf.Number, URL: r.api("organizations/%s/pipelines/%s/builds/%d", o.Slug, p.Slug, rf.Number)}
	}
	if b.TriggeredFrom != nil {
		bj.TriggeredFrom = &triggeredFromJSON{BuildID: b.TriggeredFrom.BuildID, BuildNumber: b.TriggeredFrom.BuildNumber, BuildPipelineSlug: b.TriggeredFrom.BuildPipelineSlug}
	}
	if !opt.excludeJobs {
		bj.Jobs = []jobJSON{}
		for _, j := range visibleJobs(b, opt.includeRetried) {
			bj.Jobs = append(bj.Jobs, r.job(o, p, b, j))
		}
	}
	if !opt.excludePipeline {
		bj.Pipeline = r.pipeline(o, p)
	}
	return bj
}

// visibleJobs drops retried jobs unless asked for them: by default Buildkite
// shows only the latest attempt of each step.
func visibleJobs(b *Build, includeRetried bool) []*Job {
	var out []*Job
	for _, j := range b.Jobs {
		if j.Retried && !includeRetried {
			continue
		}
		out = append(out, j)
	}
	return out
}

func (r renderer) job(o *Organization, p *Pipeline, b *Build, j *Job) jobJSON {
	buildURL := r.api("organizations/%s/pipelines/%s/builds/%d", o.Slug, p.Slug, b.Number)
	webURL := fmt.Sprintf("%s%s/%s/builds/%d#%s", webBase, o.Slug, p.Slug, b.Number, j.ID)
	jj := jobJSON{ID: j.ID, GraphQLID: j.GraphQLID, Type: j.Type}
	switch j.Type {
	case JobTypeWaiter:
		return jj
	case JobTypeManual:
		jj.Label = ptr(j.Label)
		jj.StepKey = ptr(strp(j.StepKey))
		jj.State = j.State
		jj.WebURL = webURL
		jj.UnblockedBy = ptr(r.user(j.UnblockedBy))
		jj.UnblockedAt = ptr(tsp(j.UnblockedAt))
		jj.Unblockable = ptr(j.Unblockable)
		jj.UnblockURL = buildURL + "/jobs/" + j.ID + "/unblock"
		return jj
	case JobTypeTrigger:
		jj.Name = ptr(j.Name)
		jj.StepKey = ptr(strp(j.StepKey))
		jj.State = j.State
		jj.BuildURL = buildURL
		jj.WebURL = webURL
		jj.CreatedAt = ptr(ts(j.CreatedAt))
		jj.ScheduledAt = ptr(tsp(j.ScheduledAt))
		jj.RunnableAt = ptr(tsp(j.RunnableAt))
		jj.StartedAt = ptr(tsp(j.StartedAt))
		jj.FinishedAt = ptr(tsp(j.FinishedAt))
		var tb *triggeredBuildJSON
		if j.TriggeredBuild != nil {
			tb = &triggeredBuildJSON{
				ID:     j.TriggeredBuild.ID,
				Number: j.TriggeredBuild.Number,
				URL:    r.api("organizations/%s/pipelines/%s/builds/%d", o.Slug, j.TriggeredBuild.Pipeline, j.TriggeredBuild.Number),
				WebURL: fmt.Sprintf("%s%s/%s/builds/%d", webBase, o.Slug, j.TriggeredBuild.Pipeline, j.TriggeredBuild.Number),
			}
		}
		jj.TriggeredBuild = ptr(tb)
		return jj
	}
	jobURL := buildURL + "/jobs/" + j.ID
	step := map[string]any{"id": uuidFor("step", j.ID), "signature": nil}
	rules := j.AgentQueryRules
	if rules == nil {
		rules = []string{}
	}
	jj.Name = ptr(j.Name)
	jj.StepKey = ptr(strp(j.StepKey))
	jj.GroupKey = ptr(strp(j.GroupKey))
	jj.Step = &step
	jj.Priority = &priorityJSON{Number: j.Priority}
	jj.AgentQueryRules = &rules
	jj.State = j.State
	jj.BuildURL = buildURL
	jj.WebURL = webURL
	jj.LogURL = jobURL + "/log"
	jj.RawLogURL = jobURL + "/log.txt"
	jj.ArtifactsURL = jobURL + "/artifacts"
	jj.Command = ptr(j.Command)
	jj.SoftFailed = ptr(j.SoftFailed)
	jj.ExitStatus = ptr(j.ExitStatus)
	jj.PromisedExitStatus = ptr(j.PromisedExitStatus)
	jj.PromisedExitStatusAt = ptr(tsp(j.PromisedExitStatusAt))
	jj.ArtifactPaths = ptr(strp(j.ArtifactPaths))
	var agent *agentJSON
	if j.Agent != nil {
		a := j.Agent
		agent = &agentJSON{
			ID: a.ID, GraphQLID: graphQLID("Agent", a.ID),
			URL:             r.api("organizations/%s/agents/%s", o.Slug, a.ID),
			WebURL:          fmt.Sprintf("%sorganizations/%s/agents/%s", webBase, o.Slug, a.ID),
			Name:            a.Name,
			ConnectionState: "connected",
			Hostname:        a.Hostname,
			IPAddress:       a.IPAddress,
			UserAgent:       "buildkite-agent/" + a.Version + " (linux; amd64)",
			Version:         a.Version,
			CreatedAt:       ts(a.CreatedAt),
			MetaData:        a.MetaData,
		}
	}
	jj.Agent = ptr(agent)
	jj.CreatedAt = ptr(ts(j.CreatedAt))
	jj.ScheduledAt = ptr(tsp(j.ScheduledAt))
	jj.RunnableAt = ptr(tsp(j.RunnableAt))
	jj.StartedAt = ptr(tsp(j.StartedAt))
	jj.FinishedAt = ptr(tsp(j.FinishedAt))
	jj.Retried = ptr(j.Retried)
	jj.RetriedInJobID = ptr(strp(j.RetriedInJobID))
	var rc *int
	if j.RetriesCount > 0 {
		rc = ptr(j.RetriesCount)
	}
	jj.RetriesCount = ptr(rc)
	var rs *retrySourceJSON
	if j.RetrySourceID != "" {
		rs = &retrySourceJSON{JobID: j.RetrySourceID, RetryType: j.RetryType}
	}
	jj.RetrySource = ptr(rs)
	jj.RetryType = ptr(strp(j.RetryType))
	jj.ParallelGroupIndex = ptr(j.ParallelIndex)
	jj.ParallelGroupTotal = ptr(j.ParallelTotal)
	jj.Matrix = ptr[*string](nil)
	jj.ClusterID = ptr(strp(p.ClusterID))
	jj.ClusterQueueID = ptr(strp(queueID(p)))
	return jj
}

func queueID(p *Pipeline) string {
	if p.ClusterID == "" {
		return ""
	}
	return uuidFor("queue", p.ClusterID)
}

func (r renderer) annotation(a *Annotation) annotationJSON {
	scope := "build"
	if a.JobID != "" {
		scope = "job"
	}
	return annotationJSON{
		ID: a.ID, Context: a.Context, Style: a.Style, Priority: a.Priority,
		Scope: scope, JobID: strp(a.JobID), BodyHTML: a.BodyHTML,
		CreatedAt: ts(a.CreatedAt), UpdatedAt: ts(a.UpdatedAt),
	}
}

func (r renderer) artifact(o *Organization, p *Pipeline, b *Build, j *Job, a *Artifact) artifactJSON {
	u := r.api("organizations/%s/pipelines/%s/builds/%d/jobs/%s/artifacts/%s", o.Slug, p.Slug, b.Number, j.ID, a.ID)
	dir, file := "", a.Path
	if i := strings.LastIndex(a.Path, "/"); i >= 0 {
		dir, file = a.Path[:i], a.Path[i+1:]
	}
	if dir == "" {
		dir = "."
	}
	return artifactJSON{
		ID: a.ID, JobID: j.ID, URL: u, DownloadURL: u + "/download",
		State: a.State, Path: a.Path, Dirname: dir, Filename: file,
		MimeType: a.MimeType, FileSize: artifactSize(a), GlobPath: a.GlobPath,
		OriginalPath: a.Path, SHA1Sum: fmt.Sprintf("%x", sha1Sum(a.Content)),
	}
}

func artifactSize(a *Artifact) int64 {
	if a.Size > 0 {
		return a.Size
	}
	return int64(len(a.Content))
}

// sortedBuilds returns builds newest first, the order every Buildkite list uses.
func sortedBuilds(bs []*Build) []*Build {
	out := append([]*Build(nil), bs...)
	sort.SliceStable(out, func(i, k int) bool { return out[i].Number > out[k].Number })
	return out
}
