package buildkitetest

import (
	"crypto/sha1"
	"fmt"
	"time"
)

// Data is everything the simulator serves. It is a model, not a wire format:
// URLs, nested pipeline objects and counts are derived when a response is
// rendered, so a test that builds its own Data only fills what it needs.
type Data struct {
	User          User
	Organizations []*Organization
}

// User is the Buildkite user every simulated API token belongs to.
type User struct {
	ID        string
	GraphQLID string
	Name      string
	Email     string
	AvatarURL string
	CreatedAt time.Time
}

// Organization is a Buildkite organization and everything it owns.
type Organization struct {
	ID        string
	GraphQLID string
	Name      string
	Slug      string
	CreatedAt time.Time
	Pipelines []*Pipeline
	// Suites are the organization's Test Engine suites (see testengine.go).
	Suites []*Suite
	// Clusters and Agents are the organization's agent fleet (see clusters.go, agents.go).
	Clusters []*Cluster
	Agents   []*RegisteredAgent
}

// Pipeline is a Buildkite pipeline. Builds may be in any order; they are
// served newest (highest number) first, as Buildkite does.
type Pipeline struct {
	ID            string
	GraphQLID     string
	Name          string
	Slug          string
	Description   string
	Repository    string
	DefaultBranch string
	ClusterID     string
	Visibility    string // "private" or "public"
	Tags          []string
	Configuration string // the pipeline's YAML steps
	// SkipQueuedBranchBuilds and CancelRunningBranchBuilds supersede a
	// branch's older builds by its newest.
	SkipQueuedBranchBuilds    bool
	CancelRunningBranchBuilds bool
	CreatedAt                 time.Time
	Builds                    []*Build
	// Schedules are the pipeline's scheduled builds (see schedules.go).
	Schedules []*Schedule
}

// Build is one run of a pipeline.
type Build struct {
	ID           string
	GraphQLID    string
	Number       int
	State        string // scheduled, running, passed, failed, blocked, canceled, canceling, skipped, not_run, failing
	Blocked      bool
	CancelReason string
	Message      string
	Commit       string
	Branch       string
	Env          map[string]string
	Source       string // webhook, api, ui, trigger_job, schedule
	Creator      *User  // nil for webhook builds
	Author       *Author
	CreatedAt    time.Time
	ScheduledAt  *time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
	MetaData     map[string]string
	PullRequest  *PullRequest
	// RebuiltFrom is the build this one rebuilds, in the same pipeline.
	RebuiltFrom *Build
	// TriggeredFrom is set on builds started by a trigger step of another build.
	TriggeredFrom *TriggeredFrom
	Jobs          []*Job
	Annotations   []*Annotation
	// StepUploads are the pipeline uploads the build received, oldest first.
	StepUploads []*StepUpload
}

// Author is the commit author of a build.
type Author struct {
	Username string
	Name     string
	Email    string
}

// PullRequest is the pull request a build was made for.
type PullRequest struct {
	ID         string
	Base       string
	Repository string
}

// TriggeredFrom names the trigger job that started a build.
type TriggeredFrom struct {
	BuildID           string
	BuildNumber       int
	BuildPipelineSlug string
}

// Job types, as Buildkite names them.
const (
	JobTypeScript  = "script"
	JobTypeWaiter  = "waiter"
	JobTypeManual  = "manual" // a block or input step
	JobTypeTrigger = "trigger"
)

// Job is one job of a build.
type Job struct {
	ID         string
	GraphQLID  string
	Type       string
	Name       string // script and trigger jobs
	Label      string // manual jobs
	StepKey    string
	GroupKey   string
	State      string
	Command    string
	ExitStatus *int
	// PromisedExitStatus is the non-zero status a running job declared it
	// will finish with (promise job failure), and when it did.
	PromisedExitStatus   *int
	PromisedExitStatusAt *time.Time
	SoftFailed           bool
	ArtifactPaths        string
	AgentQueryRules      []string
	Agent                *Agent
	CreatedAt            time.Time
	ScheduledAt          *time.Time
	RunnableAt           *time.Time
	StartedAt            *time.Time
	FinishedAt           *time.Time
	UnblockedAt          *time.Time
	UnblockedBy          *User
	Unblockable          bool
	Retried              bool
	RetriedInJobID       string
	RetriesCount         int
	RetryType            string // "manual" or "automatic" on a retry
	RetrySourceID        string // the job this one retried
	ParallelIndex        *int
	ParallelTotal        *int
	TriggeredBuild       *TriggeredBuild
	Priority             int

	// Log is the raw job log as the agent uploaded it (ANSI escapes and
	// "\x1b_bk;t=...\x07" timestamps included).
	Log string
	// BigLog, when set, is served as the raw log instead of Log: a log
	// generated on the fly, of any size, never held in memory.
	BigLog *GeneratedLog
	// Env is what GET .../jobs/{id}/env answers.
	Env       map[string]string
	Artifacts []*Artifact
}

// Agent is the agent that ran a job.
type Agent struct {
	ID        string
	Name      string
	Hostname  string
	Version   string
	IPAddress string
	MetaData  []string
	CreatedAt time.Time
}

// TriggeredBuild is the build a trigger job started.
type TriggeredBuild struct {
	ID       string
	Number   int
	Pipeline string // slug, in the same organization
}

// Annotation is a build annotation.
type Annotation struct {
	ID        string
	Context   string
	Style     string // success, info, warning, error
	Priority  int
	BodyHTML  string
	JobID     string // set for job-scoped annotations
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Artifact is a file uploaded by a job.
type Artifact struct {
	ID       string
	Path     string
	GlobPath string
	State    string // new, error, finished, deleted
	MimeType string
	Content  []byte
	// Size, when non-zero, is reported instead of len(Content).
	Size int64
}

// uuidFor derives a stable, UUID-shaped identifier from parts, so the seed
// is byte-for-byte identical on every run.
func uuidFor(parts ...any) string {
	h := sha1.Sum(fmt.Appendln(nil, parts...))
	h[6] = h[6]&0x0f | 0x70 // looks like the v7 UUIDs Buildkite issues
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// graphQLID mimics Buildkite's GraphQL node IDs: base64 of "Type---uuid".
func graphQLID(kind, id string) string {
	return b64(kind + "---" + id)
}
