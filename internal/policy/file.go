package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The admin policy file (infra/policy.yaml) in YAML. Tools, toolsets and
// profiles are lists so that every item carries its name and a duplicate is
// an error, not a silent overwrite.
type fileDoc struct {
	DefaultState State         `yaml:"default_state"`
	Server       fileServer    `yaml:"server"`
	Tools        []fileTool    `yaml:"tools"`
	Toolsets     []fileToolset `yaml:"toolsets"`
	Profiles     []fileProfile `yaml:"profiles"`
}

type fileTool struct {
	Name  string `yaml:"name"`
	State State  `yaml:"state"`
	Note  string `yaml:"note"`
}

type fileToolset struct {
	Name  string   `yaml:"name"`
	Tools []string `yaml:"tools"`
}

type fileProfile struct {
	Name           string   `yaml:"name"`
	Toolsets       []string `yaml:"toolsets"`
	Users          []string `yaml:"users"`
	Groups         []string `yaml:"groups"`
	Disabled       bool     `yaml:"disabled"`
	CallsPerMinute int      `yaml:"calls_per_minute"`
}

// fileServer is the kill switch, written either as a scalar
// (`server: enabled` / `server: disabled`) or as a mapping
// (`server: {state: disabled, reason: "..."}`).
type fileServer struct {
	set      bool
	disabled bool
	reason   string
}

func (s *fileServer) UnmarshalYAML(n *yaml.Node) error {
	s.set = true
	state := n
	switch n.Kind {
	case yaml.ScalarNode:
	case yaml.MappingNode:
		state = nil
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "state":
				state = v
			case "reason":
				if v.Kind != yaml.ScalarNode {
					return fmt.Errorf("line %d: server: reason must be a string", v.Line)
				}
				s.reason = v.Value
			default:
				return fmt.Errorf("line %d: server: unknown field %q (want state, reason)", k.Line, k.Value)
			}
		}
		if state == nil {
			return fmt.Errorf("line %d: server: state is missing (enabled or disabled)", n.Line)
		}
	default:
		return fmt.Errorf("line %d: server must be enabled, disabled, or a mapping with state and reason", n.Line)
	}
	switch {
	case state.Kind == yaml.ScalarNode && state.Value == "enabled":
	case state.Kind == yaml.ScalarNode && state.Value == "disabled":
		s.disabled = true
	default:
		return fmt.Errorf("line %d: server: state %q is not enabled or disabled", state.Line, state.Value)
	}
	if !s.disabled && s.reason != "" {
		return fmt.Errorf("line %d: server: a reason is only meaningful when the server is disabled", n.Line)
	}
	return nil
}

