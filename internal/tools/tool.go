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
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
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
	call  func(ctx context.Context, b *built, args Arguments) (any, error)
}

// built is what Define infers from a tool's types.
type built struct {
	def *mcp.Tool
	// output is the result's schema (nil for an any result): results are
	// normalized to it and validated against it in the tests, and it is
	// part of the hash, but it is not announced (see Definition).
	output     *jsonschema.Schema
	outputJSON json.RawMessage
	hash       string
	props      map[string]argument
	required   []string
}

// commonArguments are checked and announced alike in every tool that takes
// them, so a hostile path segment ("../", "%2F", "a/b") is refused before
// any handler or Buildkite call sees it. The patterns are compiled once for
// the whole catalog and checked by decode itself; they are not announced
// (the model learns nothing from them that the description does not say,
// and every tool list would carry them).
var commonArguments = map[string]commonArgument{
	"org_slug":         {pattern: slugPattern, boilerplate: restating(`the organization slug, e\.g\. acme`)},
	"pipeline_slug":    {pattern: slugPattern, boilerplate: restating(`the pipeline slug, e\.g\. web-app`)},
	"test_suite_slug":  {pattern: slugPattern, boilerplate: restating(`the Test Engine suite slug, e\.g\. web-app-rspec`)},
	"build_number":     {pattern: regexp.MustCompile(`^[1-9][0-9]{0,9}$`), integer: true, boilerplate: restating(`the build number, e\.g\. "42"`)},
	"job_id":           {pattern: uuidPattern, boilerplate: restating(`the job's UUID( \(list_jobs or get_build with include_jobs gives it\))?`)},
	"source_job_id":    {pattern: uuidPattern},
	"build_uuid":       {pattern: uuidPattern},
	"cluster_id":       {pattern: uuidPattern, boilerplate: restating(`the cluster's UUID \(list_clusters gives it\)`)},
	"default_queue_id": {pattern: uuidPattern},
	"queue_id":         {pattern: uuidPattern, boilerplate: restating(`the queue's UUID \(list_cluster_queues gives it\)`)},
	"agent_id":         {pattern: uuidPattern, boilerplate: restating(`the agent's UUID`)},
	"schedule_id":      {pattern: uuidPattern, boilerplate: restating(`the schedule's UUID \(list_pipeline_schedules gives it\)`)},
	"artifact_id":      {pattern: uuidPattern, boilerplate: restating(`the artifact's UUID`)},
	"upload_uuid":      {pattern: uuidPattern},
	"test_id":          {pattern: uuidPattern, boilerplate: restating(`the test's UUID`)},
	"run_id":           {pattern: uuidPattern, boilerplate: restating(`the run's UUID \(list_test_runs or get_build_test_engine_runs gives it\)`)},
	"page":             {boilerplate: restating(`page number, from 1 \(default 1\); use next_page from the previous answer`)},
	"per_page":         {boilerplate: restating(`[a-z]+ per page, 1 to 100 \(default (30|100)\)`)},
	"after":            {boilerplate: restating(`cursor: (return )?the page after this one \(next_cursor of the previous answer\)`)},
	"before":           {boilerplate: restating(`cursor: (return )?the page before this one \(prev_cursor of the previous answer\)`)},
}

// commonArgument is how an argument name is treated in every tool.
type commonArgument struct {
	pattern *regexp.Regexp // a string value must match it
	// integer: a JSON integer is accepted too and decoded as its decimal
	// string. Outputs give ids such as a build's number as integers, and a
	// model copies what it read; the schema says so with anyOf (a type
	// array is what strict clients refuse).
	integer bool
	// A description matching boilerplate only restates the argument's name
	// or what the tool descriptions say once (where an id comes from, how
	// pages go on): it is not announced, which keeps the tool list, paid
	// for in every conversation, short. A description that says more
	// (optional, what leaving it out does) is kept.
	// It is compiled on a tool's first use, not at cold start.
	boilerplate func() *regexp.Regexp
}

