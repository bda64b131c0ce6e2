package tools

import (
	"encoding/json"
	"reflect"

	"context"
	"fmt"
	"github.com/google/jsonschema-go/jsonschema"
	"strings"
	"time"

	"github.com/kitegate/kitegate/internal/buildkite"
)

// Buildkite is what the catalog's tools call: the methods of
// *buildkite.Client they use, and no more.
type Buildkite interface {
	CurrentUser(ctx context.Context) (buildkite.User, error)
	Organizations(ctx context.Context, opt buildkite.ListOptions) ([]buildkite.Organization, buildkite.Pagination, error)
	AccessToken(ctx context.Context) (buildkite.AccessToken, error)
	ListPipelines(ctx context.Context, org string, opt buildkite.PipelineListOptions) ([]buildkite.Pipeline, buildkite.Pagination, error)
	GetPipeline(ctx context.Context, org, pipeline string) (buildkite.Pipeline, error)
	ListBuilds(ctx context.Context, org, pipeline string, opt buildkite.BuildListOptions) ([]buildkite.Build, buildkite.Pagination, error)
	GetBuild(ctx context.Context, org, pipeline, number string, opt buildkite.BuildOptions) (buildkite.Build, error)
	CreateBuild(ctx context.Context, org, pipeline string, b buildkite.NewBuild) (buildkite.Build, error)
	ListJobs(ctx context.Context, org, pipeline, number string, opt buildkite.JobListOptions) (buildkite.JobPage, error)
	GetJob(ctx context.Context, org, pipeline, number, jobID string) (buildkite.Job, error)
	JobLogTail(ctx context.Context, org, pipeline, number, jobID string, n int64) (buildkite.LogTail, error)
	buildAPI
	logAPI
	testAPI
	clusterAPI
	agentAPI
	pipelineEditAPI
	scheduleAPI
	artifactAPI
	annotationAPI
	investigationAPI
}

// Default is the catalog this build ships, its tools calling bk.
func Default(bk Buildkite) (*Catalog, error) {
	var all []*Tool
	for _, area := range []func(Buildkite) ([]*Tool, error){userTools, pipelineTools, buildTools, logTools, testTools, investigationTools,
		clusterTools, agentTools, artifactTools, annotationTools, skillTools} {
		ts, err := area(bk)
		if err != nil {
			return nil, err
		}
		all = append(all, ts...)
	}
	return NewCatalog(all...)
}

// define collects Define's results, keeping the first error.
type definer struct {
	tools []*Tool
	err   error
}

func add[In, Out any](d *definer, spec Spec, fn func(ctx context.Context, in In) (Out, error)) {
	if d.err != nil {
		return
	}
	t, err := Define(spec, fn)
	if err != nil {
		d.err = err
		return
	}
	d.tools = append(d.tools, t)
}

func (d *definer) done() ([]*Tool, error) { return d.tools, d.err }

// outputSchemaOptions describe the types of tool outputs that schema
// inference cannot see through: times are RFC 3339 strings, raw JSON is any
// value.
var outputSchemaOptions = &jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
	reflect.TypeFor[time.Time]():           {Type: "string", Format: "date-time"},
	reflect.TypeFor[buildkite.Timestamp](): {Type: "string", Format: "date-time"},
	reflect.TypeFor[json.RawMessage]():     {},
}}

// safeError is a failure whose message is written for the caller.
type safeError string

func (e safeError) Error() string       { return string(e) }
func (e safeError) SafeMessage() string { return string(e) }

// Detail levels of the tools that take detail_level.
const (
	summary  = "summary"
	detailed = "detailed"
	full     = "full"
)

// detailLevel reads a detail_level argument; def is the tool's default
// (Buildkite's own server's: summary for lists, full for get_pipeline and
// get_agent).
func detailLevel(v, def string) (string, error) {
	switch v {
	case "":
		return def, nil
	case summary, detailed, full:
		return v, nil
	}
	return "", &ArgumentError{Argument: "detail_level", Reason: "must be summary, detailed or full"}
}

// listOptions reads page and per_page; def is the page size when none is
// asked (Buildkite's own server asks for 100 on most lists, 30 on builds and
// pipelines; 0 leaves it to Buildkite).
func listOptions(page, perPage, def int) (buildkite.ListOptions, error) {
	if page < 0 {
		return buildkite.ListOptions{}, &ArgumentError{Argument: "page", Reason: "must be 1 or more"}
	}
	if perPage < 0 || perPage > 100 {
		return buildkite.ListOptions{}, &ArgumentError{Argument: "per_page", Reason: "must be between 1 and 100"}
	}
	if perPage == 0 {
		perPage = def
	}
	return buildkite.ListOptions{Page: page, PerPage: perPage}, nil
}

// timestamp renders a Buildkite time for the model, or nil when unset.
func timestamp(t *buildkite.Timestamp) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(strings.TrimSuffix(s, "\r"))
}

func oneOf(arg, v string, allowed ...string) error {
	if v == "" {
		return nil
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return &ArgumentError{Argument: arg, Reason: fmt.Sprintf("must be one of %s", strings.Join(allowed, ", "))}
}
