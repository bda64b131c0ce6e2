// Package tools is kitegate's catalog of Buildkite tools: each tool is a
// definition (name, description, input schema, annotations), the Buildkite
// scopes it needs, a stable definition hash that policy pins approvals to, and
// a handler that validates its arguments before anything reaches Buildkite.
package tools

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Kind classifies a tool by what it does to Buildkite.
type Kind string

// The kinds of tool. They decide the MCP annotations and the automatic
// read-only toolset. Sensitive tools only read, but what they read is
// secret (job environments): they are annotated read-only, yet never count
// as read-only for policy, so no default approves them.
const (
	Read        Kind = "read"
	Sensitive   Kind = "sensitive"
	Write       Kind = "write"
	Destructive Kind = "destructive"
)

// Spec is what a tool author writes besides the handler.
type Spec struct {
	Name        string
	Title       string
	Description string
	// Area is the Buildkite area the tool belongs to (user, pipelines,
	// builds, logs, ...), as grouped in the catalog table.
	Area   string
	Kind   Kind
	Scopes []string
	// Local tools answer from kitegate itself and never reach Buildkite
	// (openWorldHint false).
	Local bool
}

// Tool is one catalog entry, shared by every MCP server instance. Its
// schemas, definition and hash are built on first use, once: a cold start
// pays nothing for tools no caller asks for, and the first tools/list pays
// only for the tools that caller may see.
type Tool struct {
	spec  Spec
	build func() (*built, error)
	once  sync.Once
	b     *built
	err   error
	call  func(ctx context.Context, b *built, args json.RawMessage) (any, error)
}

// built is what Define infers from a tool's types.
type built struct {
	def      *mcp.Tool
	hash     string
	props    map[string]argument
	required []string
}

// argumentPatterns constrains arguments by name across the whole catalog, so
// a hostile path segment ("../", "%2F", "a/b") is refused before any handler
// or Buildkite call sees it.
// The patterns are compiled once for the whole catalog and checked by decode
// itself; the announced schema carries them for the model to see.
var argumentPatterns = map[string]*regexp.Regexp{
	"org_slug":         slugPattern,
	"pipeline_slug":    slugPattern,
	"test_suite_slug":  slugPattern,
	"build_number":     regexp.MustCompile(`^[1-9][0-9]{0,9}$`),
	"job_id":           uuidPattern,
	"source_job_id":    uuidPattern,
	"build_uuid":       uuidPattern,
	"cluster_id":       uuidPattern,
	"default_queue_id": uuidPattern,
	"queue_id":         uuidPattern,
	"agent_id":         uuidPattern,
	"schedule_id":      uuidPattern,
	"artifact_id":      uuidPattern,
	"upload_uuid":      uuidPattern,
	"test_id":          uuidPattern,
	"run_id":           uuidPattern,
}

