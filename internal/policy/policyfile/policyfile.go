// Package policyfile is the admin policy file format (infra/policy.yaml):
// YAML parsed strictly into a policy.Policy. Apart from internal/policy so
// that what reads the policy from its table (the mcp function) links no
// YAML.
package policyfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kitegate/kitegate/internal/policy"
)

// The admin policy file (infra/policy.yaml) in YAML. Tools, toolsets and
// profiles are lists so that every item carries its name and a duplicate is
// an error, not a silent overwrite.
type fileDoc struct {
	DefaultState policy.State  `yaml:"default_state"`
	Server       fileServer    `yaml:"server"`
	Tools        []fileTool    `yaml:"tools"`
	Toolsets     []fileToolset `yaml:"toolsets"`
	Profiles     []fileProfile `yaml:"profiles"`
}

type fileTool struct {
	Name  string       `yaml:"name"`
	State policy.State `yaml:"state"`
	Note  string       `yaml:"note"`
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

// Load reads and parses the policy file at path (see Parse).
func Load(path string) (policy.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return policy.Policy{}, fmt.Errorf("policy file: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return policy.Policy{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Parse parses the admin policy file format (YAML, see
// infra/policy.yaml) into a policy.Policy with Version 0. It is strict: unknown
// fields are rejected with their line, and every problem (bad name, state,
// duplicate, reserved or unknown toolset) is reported naming its item and
// line. policy.Tool states in the file may be pending_review, approved or disabled;
// removed and unavailable are set by reconciliation. The file gives only
// names, states and notes of tools: hash, class and scopes come from the
// catalog (Reconcile). A successfully parsed policy.Policy always passes
// NewSnapshot.
func Parse(data []byte) (policy.Policy, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc fileDoc
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return policy.Policy{}, errors.New("policy file is empty")
		}
		return policy.Policy{}, fmt.Errorf("policy file: %w", plainTypeErrors(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return policy.Policy{}, errors.New("policy file: holds more than one YAML document")
	}
	var root yaml.Node // the same document again, for line numbers
	if err := yaml.Unmarshal(data, &root); err != nil {
		return policy.Policy{}, fmt.Errorf("policy file: %w", err)
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

	p := policy.Policy{
		Tools:    make(map[string]policy.Tool, len(doc.Tools)),
		Toolsets: make(map[string]policy.Toolset, len(doc.Toolsets)),
		Profiles: make(map[string]policy.Profile, len(doc.Profiles)),
		Settings: policy.Settings{
			ServerDisabled: doc.Server.disabled,
			DisabledReason: doc.Server.reason,
			DefaultState:   doc.DefaultState,
		},
	}
	if p.Settings.DefaultState == "" {
		p.Settings.DefaultState = policy.StatePendingReview
	}
	if !policy.ValidDefaultState(p.Settings.DefaultState) {
		errs = append(errs, fmt.Errorf("default_state %q is not one of pending_review, approved, disabled", doc.DefaultState))
	}

	for i, t := range doc.Tools {
		switch {
		case t.Name == "":
			add("tools", i, "", "name is missing")
			continue
		case !policy.ValidToolName(t.Name):
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
		case t.State == policy.StateRemoved || t.State == policy.StateUnavailable:
			add("tools", i, t.Name, "state %q is set by reconciliation, not by the policy file (use pending_review, approved or disabled)", t.State)
		case !policy.ValidDefaultState(t.State):
			add("tools", i, t.Name, "state %q is not one of pending_review, approved, disabled", t.State)
		}
		p.Tools[t.Name] = policy.Tool{Name: t.Name, State: t.State, Note: t.Note}
	}

	for i, ts := range doc.Toolsets {
		switch {
		case ts.Name == "":
			add("toolsets", i, "", "name is missing")
			continue
		case ts.Name == policy.ToolsetAllApproved || ts.Name == policy.ToolsetReadOnly:
			add("toolsets", i, ts.Name, "the name is reserved for an automatic toolset")
			continue
		case !policy.ValidSetName(ts.Name):
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
			case !policy.ValidToolName(tool):
				add("toolsets", i, ts.Name, "tool name %q is not a valid tool name", tool)
			case seen[tool]:
				add("toolsets", i, ts.Name, "tool %q listed more than once", tool)
			}
			seen[tool] = true
		}
		p.Toolsets[ts.Name] = policy.Toolset{Name: ts.Name, Tools: ts.Tools}
	}

	for i, pr := range doc.Profiles {
		switch {
		case pr.Name == "":
			add("profiles", i, "", "name is missing")
			continue
		case !policy.ValidSetName(pr.Name):
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
			if !stored && ts != policy.ToolsetAllApproved && ts != policy.ToolsetReadOnly {
				add("profiles", i, pr.Name, "unknown toolset %q", ts)
			}
		}
		if len(pr.Users) == 0 && len(pr.Groups) == 0 {
			add("profiles", i, pr.Name, "binds nobody: give users, groups, or groups: [\"*\"] for every authenticated user")
		}
		for _, u := range pr.Users {
			switch {
			case u == policy.GroupEveryone:
				add("profiles", i, pr.Name, "user %q is not allowed; bind everyone with groups: [\"*\"]", u)
			case !policy.ValidSubjectEntry(u):
				add("profiles", i, pr.Name, "user %q must be a non-empty sub or email without spaces", u)
			}
		}
		for _, g := range pr.Groups {
			if !policy.ValidSubjectEntry(g) {
				add("profiles", i, pr.Name, "group %q must be non-empty and without spaces", g)
			}
		}
		if pr.CallsPerMinute < 0 {
			add("profiles", i, pr.Name, "calls_per_minute %d must not be negative", pr.CallsPerMinute)
		}
		p.Profiles[pr.Name] = policy.Profile{
			Name:           pr.Name,
			Toolsets:       pr.Toolsets,
			Users:          pr.Users,
			Groups:         pr.Groups,
			Disabled:       pr.Disabled,
			CallsPerMinute: pr.CallsPerMinute,
		}
	}

	if len(errs) > 0 {
		return policy.Policy{}, fmt.Errorf("policy file: %w", errors.Join(errs...))
	}
	// The file checks above are the friendly version of NewSnapshot's; this
	// keeps the promise that a parsed file always makes a snapshot.
	if _, err := policy.NewSnapshot(p); err != nil {
		return policy.Policy{}, fmt.Errorf("policy file: %w", err)
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
		"in type policyfile.fileDoc", "at the top level",
		"in type policyfile.fileTool", "in a tool",
		"in type policyfile.fileToolset", "in a toolset",
		"in type policyfile.fileProfile", "in a profile",
		"into []policyfile.fileTool", "into the tools list",
		"into []policyfile.fileToolset", "into the toolsets list",
		"into []policyfile.fileProfile", "into the profiles list",
		"into policyfile.fileDoc", "into the policy file (want a mapping)",
		"into policyfile.fileTool", "into a tool (want a mapping)",
		"into policyfile.fileToolset", "into a toolset (want a mapping)",
		"into policyfile.fileProfile", "into a profile (want a mapping)",
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
