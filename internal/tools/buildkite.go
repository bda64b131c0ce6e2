package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/kitegate/kitegate/internal/buildkite"
)

// Buildkite is every call the catalog's tools make: the union of the
// areas' own interfaces (userAPI, buildAPI, logAPI, ...), each declared
// beside the tools that call it. *buildkite.Client satisfies it.
type Buildkite interface {
	userAPI
	pipelineAPI
	buildAPI
	logAPI
	testAPI
	investigationAPI
	clusterAPI
	agentAPI
	artifactAPI
	annotationAPI
}

// Default is the catalog this build ships, its tools calling bk. Each area
// is handed bk as the small interface it calls.
func Default(bk Buildkite) (*Catalog, error) {
	var all []*Tool
	for _, area := range []func() ([]*Tool, error){
		func() ([]*Tool, error) { return userTools(bk) },
		func() ([]*Tool, error) { return pipelineTools(bk) },
		func() ([]*Tool, error) { return buildTools(bk) },
		func() ([]*Tool, error) { return logTools(bk) },
		func() ([]*Tool, error) { return testTools(bk) },
		func() ([]*Tool, error) { return investigationTools(bk) },
		func() ([]*Tool, error) { return clusterTools(bk) },
		func() ([]*Tool, error) { return agentTools(bk) },
		func() ([]*Tool, error) { return artifactTools(bk) },
		func() ([]*Tool, error) { return annotationTools(bk) },
		skillTools,
	} {
		ts, err := area()
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