var (
	// Slugs are at most 100 bytes: maxLength in the schema, not a counted
	// repetition, which would cost every cold start half a millisecond.
	slugPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// argument is how one argument is checked.
type argument struct {
	schema  *jsonschema.Resolved
	pattern *regexp.Regexp // nil: none beyond the schema
}

// Define builds a Tool whose arguments decode into In and whose result is an
// Out. The input schema is inferred from In once, here; Call validates
// against it on every call. Unless Out is an interface type (any), the
// output schema is inferred from Out and announced, and results carry
// structured content that conforms to it.
func Define[In, Out any](spec Spec, fn func(ctx context.Context, in In) (Out, error)) (*Tool, error) {
	if spec.Name == "" || spec.Description == "" {
		return nil, errors.New("define tool: name and description are required")
	}
	switch spec.Kind {
	case Read, Sensitive, Write, Destructive:
	default:
		return nil, fmt.Errorf("define tool %s: unknown kind %q", spec.Name, spec.Kind)
	}
	t := &Tool{spec: spec}
	t.build = func() (*built, error) { return buildTool[In, Out](spec) }
	t.call = func(ctx context.Context, b *built, raw json.RawMessage) (any, error) {
		var in In
		if err := b.decode(spec.Name, raw, &in); err != nil {
			return nil, err
		}
		return fn(ctx, in)
	}
	return t, nil
}

func buildTool[In, Out any](spec Spec) (*built, error) {
	schema, err := jsonschema.For[In](argumentSchemaOptions)
	if err != nil {
		return nil, fmt.Errorf("define tool %s: input schema: %w", spec.Name, err)
	}
	if schema.Type != "object" {
		return nil, fmt.Errorf("define tool %s: arguments must be a struct", spec.Name)
	}
	if schema.Properties == nil {
		schema.Properties = map[string]*jsonschema.Schema{}
	}
	// Closed objects: a misspelt argument is an error, not silently ignored.
	schema.AdditionalProperties = &jsonschema.Schema{Not: &jsonschema.Schema{}}
	t := &built{props: make(map[string]argument, len(schema.Properties)), required: slices.Clone(schema.Required)}
	for name, ps := range schema.Properties {
		if _, ok := argumentPatterns[name]; ok && ps.Type == "string" && ps.MaxLength == nil {
			ps.MaxLength = jsonschema.Ptr(100)
		}
		r, err := ps.Resolve(nil)
		if err != nil {
			return nil, fmt.Errorf("define tool %s: argument %s: %w", spec.Name, name, err)
		}
		arg := argument{schema: r}
		if p, ok := argumentPatterns[name]; ok && ps.Type == "string" {
			arg.pattern = p
			announced := *ps
			announced.Pattern = p.String()
			schema.Properties[name] = &announced
		}
		t.props[name] = arg
	}
	t.def = &mcp.Tool{
		Name:        spec.Name,
		Title:       spec.Title,
		Description: spec.Description,
		Annotations: annotations(spec),
	}
	// Clients list tools far more often than tools change: hand the SDK the
	// schemas already encoded, so a tools/list copies bytes instead of
	// walking schema trees.
	if t.def.InputSchema, err = encodeSchema(schema); err != nil {
		return nil, fmt.Errorf("define tool %s: %w", spec.Name, err)
	}
	if reflect.TypeFor[Out]().Kind() != reflect.Interface {
		out, err := jsonschema.For[Out](outputSchemaOptions)
		if err != nil {
			return nil, fmt.Errorf("define tool %s: output schema: %w", spec.Name, err)
		}
		if out.Type != "object" {
			return nil, fmt.Errorf("define tool %s: output must be a struct or map (structured content is an object)", spec.Name)
		}
		if t.def.OutputSchema, err = encodeSchema(out); err != nil {
			return nil, fmt.Errorf("define tool %s: %w", spec.Name, err)
		}
	}
	t.hash = definitionHash(spec, t.def)
	return t, nil
}

func encodeSchema(s *jsonschema.Schema) (json.RawMessage, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return b, nil
}

func annotations(spec Spec) *mcp.ToolAnnotations {
	yes, no := true, false
	open := !spec.Local
	a := &mcp.ToolAnnotations{Title: spec.Title, OpenWorldHint: &open}
	switch spec.Kind {
	case Read, Sensitive:
		a.ReadOnlyHint = true
		a.IdempotentHint = true
		a.DestructiveHint = &no
	case Write:
		a.DestructiveHint = &no
	case Destructive:
		a.DestructiveHint = &yes
	}
	return a
}

// definitionHash is a digest of everything a reviewer approves: what the
// model is told, what it may send, what the tool may do and need.
// Each part is written length-prefixed, so no two definitions hash alike by
// moving text from one part to the next.
func definitionHash(spec Spec, def *mcp.Tool) string {
	h := sha256.New()
	part := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	annotations, _ := json.Marshal(def.Annotations) // a plain struct: cannot fail
	out, _ := def.OutputSchema.(json.RawMessage)
	for _, p := range [][]byte{[]byte(def.Name), []byte(def.Title), []byte(def.Description),
		def.InputSchema.(json.RawMessage), out, annotations, []byte(spec.Kind), []byte(strings.Join(spec.Scopes, " "))} {
		part(p)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Name is the tool's MCP name.
func (t *Tool) Name() string { return t.spec.Name }

// Spec returns what the tool was defined with.
func (t *Tool) Spec() Spec { return t.spec }

// Ready builds the tool if it is not built yet and reports whether its
// definition could be inferred. Inference depends only on the tool's Go
// types, so a tool that is ready in the tests is ready everywhere; callers
// that must not fail (serving tools/list) check it and skip a tool that is
// not.
func (t *Tool) Ready() error {
	t.once.Do(func() { t.b, t.err = t.build() })
	return t.err
}

// Definition is the MCP tool definition, shared: callers must not modify it.
// It is nil for a tool that is not Ready.
func (t *Tool) Definition() *mcp.Tool {
	if t.Ready() != nil {
		return nil
	}
	return t.b.def
}

// Hash is the stable definition hash ("sha256:<hex>"), empty for a tool that
// is not Ready.
func (t *Tool) Hash() string {
	if t.Ready() != nil {
		return ""
	}
	return t.b.hash
}

// ArgumentError says which argument was refused and why. Its message is safe
// to show the caller.
type ArgumentError struct {
	Argument string
	Reason   string
}

func (e *ArgumentError) Error() string {
	if e.Argument == "" {
		return "invalid arguments: " + e.Reason
	}
	return fmt.Sprintf("invalid argument %q: %s", e.Argument, e.Reason)
}

// decode validates raw arguments argument by argument, so the error names
// the argument at fault, then decodes them into in.
func (t *built) decode(tool string, raw json.RawMessage, in any) error {
	var args map[string]any
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &args); err != nil {
			return &ArgumentError{Reason: "arguments must be a JSON object"}
		}
	}
	for _, name := range t.required {
		if _, ok := args[name]; !ok {
			return &ArgumentError{Argument: name, Reason: "is required"}
		}
	}
	for _, name := range sortedKeys(args) {
		arg, ok := t.props[name]
		if !ok {
			return &ArgumentError{Argument: name, Reason: "is not an argument of " + tool}
		}
		if err := arg.schema.Validate(args[name]); err != nil {
			return &ArgumentError{Argument: name, Reason: validationReason(err)}
		}
		if s, ok := args[name].(string); ok && arg.pattern != nil && !arg.pattern.MatchString(s) {
			return &ArgumentError{Argument: name, Reason: fmt.Sprintf("%q does not match %s", truncate(s, 64), arg.pattern)}
		}
	}
	if len(args) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, in); err != nil {
		return &ArgumentError{Reason: err.Error()}
	}
	return nil
}

