package policyfile

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/policy"
)

func TestParseFileInfraPolicy(t *testing.T) {
	got, err := Load("../../../infra/policy.yaml")
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	approved := []string{
		"current_user", "user_token_organization", "access_token", "list_pipelines", "get_pipeline",
		"list_builds", "get_build", "list_jobs", "get_job", "tail_logs", "read_logs", "search_logs",
		"get_build_test_engine_runs", "wait_for_build", "list_step_uploads", "get_step_upload", "get_build_failure_summary",
		"list_annotations", "list_artifacts_for_build", "list_artifacts_for_job", "get_artifact",
		"list_pipeline_schedules", "get_pipeline_schedule", "list_clusters", "get_cluster", "list_cluster_queues",
		"get_cluster_queue", "list_agents", "get_agent",
		"list_tests", "get_test", "list_tests_for_build", "list_test_runs", "get_test_run", "get_failed_executions",
		"list_skills", "load_skill",
	}
	tools := map[string]policy.Tool{
		"create_build": {Name: "create_build", State: policy.StatePendingReview, Note: "Starts builds with the shared token; review before approving."},
		"get_job_env":  {Name: "get_job_env", State: policy.StatePendingReview, Note: "Returns the job's environment, secrets included; approve only for a narrow profile."},
	}
	for _, name := range approved {
		tools[name] = policy.Tool{Name: name, State: policy.StateApproved}
	}
	tools["access_token"] = policy.Tool{Name: "access_token", State: policy.StateApproved, Note: "Shows the token's scopes and expiry, never the token itself."}
	want := policy.Policy{
		Tools: tools,
		Toolsets: map[string]policy.Toolset{
			"build-operations": {Name: "build-operations", Tools: []string{"create_build", "cancel_build", "rebuild_build", "retry_job", "unblock_job"}},
		},
		Profiles: map[string]policy.Profile{
			"everyone-read-only": {Name: "everyone-read-only", Toolsets: []string{policy.ToolsetReadOnly}, Groups: []string{"engineering", policy.GroupEveryone}},
			"builds-operator":    {Name: "builds-operator", Toolsets: []string{policy.ToolsetReadOnly, "build-operations"}, Groups: []string{"platform-oncall"}, CallsPerMinute: 30},
		},
		Settings: policy.Settings{DefaultState: policy.StatePendingReview},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("infra/policy.yaml mismatch (-want +got):\n%s", diff)
	}
}