func restating(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?:` + expr + `)$`) })
}

func (c commonArgument) restates(description string) bool {
	return c.boilerplate != nil && c.boilerplate().MatchString(description)
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
	integer bool           // a JSON integer is accepted as its decimal string
}

// Define builds a Tool whose arguments decode into In and whose result is an
// Out. The input schema is inferred from In once, here; Call validates
// against it on every call. Unless Out is an interface type (any), the
// output schema is inferred from Out and announced, and results carry
// structured content that conforms to it.
func Define[In, Out any](spec Spec, fn func(ctx context.Context, in In) (Out, error)) (*Tool, error) {
	return define(spec, reflect.TypeFor[In](), reflect.TypeFor[Out](), func(ctx context.Context, b *built, args Arguments) (any, error) {
		var in In
		if err := b.decode(spec.Name, args, &in); err != nil {
			return nil, err
		}
		return fn(ctx, in)
	})
}

// define is Define's part that does not depend on the tool's types, so
// the binary holds one copy of it rather than one per pair of types.
func define(spec Spec, in, out reflect.Type, call func(ctx context.Context, b *built, args Arguments) (any, error)) (*Tool, error) {
	if spec.Name == "" || spec.Description == "" {
		return nil, errors.New("define tool: name and description are required")
	}
	switch spec.Kind {
	case Read, Sensitive, Write, Destructive:
	default:
		return nil, fmt.Errorf("define tool %s: unknown kind %q", spec.Name, spec.Kind)
	}
	t := &Tool{spec: spec, call: call}
	t.build = func() (*built, error) { return buildTool(spec, in, out) }
	return t, nil
}

func buildTool(spec Spec, in, out reflect.Type) (*built, error) {
	schema, err := jsonschema.ForType(in, argumentSchemaOptions)
	if err != nil {
		return nil, fmt.Errorf("define tool %s: input schema: %w", spec.Name, err)
	}
	if schema.Type != "object" {
		return nil, fmt.Errorf("define tool %s: arguments must be a struct", spec.Name)
	}
	if schema.Properties == nil {
		schema.Properties = map[string]*jsonschema.Schema{}
	}
	// Unknown arguments are refused by decode, naming them; the schema does
	// not say additionalProperties false (a boolean schema, and bytes in
	// every tool list).
	t := &built{props: make(map[string]argument, len(schema.Properties)), required: slices.Clone(schema.Required)}
	for name, ps := range schema.Properties {
		common, isCommon := commonArguments[name]
		if isCommon && common.pattern != nil && stringSchema(ps) && ps.MaxLength == nil {
			ps.MaxLength = jsonschema.Ptr(100)
		}
		r, err := ps.Resolve(nil)
		if err != nil {
			return nil, fmt.Errorf("define tool %s: argument %s: %w", spec.Name, name, err)
		}
		arg := argument{schema: r}
		announced := *ps
		if isCommon && common.restates(announced.Description) {
			announced.Description = ""
		}
		if isCommon && stringSchema(ps) {
			arg.pattern, arg.integer = common.pattern, common.integer
			announced.MaxLength = nil
			if common.integer {
				announced.Type = ""
				announced.AnyOf = []*jsonschema.Schema{{Type: "integer"}, {Type: "string"}}
			}
		}
		schema.Properties[name] = &announced
		t.props[name] = arg
	}
	portable(schema)
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
	if out.Kind() != reflect.Interface {
		os, err := jsonschema.ForType(out, outputSchemaOptions)
		if err != nil {
			return nil, fmt.Errorf("define tool %s: output schema: %w", spec.Name, err)
		}
		if os.Type != "object" {
			return nil, fmt.Errorf("define tool %s: output must be a struct or map (structured content is an object)", spec.Name)
		}
		portable(os)
		t.output = os
		if t.outputJSON, err = encodeSchema(os); err != nil {
			return nil, fmt.Errorf("define tool %s: %w", spec.Name, err)
		}
	}
	t.hash = definitionHash(spec, t.def, t.outputJSON)
	return t, nil
}

// portable rewrites an inferred schema, in place, into the form every MCP
// client accepts (shared/client-interop.md): no boolean schema anywhere (Go's
// any becomes a free-form object: the TypeScript SDK refuses a tools/list
// holding a bare true), no type array (strict clients map schemas onto a
// single-type dialect), no additionalProperties (false is a boolean schema;
// true is the default). A value Go could encode as null is one a result
// leaves out instead (normalize), so it is no longer required; an array is
// given as [] rather than left out, so it stays required.
func portable(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if reflect.ValueOf(*s).IsZero() {
		s.Type = "object"
		return
	}
	nullable := func(p *jsonschema.Schema) bool { return slices.Contains(p.Types, "null") }
	if s.Types != nil {
		types := slices.DeleteFunc(slices.Clone(s.Types), func(t string) bool { return t == "null" })
		s.Types = nil
		if len(types) == 1 {
			s.Type = types[0]
		} else {
			// One anyOf branch per type, each with the keywords that
			// apply to it.
			var branches []*jsonschema.Schema
			for _, t := range types {
				b := *s
				b.Type, b.Description, b.AnyOf = t, "", nil
				if t != "array" {
					b.Items, b.MinItems, b.MaxItems = nil, nil, nil
				}
				if t != "object" {
					b.Properties, b.AdditionalProperties, b.Required = nil, nil, nil
				}
				if t != "string" {
					b.Pattern, b.MinLength, b.MaxLength = "", nil, nil
				}
				branches = append(branches, &b)
			}
			*s = jsonschema.Schema{Description: s.Description, AnyOf: branches}
		}
	}
	s.AdditionalProperties = freeForm(s.AdditionalProperties)
	for name, p := range s.Properties {
		if nullable(p) && !slices.Contains(p.Types, "array") {
			s.Required = slices.DeleteFunc(s.Required, func(r string) bool { return r == name })
		}
		portable(p)
	}
	if len(s.Required) == 0 {
		s.Required = nil
	}
	portable(s.Items)
	for _, sub := range s.AnyOf {
		portable(sub)
	}
}

// freeForm drops an additionalProperties that is a boolean schema (true,
// the default, or false, which decode and the output types enforce
// anyway) and makes any other portable.
func freeForm(s *jsonschema.Schema) *jsonschema.Schema {
	if s == nil || reflect.ValueOf(*s).IsZero() || s.Not != nil && reflect.ValueOf(*s.Not).IsZero() {
		return nil
	}
	portable(s)
	return s
}

// stringSchema reports whether s is a string, or a string or null (a
// pointer argument, which can be left as is).
func stringSchema(s *jsonschema.Schema) bool {
	return s.Type == "string" || slices.Equal(s.Types, []string{"null", "string"})
}

func encodeSchema(s *jsonschema.Schema) (json.RawMessage, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return b, nil
}

// annotations says only what differs from the MCP defaults (not read-only,
// destructive, not idempotent, open world), and no title: the tool's own
// title is beside it. Hints that only matter for tools that write
// (destructive, idempotent) are left out of read-only ones.
func annotations(spec Spec) *mcp.ToolAnnotations {
	a := &mcp.ToolAnnotations{}
	switch spec.Kind {
	case Read, Sensitive:
		a.ReadOnlyHint = true
	case Write:
		no := false
		a.DestructiveHint = &no
	}
	if spec.Local {
		closed := false
		a.OpenWorldHint = &closed
	}
	if *a == (mcp.ToolAnnotations{}) {
		return nil
	}
	return a
}

// definitionHash is a digest of everything a reviewer approves: what the
// model is told, what it may send, what the tool may do and need.
// Each part is written length-prefixed, so no two definitions hash alike by
// moving text from one part to the next.
func definitionHash(spec Spec, def *mcp.Tool, output json.RawMessage) string {
	h := sha256.New()
	part := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	annotations, _ := json.Marshal(def.Annotations) // a plain struct: cannot fail
	for _, p := range [][]byte{[]byte(def.Name), []byte(def.Title), []byte(def.Description),
		def.InputSchema.(json.RawMessage), output, annotations, []byte(spec.Kind), []byte(strings.Join(spec.Scopes, " "))} {
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

// Definition is the MCP tool definition as tools/list announces it, shared:
// callers must not modify it. It is nil for a tool that is not Ready.
//
// It carries no output schema. Every conversation pays for the tool list in
// its context window, the output schemas were the largest part of it, and
// a model reads a result's fields from the result itself (and from the
// description); the structured content is the same either way. The schema
// is still inferred, reviewed (it is in the hash and the tool snapshots),
// and every result is normalized to it: see OutputSchema.
func (t *Tool) Definition() *mcp.Tool {
	if t.Ready() != nil {
		return nil
	}
	return t.b.def
}

// OutputSchema is the JSON Schema every result's structured content
// conforms to, nil for a tool whose result is untyped or that is not Ready.
func (t *Tool) OutputSchema() json.RawMessage {
	if t.Ready() != nil {
		return nil
	}
	return t.b.outputJSON
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

// Error names the argument and the reason, each capped: the caller chose
// the argument's name, and a reason may quote what the caller sent.
func (e *ArgumentError) Error() string {
	if e.Argument == "" {
		return "invalid arguments: " + truncate(e.Reason, 300)
	}
	return fmt.Sprintf("invalid argument %q: %s", truncate(e.Argument, 64), truncate(e.Reason, 300))
}

// Arguments are one call's arguments, read once (ReadArguments): the MCP
// server's guard takes the organization from them for the rate limit, the
// audit their names and values, and Call validates them and decodes the
// tool's typed input, none of them reading the JSON again.
type Arguments struct {
	raw   json.RawMessage
	value any   // raw decoded; nil for none (absent or null)
	err   error // raw is not JSON
}

// ReadArguments reads the JSON arguments of a call (empty for none).
func ReadArguments(raw json.RawMessage) Arguments {
	a := Arguments{raw: raw}
	if len(raw) > 0 {
		a.err = json.Unmarshal(raw, &a.value)
	}
	return a
}

// Raw is the arguments as the caller sent them.
func (a Arguments) Raw() json.RawMessage { return a.raw }

// Value is the arguments decoded (a map[string]any for an object, nil for
// none), or the error that they are not JSON. It is shared: callers must
// not modify it.
func (a Arguments) Value() (any, error) { return a.value, a.err }

// String is the named argument when it is a string, "" otherwise.
func (a Arguments) String(name string) string {
	m, _ := a.value.(map[string]any)
	s, _ := m[name].(string)
	return s
}

// decode validates the arguments argument by argument, so the error names
// the argument at fault, then decodes them into in.
func (t *built) decode(tool string, a Arguments, in any) error {
	args, isObject := a.value.(map[string]any)
	if a.err != nil || a.value != nil && !isObject {
		return &ArgumentError{Reason: "arguments must be a JSON object"}
	}
	for _, name := range t.required {
		if _, ok := args[name]; !ok {
			return &ArgumentError{Argument: name, Reason: "is required"}
		}
	}
	var asStrings map[string]string // integers given for string ids
	for _, name := range sortedKeys(args) {
		arg, ok := t.props[name]
		if !ok {
			return &ArgumentError{Argument: name, Reason: "is not an argument of " + tool}
		}
		v := args[name] // args is shared (see Arguments): never written
		if n, ok := v.(float64); ok && arg.integer {
			if n != math.Trunc(n) || n < 0 || n > 1e15 {
				return &ArgumentError{Argument: name, Reason: fmt.Sprintf("%v is not a whole number", n)}
			}
			if asStrings == nil {
				asStrings = map[string]string{}
			}
			asStrings[name] = strconv.FormatInt(int64(n), 10)
			v = asStrings[name]
		}
		if err := arg.schema.Validate(v); err != nil {
			return &ArgumentError{Argument: name, Reason: validationReason(err)}
		}
		if s, ok := v.(string); ok && arg.pattern != nil && !arg.pattern.MatchString(s) {
			return &ArgumentError{Argument: name, Reason: fmt.Sprintf("%q does not match %s", truncate(s, 64), arg.pattern)}
		}
	}
	if len(args) == 0 {
		return nil
	}
	raw := a.raw
	if len(asStrings) > 0 {
		var err error
		if raw, err = quoteMembers(raw, asStrings); err != nil {
			return &ArgumentError{Reason: err.Error()}
		}
	}
	// The typed input is decoded from the bytes, once: encoding/json has no
	// decoder from the map just validated.
	if err := json.Unmarshal(raw, in); err != nil {
		return decodeError(err)
	}
	return nil
}

// decodeError says which argument could not be decoded, in JSON's terms:
// encoding/json's own message names Go types and struct fields.
func decodeError(err error) *ArgumentError {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return &ArgumentError{Reason: "the arguments could not be read"}
	}
	want := "a value of another type"
	switch te.Type.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "a whole number in range"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "true or false"
	case reflect.Slice, reflect.Array:
		want = "an array"
	case reflect.Map, reflect.Struct:
		want = "an object"
	}
	return &ArgumentError{Argument: te.Field, Reason: "must be " + want}
}

// quoteMembers replaces the named members of the JSON object raw by the
// strings given, leaving every other member as it was written.
func quoteMembers(raw json.RawMessage, strs map[string]string) (json.RawMessage, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, err
	}
	for name, v := range strs {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		members[name] = b
	}
	return json.Marshal(members)
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
func (t *Tool) Call(ctx context.Context, args Arguments) (*mcp.CallToolResult, error) {
	if err := t.Ready(); err != nil {
		return errorResult(err), err
	}
	out, err := t.call(ctx, t.b, args)
	if err != nil {
		return errorResult(err), err
	}
	res, err := result(out, t.b.output)
	if err != nil {
		return errorResult(err), err
	}
	return res, nil
}

// result renders a handler's output, sanitized, as a JSON text block and,
// when it is a JSON object, as structured content too. For a tool whose
// results conform to schema (nil: none), a null the Go encoding produced is
// left out, or given as [] where schema says array, since portable schemas
// have no null type.
func result(out any, schema *jsonschema.Schema) (*mcp.CallToolResult, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // sanitize works on literal text; < > & are data
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if schema != nil && bytes.Contains(b, []byte("null")) {
		var norm bytes.Buffer
		if err := normalize(&norm, b, schema); err != nil {
			return nil, fmt.Errorf("normalize result: %w", err)
		}
		b = norm.Bytes()
	}
	b = sanitize(b)
	res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}
	if v := reflect.ValueOf(out); v.IsValid() && isObject(v) {
		res.StructuredContent = json.RawMessage(b)
	}
	return res, nil
}

// normalize copies the JSON value raw to w, member order and bytes kept,
// except that an object member whose value is null is left out, or written
// as [] when s says it is an array.
func normalize(w *bytes.Buffer, raw json.RawMessage, s *jsonschema.Schema) error {
	if len(raw) == 0 || raw[0] != '{' && raw[0] != '[' {
		w.Write(raw)
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	open, _ := dec.Token() // raw is valid JSON: it was just encoded
	isObject := open == json.Delim('{')
	w.WriteByte(raw[0])
	first := true
	for dec.More() {
		var key string
		sub := (*jsonschema.Schema)(nil)
		if isObject {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ = tok.(string)
			if s != nil {
				sub = s.Properties[key]
				if sub == nil {
					sub = s.AdditionalProperties
				}
			}
		} else if s != nil {
			sub = s.Items
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if isObject && string(v) == "null" {
			if sub == nil || sub.Type != "array" {
				continue
			}
			v = json.RawMessage("[]")
		}
		if !first {
			w.WriteByte(',')
		}
		first = false
		if isObject {
			// Keys as the result was encoded: no HTML escaping, so that
			// sanitize sees the literal text.
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(key); err != nil {
				return err
			}
			w.Truncate(w.Len() - 1) // Encode's newline
			w.WriteByte(':')
		}
		if err := normalize(w, v, sub); err != nil {
			return err
		}
	}
	w.WriteByte(raw[len(raw)-1])
	return nil
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
