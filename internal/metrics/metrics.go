// Package metrics writes CloudWatch Embedded Metric Format (EMF) lines: one
// JSON object per line on the function's standard output, from which
// CloudWatch Logs extracts the metrics. Publishing costs no AWS call and no
// latency; the same line is a log line, so its plain fields (the request
// id, the audit event id, the user) are searchable beside the metric.
package metrics

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Namespace is kitegate's CloudWatch namespace.
const Namespace = "kitegate"

// FunctionDimension is the dimension every metric carries: the Lambda
// function's name, which is unique per stack (the template's alarms use
// !Ref of the function).
const FunctionDimension = "FunctionName"

// The metrics kitegate publishes (docs/operations.md). The template's
// alarms and dashboard name them; internal/stack checks they exist here.
const (
	// Per tools/call, by the mcp function.
	Calls        = "Calls"
	Denied       = "Denied" // also by Reason
	RateLimited  = "RateLimited"
	ToolErrors   = "ToolErrors"
	Buildkite401 = "Buildkite401"
	Buildkite403 = "Buildkite403"
	Buildkite429 = "Buildkite429"
	Buildkite5xx = "Buildkite5xx"
	Latency      = "Latency"
	// Per audit event logged for replay, by the mcp function.
	AuditReplay = "AuditReplay"
	// Per configuration error the mcp function sees from the outside (the
	// IdP names another issuer or audience than configured).
	ConfigErrors = "ConfigErrors"
	// Per discovery run.
	TokenFailed        = "TokenFailed"
	TokenDegraded      = "TokenDegraded"
	TokenExpiringSoon  = "TokenExpiringSoon"
	TokenDaysToExpiry  = "TokenDaysToExpiry"
	TokenMissingScopes = "TokenMissingScopes"
	ToolsAdded         = "ToolsAdded"
	ToolsDemoted       = "ToolsDemoted"
	ToolsUnavailable   = "ToolsUnavailable"
	ToolsRemoved       = "ToolsRemoved"
)

// Names are all of them.
var Names = []string{
	Calls, Denied, RateLimited, ToolErrors, Buildkite401, Buildkite403, Buildkite429, Buildkite5xx, Latency,
	AuditReplay, ConfigErrors,
	TokenFailed, TokenDegraded, TokenExpiringSoon, TokenDaysToExpiry, TokenMissingScopes,
	ToolsAdded, ToolsDemoted, ToolsUnavailable, ToolsRemoved,
}

// Units, as CloudWatch names them.
const (
	Count        = "Count"
	Milliseconds = "Milliseconds"
	None         = "None"
)

// Flag is a 0/1 value: 1 when b.
func Flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Metric is one value of a line.
type Metric struct {
	Name  string
	Unit  string
	Value float64
}

// Split publishes some of a line's metrics once more under a second
// dimension (Denied by Reason), besides the function alone.
type Split struct {
	Dimension, Value string
	Metrics          []string
}

// Writer writes EMF lines. A nil *Writer writes nothing.
type Writer struct {
	mu       sync.Mutex
	w        io.Writer
	function string
	now      func() time.Time
}

// New returns a writer of EMF lines to w for the function named function
// (lambdacontext.FunctionName on Lambda).
func New(w io.Writer, function string) *Writer {
	return &Writer{w: w, function: function, now: time.Now}
}

type directive struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []unit     `json:"Metrics"`
}

type unit struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// Emit writes one line: ms under the function dimension, those named by
// split also under its dimension, and props (key, value pairs) as plain
// fields. Plain fields never overwrite a metric or a dimension. A write
// error is returned for the caller to log; metrics never fail a call.
func (m *Writer) Emit(ms []Metric, split *Split, props ...any) error {
	if m == nil || m.w == nil || len(ms) == 0 {
		return nil
	}
	line := make(map[string]any, len(ms)+len(props)/2+3)
	for i := 0; i+1 < len(props); i += 2 {
		if k, ok := props[i].(string); ok {
			line[k] = props[i+1]
		}
	}
	base := directive{Namespace: Namespace, Dimensions: [][]string{{FunctionDimension}}}
	for _, v := range ms {
		line[v.Name] = v.Value
		base.Metrics = append(base.Metrics, unit{v.Name, v.Unit})
	}
	directives := []directive{base}
	if split != nil && split.Dimension != "" {
		d := directive{Namespace: Namespace, Dimensions: [][]string{{FunctionDimension, split.Dimension}}}
		for _, v := range ms {
			for _, name := range split.Metrics {
				if v.Name == name {
					d.Metrics = append(d.Metrics, unit{v.Name, v.Unit})
				}
			}
		}
		if len(d.Metrics) > 0 {
			line[split.Dimension] = split.Value
			directives = append(directives, d)
		}
	}
	line[FunctionDimension] = m.function
	line["_aws"] = map[string]any{
		"Timestamp":         m.now().UnixMilli(),
		"CloudWatchMetrics": directives,
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err = m.w.Write(b)
	return err
}

// Lambda returns a writer to w (the function's standard output) named for
// the running Lambda function, when onLambda; off Lambda, where nothing
// extracts the metrics, nil.
func Lambda(onLambda bool, w io.Writer) *Writer {
	if !onLambda {
		return nil
	}
	return New(w, lambdacontext.FunctionName)
}