func TestParseFile(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want policy.Policy
	}{
		{
			name: "minimal",
			in:   "tools: []\n",
			want: policy.Policy{Tools: map[string]policy.Tool{}, Toolsets: map[string]policy.Toolset{}, Profiles: map[string]policy.Profile{}, Settings: policy.Settings{DefaultState: policy.StatePendingReview}},
		},
		{
			name: "server disabled with a reason",
			in: `default_state: approved
server:
  state: disabled
  reason: incident 42
`,
			want: policy.Policy{Tools: map[string]policy.Tool{}, Toolsets: map[string]policy.Toolset{}, Profiles: map[string]policy.Profile{},
				Settings: policy.Settings{ServerDisabled: true, DisabledReason: "incident 42", DefaultState: policy.StateApproved}},
		},
		{
			name: "server disabled, short form",
			in:   "server: disabled\n",
			want: policy.Policy{Tools: map[string]policy.Tool{}, Toolsets: map[string]policy.Toolset{}, Profiles: map[string]policy.Profile{},
				Settings: policy.Settings{ServerDisabled: true, DefaultState: policy.StatePendingReview}},
		},
		{
			name: "users and a disabled profile",
			in: `tools:
  - {name: get_build, state: disabled}
profiles:
  - name: admins
    toolsets: [all-approved]
    users: [sub-1, Root@Example.com]
    disabled: true
`,
			want: policy.Policy{
				Tools:    map[string]policy.Tool{"get_build": {Name: "get_build", State: policy.StateDisabled}},
				Toolsets: map[string]policy.Toolset{},
				Profiles: map[string]policy.Profile{"admins": {Name: "admins", Toolsets: []string{policy.ToolsetAllApproved}, Users: []string{"sub-1", "Root@Example.com"}, Disabled: true}},
				Settings: policy.Settings{DefaultState: policy.StatePendingReview},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseFile mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // each must appear in the error
	}{
		{"empty", "", []string{"empty"}},
		{"unknown top-level field", "default_state: approved\nservr: enabled\n", []string{"line 2", "servr"}},
		{"unknown tool field", "tools:\n  - name: get_build\n    state: approved\n    clas: read\n", []string{"line 4", "clas"}},
		{"unknown profile field", "profiles:\n  - name: p\n    toolset: [read-only]\n", []string{"line 3", "toolset"}},
		{"bad state", "tools:\n  - name: get_build\n    state: aproved\n", []string{"line 2", `tool "get_build"`, `"aproved"`}},
		{"system state", "tools:\n  - name: get_build\n    state: removed\n", []string{`tool "get_build"`, "set by reconciliation"}},
		{"missing state", "tools:\n  - name: get_build\n", []string{`tool "get_build"`, "state is missing"}},
		{"bad default state", "default_state: unavailable\n", []string{`default_state "unavailable"`}},
		{"bad server", "server: off\n", []string{"line 1", `"off"`}},
		{"bad server field", "server:\n  state: disabled\n  why: x\n", []string{"line 3", `"why"`}},
		{"reason while enabled", "server:\n  state: enabled\n  reason: x\n", []string{"only meaningful"}},
		{"bad tool name", "tools:\n  - name: Get-Build\n    state: approved\n", []string{`tool "Get-Build"`, "name must be"}},
		{"missing tool name", "tools:\n  - state: approved\n", []string{"line 2", "tools[0]", "name is missing"}},
		{"duplicate tool", "tools:\n  - {name: get_build, state: approved}\n  - {name: get_build, state: disabled}\n",
			[]string{"line 3", `tool "get_build"`, "more than once"}},
		{"duplicate toolset", "toolsets:\n  - {name: ops, tools: [retry_job]}\n  - {name: ops}\n",
			[]string{"line 3", `toolset "ops"`, "more than once"}},
		{"duplicate tool in a toolset", "toolsets:\n  - {name: ops, tools: [retry_job, retry_job]}\n",
			[]string{`toolset "ops"`, `tool "retry_job" listed more than once`}},
		{"duplicate profile", "profiles:\n  - {name: p, toolsets: [read-only], groups: [a]}\n  - {name: p, toolsets: [read-only], groups: [b]}\n",
			[]string{"line 3", `profile "p"`, "more than once"}},
		{"reserved toolset all-approved", "toolsets:\n  - {name: all-approved, tools: [get_build]}\n", []string{`toolset "all-approved"`, "reserved"}},
		{"reserved toolset read-only", "toolsets:\n  - {name: read-only}\n", []string{`toolset "read-only"`, "reserved"}},
		{"unknown toolset in a profile", "profiles:\n  - {name: p, toolsets: [nope], groups: [a]}\n", []string{`profile "p"`, `unknown toolset "nope"`}},
		{"profile binds nobody", "profiles:\n  - {name: p, toolsets: [read-only]}\n", []string{`profile "p"`, "binds nobody"}},
		{"profile grants nothing", "profiles:\n  - {name: p, groups: [a]}\n", []string{`profile "p"`, "toolsets is empty"}},
		{"star as a user", "profiles:\n  - {name: p, toolsets: [read-only], users: [\"*\"]}\n", []string{`profile "p"`, "groups: [\"*\"]"}},
		{"negative limit", "profiles:\n  - {name: p, toolsets: [read-only], groups: [a], calls_per_minute: -5}\n", []string{`profile "p"`, "-5"}},
		{"wrong type", "profiles:\n  - {name: p, toolsets: [read-only], groups: [a], calls_per_minute: lots}\n", []string{"line 2", "lots"}},
		{"duplicate key", "default_state: approved\ndefault_state: disabled\n", []string{"line 2", "already defined"}},
		{"two documents", "tools: []\n---\ntools: []\n", []string{"more than one"}},
		{"not a mapping", "- a\n- b\n", []string{"line 1"}},
		{"every problem is reported", "tools:\n  - {name: a, state: x}\n  - {name: b, state: y}\n", []string{`tool "a"`, `tool "b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseFile succeeded, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadFileMissing(t *testing.T) {
	if _, err := Load(t.TempDir() + "/nope.yaml"); err == nil {
		t.Fatal("LoadFile of a missing file succeeded")
	}
}

func FuzzParseFile(f *testing.F) {
	if data, err := os.ReadFile("../../../infra/policy.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("server:\n  state: disabled\n  reason: x\n"))
	f.Add([]byte("tools:\n  - {name: a, state: approved}\nprofiles:\n  - {name: p, toolsets: [all-approved], users: [A@B.c], groups: ['*']}\n"))
	f.Add([]byte("toolsets:\n  - &x {name: a}\n  - *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		// A parsed file always makes a snapshot, and Decide holds on it.
		s, err := policy.NewSnapshot(p)
		if err != nil {
			t.Fatalf("ParseFile accepted a policy policy.NewSnapshot rejects: %v", err)
		}
		for name := range p.Tools {
			d := s.Decide(policy.Subject{ID: "x", Email: "x@example.com", Groups: []string{"g"}}, name)
			if d.Allowed && p.Tools[name].State != policy.StateApproved {
				t.Fatalf("tool %q in state %q allowed", name, p.Tools[name].State)
			}
		}
	})
}