// validationReason trims the validator's path prefixes, which name schema
// locations rather than anything the caller wrote.
func validationReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "validating") {
		msg = msg[i+2:]
	}
	// The validator quotes the value; a huge value must not come back whole.
	return truncate(msg, 300)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// SafeError is implemented by errors whose message may be shown to the
// caller as is (argument errors, mapped Buildkite errors).
type SafeError interface {
	error
	SafeMessage() string
}

// SafeMessage implements SafeError.
func (e *ArgumentError) SafeMessage() string { return e.Error() }

// Call runs the tool. The result is always a valid MCP result: on failure it
// is a tool error (IsError) with a message safe for the caller, and the
// returned error carries the detail for the log and audit.
func (t *Tool) Call(ctx context.Context, args json.RawMessage) (*mcp.CallToolResult, error) {
	if err := t.Ready(); err != nil {
		return errorResult(err), err
	}
	out, err := t.call(ctx, t.b, args)
	if err != nil {
		return errorResult(err), err
	}
	res, err := Result(out)
	if err != nil {
		return errorResult(err), err
	}
	return res, nil
}

// Result renders a handler's output, sanitized, as a JSON text block and,
// when it is a JSON object, as structured content too.
func Result(out any) (*mcp.CallToolResult, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // sanitize works on literal text; < > & are data
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	b := sanitize(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}
	if v := reflect.ValueOf(out); v.IsValid() && isObject(v) {
		res.StructuredContent = json.RawMessage(b)
	}
	return res, nil
}

func isObject(v reflect.Value) bool {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return false
		}
		v = v.Elem()
	}
	return v.Kind() == reflect.Struct || v.Kind() == reflect.Map
}

func errorResult(err error) *mcp.CallToolResult {
	msg := "internal error: the tool failed; the details are in the server log"
	var safe SafeError
	if errors.As(err, &safe) {
		msg = string(dropInvisible(sanitize([]byte(safe.SafeMessage()))))
	}
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}
}

// Catalog is the set of tools this build ships.
type Catalog struct {
	tools  []*Tool
	byName map[string]*Tool
}

// NewCatalog indexes tools, refusing duplicate names.
func NewCatalog(tools ...*Tool) (*Catalog, error) {
	c := &Catalog{byName: make(map[string]*Tool, len(tools))}
	for _, t := range tools {
		if _, dup := c.byName[t.Name()]; dup {
			return nil, fmt.Errorf("catalog: duplicate tool %s", t.Name())
		}
		c.byName[t.Name()] = t
		c.tools = append(c.tools, t)
	}
	slices.SortFunc(c.tools, func(a, b *Tool) int { return strings.Compare(a.Name(), b.Name()) })
	return c, nil
}

// Lookup finds a tool by name.
func (c *Catalog) Lookup(name string) (*Tool, bool) {
	t, ok := c.byName[name]
	return t, ok
}

// Tools lists the catalog sorted by name.
func (c *Catalog) Tools() []*Tool { return slices.Clone(c.tools) }