// LoadFile reads and parses the policy file at path (see ParseFile).
func LoadFile(path string) (Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, fmt.Errorf("policy file: %w", err)
	}
	p, err := ParseFile(data)
	if err != nil {
		return Policy{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParseFile parses the admin policy file format (YAML, see
// infra/policy.yaml) into a Policy with Version 0. It is strict: unknown
// fields are rejected with their line, and every problem (bad name, state,
// duplicate, reserved or unknown toolset) is reported naming its item and
// line. Tool states in the file may be pending_review, approved or disabled;
// removed and unavailable are set by reconciliation. The file gives only
// names, states and notes of tools: hash, class and scopes come from the
// catalog (Reconcile). A successfully parsed Policy always passes
// NewSnapshot.
func ParseFile(data []byte) (Policy, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc fileDoc
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Policy{}, errors.New("policy file is empty")
		}
		return Policy{}, fmt.Errorf("policy file: %w", plainTypeErrors(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Policy{}, errors.New("policy file: holds more than one YAML document")
	}
	var root yaml.Node // the same document again, for line numbers
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Policy{}, fmt.Errorf("policy file: %w", err)
	}
	lines := fileLines{root: &root}

	var errs []error
	add := func(section string, i int, name, format string, args ...any) {
		where := fmt.Sprintf("%s[%d]", section, i)
		if name != "" {
			where = fmt.Sprintf("%s %q", strings.TrimSuffix(section, "s"), name)
		}
		if l := lines.item(section, i); l > 0 {
			where = fmt.Sprintf("line %d: %s", l, where)
		}
		errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
	}

	p := Policy{
		Tools:    make(map[string]Tool, len(doc.Tools)),
		Toolsets: make(map[string]Toolset, len(doc.Toolsets)),
		Profiles: make(map[string]Profile, len(doc.Profiles)),
		Settings: Settings{
			ServerDisabled: doc.Server.disabled,
			DisabledReason: doc.Server.reason,
			DefaultState:   doc.DefaultState,
		},
	}
	if p.Settings.DefaultState == "" {
		p.Settings.DefaultState = StatePendingReview
	}
	if !validDefaultState(p.Settings.DefaultState) {
		errs = append(errs, fmt.Errorf("default_state %q is not one of pending_review, approved, disabled", doc.DefaultState))
	}

	for i, t := range doc.Tools {
		switch {
		case t.Name == "":
			add("tools", i, "", "name is missing")
			continue
		case !validToolName(t.Name):
			add("tools", i, t.Name, "name must be lower-case letters, digits and '_', starting with a letter")
			continue
		}
		if _, dup := p.Tools[t.Name]; dup {
			add("tools", i, t.Name, "listed more than once")
			continue
		}
		switch {
		case t.State == "":
			add("tools", i, t.Name, "state is missing (pending_review, approved or disabled)")
		case t.State == StateRemoved || t.State == StateUnavailable:
			add("tools", i, t.Name, "state %q is set by reconciliation, not by the policy file (use pending_review, approved or disabled)", t.State)
		case !validDefaultState(t.State):
			add("tools", i, t.Name, "state %q is not one of pending_review, approved, disabled", t.State)
		}
		p.Tools[t.Name] = Tool{Name: t.Name, State: t.State, Note: t.Note}
	}

	for i, ts := range doc.Toolsets {
		switch {
		case ts.Name == "":
			add("toolsets", i, "", "name is missing")
			continue
		case ts.Name == ToolsetAllApproved || ts.Name == ToolsetReadOnly:
			add("toolsets", i, ts.Name, "the name is reserved for an automatic toolset")
			continue
		case !validSetName(ts.Name):
			add("toolsets", i, ts.Name, "name must be lower-case letters, digits, '-' and '_', at most 64 bytes")
			continue
		}
		if _, dup := p.Toolsets[ts.Name]; dup {
			add("toolsets", i, ts.Name, "listed more than once")
			continue
		}
		seen := make(map[string]bool, len(ts.Tools))
		for _, tool := range ts.Tools {
			switch {
			case !validToolName(tool):
				add("toolsets", i, ts.Name, "tool name %q is not a valid tool name", tool)
			case seen[tool]:
				add("toolsets", i, ts.Name, "tool %q listed more than once", tool)
			}
			seen[tool] = true
		}
		p.Toolsets[ts.Name] = Toolset{Name: ts.Name, Tools: ts.Tools}
	}

	for i, pr := range doc.Profiles {
		switch {
		case pr.Name == "":
			add("profiles", i, "", "name is missing")
			continue
		case !validSetName(pr.Name):
			add("profiles", i, pr.Name, "name must be lower-case letters, digits, '-' and '_', at most 64 bytes")
			continue
		}
		if _, dup := p.Profiles[pr.Name]; dup {
			add("profiles", i, pr.Name, "listed more than once")
			continue
		}
		if len(pr.Toolsets) == 0 {
			add("profiles", i, pr.Name, "toolsets is empty, so the profile would grant nothing")
		}
		for _, ts := range pr.Toolsets {
			_, stored := p.Toolsets[ts]
			if !stored && ts != ToolsetAllApproved && ts != ToolsetReadOnly {
				add("profiles", i, pr.Name, "unknown toolset %q", ts)
			}
		}
		if len(pr.Users) == 0 && len(pr.Groups) == 0 {
			add("profiles", i, pr.Name, "binds nobody: give users, groups, or groups: [\"*\"] for every authenticated user")
		}
		for _, u := range pr.Users {
			switch {
			case u == GroupEveryone:
				add("profiles", i, pr.Name, "user %q is not allowed; bind everyone with groups: [\"*\"]", u)
			case !validSubjectEntry(u):
				add("profiles", i, pr.Name, "user %q must be a non-empty sub or email without spaces", u)
			}
		}
		for _, g := range pr.Groups {
			if !validSubjectEntry(g) {
				add("profiles", i, pr.Name, "group %q must be non-empty and without spaces", g)
			}
		}
		if pr.CallsPerMinute < 0 {
			add("profiles", i, pr.Name, "calls_per_minute %d must not be negative", pr.CallsPerMinute)
		}
		p.Profiles[pr.Name] = Profile{
			Name:           pr.Name,
			Toolsets:       pr.Toolsets,
			Users:          pr.Users,
			Groups:         pr.Groups,
			Disabled:       pr.Disabled,
			CallsPerMinute: pr.CallsPerMinute,
		}
	}

	if len(errs) > 0 {
		return Policy{}, fmt.Errorf("policy file: %w", errors.Join(errs...))
	}
	// The file checks above are the friendly version of NewSnapshot's; this
	// keeps the promise that a parsed file always makes a snapshot.
	if _, err := NewSnapshot(p); err != nil {
		return Policy{}, fmt.Errorf("policy file: %w", err)
	}
	return p, nil
}

// plainTypeErrors rewrites the Go type names in yaml's decoding errors
// into the words an admin reads in the file.
func plainTypeErrors(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	r := strings.NewReplacer(
		"in type policy.fileDoc", "at the top level",
		"in type policy.fileTool", "in a tool",
		"in type policy.fileToolset", "in a toolset",
		"in type policy.fileProfile", "in a profile",
		"into []policy.fileTool", "into the tools list",
		"into []policy.fileToolset", "into the toolsets list",
		"into []policy.fileProfile", "into the profiles list",
		"into policy.fileDoc", "into the policy file (want a mapping)",
		"into policy.fileTool", "into a tool (want a mapping)",
		"into policy.fileToolset", "into a toolset (want a mapping)",
		"into policy.fileProfile", "into a profile (want a mapping)",
		"into policy.State", "into a state",
	)
	out := &yaml.TypeError{Errors: make([]string, len(te.Errors))}
	for i, e := range te.Errors {
		out.Errors[i] = r.Replace(e)
	}
	return out
}

// fileLines finds the line of an item in a top-level list of the document.
type fileLines struct{ root *yaml.Node }

func (f fileLines) item(section string, i int) int {
	n := f.root
	if n == nil || n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
		return 0
	}
	n = n.Content[0]
	if n.Kind != yaml.MappingNode {
		return 0
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		if n.Content[k].Value == section {
			seq := n.Content[k+1]
			if seq.Kind == yaml.SequenceNode && i < len(seq.Content) {
				return seq.Content[i].Line
			}
			return 0
		}
	}
	return 0
}
