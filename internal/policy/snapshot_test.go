package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// samplePolicy has one tool in every state, a read and a write tool
// approved, and profiles bound in every way a subject can match.
func samplePolicy() Policy {
	return Policy{
		Version: 7,
		Tools: map[string]Tool{
			"get_build":     {Name: "get_build", Class: ClassRead, State: StateApproved},
			"list_builds":   {Name: "list_builds", Class: ClassRead, State: StateApproved},
			"create_build":  {Name: "create_build", Class: ClassWrite, State: StateApproved},
			"cancel_build":  {Name: "cancel_build", Class: ClassDestructive, State: StateApproved},
			"no_class":      {Name: "no_class", State: StateApproved},
			"get_job_env":   {Name: "get_job_env", Class: ClassRead, State: StatePendingReview},
			"list_agents":   {Name: "list_agents", Class: ClassRead, State: StateDisabled},
			"old_tool":      {Name: "old_tool", Class: ClassRead, State: StateRemoved},
			"list_clusters": {Name: "list_clusters", Class: ClassRead, State: StateUnavailable},
		},
		Toolsets: map[string]Toolset{
			"builds": {Name: "builds", Tools: []string{"create_build", "cancel_build", "get_job_env", "list_agents", "old_tool", "list_clusters", "not_a_tool"}},
			"empty":  {Name: "empty"},
		},
		Profiles: map[string]Profile{
			"everyone":  {Name: "everyone", Toolsets: []string{ToolsetReadOnly}, Groups: []string{GroupEveryone}},
			"readers":   {Name: "readers", Toolsets: []string{ToolsetReadOnly}, Groups: []string{"engineering"}},
			"operators": {Name: "operators", Toolsets: []string{ToolsetReadOnly, "builds"}, Groups: []string{"oncall"}, CallsPerMinute: 30},
			"admins":    {Name: "admins", Toolsets: []string{ToolsetAllApproved}, Users: []string{"sub-admin", "Root@Example.com"}},
			"frozen":    {Name: "frozen", Toolsets: []string{ToolsetAllApproved}, Groups: []string{"frozen"}, Users: []string{"sub-frozen"}, Disabled: true},
			"nothing":   {Name: "nothing", Toolsets: []string{"empty"}, Groups: []string{"nothing"}},
		},
	}
}

func mustSnapshot(t testing.TB, p Policy) *Snapshot {
	t.Helper()
	s, err := NewSnapshot(p)
	if err != nil {
		t.Fatalf("NewSnapshot: %v", err)
	}
	return s
}

func TestDecide(t *testing.T) {
	sample := mustSnapshot(t, samplePolicy())
	disabled := samplePolicy()
	disabled.Settings = Settings{ServerDisabled: true, DisabledReason: "incident 42"}
	serverOff := mustSnapshot(t, disabled)
	noEveryone := samplePolicy()
	delete(noEveryone.Profiles, "everyone")
	narrow := mustSnapshot(t, noEveryone)

	anon := Subject{} // unauthenticated: no sub
	oncall := Subject{ID: "sub-1", Groups: []string{"oncall"}}
	admin := Subject{ID: "sub-admin"}

	tests := []struct {
		name string
		s    *Snapshot
		sub  Subject
		tool string
		want Decision
	}{
		{"nil snapshot denies", nil, admin, "get_build", Decision{Reason: ReasonPolicyUnavailable}},
		{"server disabled wins over an admin", serverOff, admin, "get_build", Decision{Reason: ReasonServerDisabled}},
		{"server disabled wins over an unknown tool", serverOff, admin, "nope", Decision{Reason: ReasonServerDisabled}},
		{"unknown tool", sample, admin, "nope", Decision{Reason: ReasonToolUnknown}},
		{"empty tool name", sample, admin, "", Decision{Reason: ReasonToolUnknown}},
		{"tool name differs in case", sample, admin, "Get_Build", Decision{Reason: ReasonToolUnknown}},
		{"pending review even for an admin", sample, admin, "get_job_env", Decision{Reason: ReasonToolPendingReview}},
		{"disabled tool", sample, admin, "list_agents", Decision{Reason: ReasonToolDisabled}},
		{"removed tool", sample, admin, "old_tool", Decision{Reason: ReasonToolRemoved}},
		{"unavailable tool", sample, admin, "list_clusters", Decision{Reason: ReasonToolUnavailable}},
		{"tool state checked before membership", sample, anon, "get_job_env", Decision{Reason: ReasonToolPendingReview}},

		{"no sub, no profile", sample, anon, "get_build", Decision{Reason: ReasonNoProfile}},
		{"everyone needs a sub: email alone is not enough", sample, Subject{Email: "x@example.com"}, "get_build", Decision{Reason: ReasonNoProfile}},
		{"unmatched subject without everyone", narrow, Subject{ID: "sub-9", Groups: []string{"sales"}}, "get_build", Decision{Reason: ReasonNoProfile}},
		{"only a disabled profile", narrow, Subject{ID: "sub-9", Groups: []string{"frozen"}}, "get_build",
			Decision{Reason: ReasonProfileDisabled, Profiles: []string{"frozen"}}},
		{"disabled profile by sub", narrow, Subject{ID: "sub-frozen"}, "create_build",
			Decision{Reason: ReasonProfileDisabled, Profiles: []string{"frozen"}}},
		{"disabled profile does not grant beside an enabled one", sample, Subject{ID: "sub-9", Groups: []string{"frozen"}}, "create_build",
			Decision{Reason: ReasonNotInToolset, Profiles: []string{"everyone"}}},

		{"everyone (*) grants read-only", sample, Subject{ID: "sub-9"}, "get_build",
			Decision{Allowed: true, Reason: ReasonAllowed, Profiles: []string{"everyone"}}},
		{"everyone (*) does not grant write", sample, Subject{ID: "sub-9"}, "create_build",
			Decision{Reason: ReasonNotInToolset, Profiles: []string{"everyone"}}},
		{"read-only excludes tools without class", sample, Subject{ID: "sub-9"}, "no_class",
			Decision{Reason: ReasonNotInToolset, Profiles: []string{"everyone"}}},
		{"group match", narrow, Subject{ID: "sub-9", Groups: []string{"engineering"}}, "list_builds",
			Decision{Allowed: true, Reason: ReasonAllowed, Profiles: []string{"readers"}}},
		{"group match is exact", narrow, Subject{ID: "sub-9", Groups: []string{"Engineering"}}, "list_builds",
			Decision{Reason: ReasonNoProfile}},
		{"group grants through a stored toolset", sample, oncall, "cancel_build",
			Decision{Allowed: true, Reason: ReasonAllowed, Profiles: []string{"operators"}}},
		{"every granting profile is named", sample, oncall, "get_build",
			Decision{Allowed: true, Reason: ReasonAllowed, Profiles: []string{"everyone", "operators"}}},
		{"stored toolset tool that is not approved", sample, oncall, "get_job_env", Decision{Reason: ReasonToolPendingReview}},
		{"not in toolset lists considered profiles", sample, oncall, "no_class",
			Decision{Reason: ReasonNotInToolset, Profiles: []string{"everyone", "operators"}}},
		{"empty toolset grants nothing", narrow, Subject{ID: "sub-9", Groups: []string{"nothing"}}, "get_build",
			Decision{Reason: ReasonNotInToolset, Profiles: []string{"nothing"}}},
		{"user by sub", narrow, admin, "no_class",
			Decision{Allowed: true, Reason: ReasonAllowed, Profiles: []string{"admins"}}},
		{"user by sub is exact", narrow, Subject{ID: "SUB-ADMIN"}, "no_class", Decision{Reason: ReasonNoProfile}},
		{"user by email, any case", narrow, Subject{ID: "sub-x", Email: "root@EXAMPLE.com"}, "create_build",
			Decision{Allowed: true, Reason: ReasonAllowed, Profiles: []string{"admins"}}},
		{"user by email without a sub", narrow, Subject{Email: "ROOT@example.com"}, "create_build",
			Decision{Allowed: true, Reason: ReasonAllowed, Profiles: []string{"admins"}}},
		{"all-approved includes write and destructive", narrow, admin, "cancel_build",
			Decision{Allowed: true, Reason: ReasonAllowed, Profiles: []string{"admins"}}},
		{"a sub entry never matches an email", narrow, Subject{ID: "sub-x", Email: "SUB-ADMIN"}, "no_class", Decision{Reason: ReasonNoProfile}},
		{"a group named * in the claim is only a group", narrow, Subject{Groups: []string{"*"}}, "get_build",
			Decision{Reason: ReasonNoProfile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.s.Decide(tt.sub, tt.tool)
			if got.Detail == "" {
				t.Errorf("Detail is empty")
			}
			got.Detail = ""
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide(%+v, %q) mismatch (-want +got):\n%s", tt.sub, tt.tool, diff)
			}
		})
	}
}

func TestDecideDetail(t *testing.T) {
	p := samplePolicy()
	p.Settings = Settings{ServerDisabled: true, DisabledReason: "incident 42"}
	if got := mustSnapshot(t, p).Decide(Subject{ID: "x"}, "get_build").Detail; !strings.Contains(got, "incident 42") {
		t.Errorf("server disabled Detail = %q, want it to carry the reason", got)
	}
	long := strings.Repeat("x", 10000)
	if got := mustSnapshot(t, samplePolicy()).Decide(Subject{ID: "x"}, long).Detail; len(got) > 200 {
		t.Errorf("unknown tool Detail is %d bytes, want the name capped", len(got))
	}
}

func TestAutomaticToolsets(t *testing.T) {
	s := mustSnapshot(t, samplePolicy())
	for _, tt := range []struct {
		name string
		want []string
	}{
		{ToolsetAllApproved, []string{"cancel_build", "create_build", "get_build", "list_builds", "no_class"}},
		{ToolsetReadOnly, []string{"get_build", "list_builds"}},
	} {
		got, ok := s.Toolset(tt.name)
		if !ok {
			t.Fatalf("Toolset(%q) not found", tt.name)
		}
		if diff := cmp.Diff(Toolset{Name: tt.name, Tools: tt.want}, got); diff != "" {
			t.Errorf("Toolset(%q) mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
	if diff := cmp.Diff([]string{"get_build", "list_builds"}, s.Allowed([]string{"everyone"})); diff != "" {
		t.Errorf("Allowed(everyone) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"cancel_build", "create_build", "get_build", "list_builds", "no_class"}, s.Allowed([]string{"admins"})); diff != "" {
		t.Errorf("Allowed(admins) mismatch (-want +got):\n%s", diff)
	}
}

func TestProfiles(t *testing.T) {
	s := mustSnapshot(t, samplePolicy())
	tests := []struct {
		name string
		sub  Subject
		want []string
	}{
		{"nobody", Subject{}, nil},
		{"authenticated", Subject{ID: "a"}, []string{"everyone"}},
		{"disabled left out", Subject{ID: "sub-frozen", Groups: []string{"frozen"}}, []string{"everyone"}},
		{"sorted and deduplicated", Subject{ID: "sub-admin", Email: "ROOT@example.COM", Groups: []string{"oncall", "engineering", "oncall"}},
			[]string{"admins", "everyone", "operators", "readers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, s.Profiles(tt.sub)); diff != "" {
				t.Errorf("Profiles mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllowedRules(t *testing.T) {
	s := mustSnapshot(t, samplePolicy())
	if got := s.Allowed([]string{"frozen"}); got != nil {
		t.Errorf("Allowed(disabled profile) = %v, want none", got)
	}
	if got := s.Allowed([]string{"no-such-profile"}); got != nil {
		t.Errorf("Allowed(unknown profile) = %v, want none", got)
	}
	p := samplePolicy()
	p.Settings.ServerDisabled = true
	if got := mustSnapshot(t, p).Allowed([]string{"admins"}); got != nil {
		t.Errorf("Allowed with server disabled = %v, want none", got)
	}
	var nilSnap *Snapshot
	if got := nilSnap.Allowed([]string{"admins"}); got != nil {
		t.Errorf("nil Allowed = %v, want none", got)
	}
	if got := nilSnap.Profiles(Subject{ID: "x"}); got != nil {
		t.Errorf("nil Profiles = %v, want none", got)
	}
	want := []string{"cancel_build", "create_build", "get_build", "list_builds"}
	if diff := cmp.Diff(want, s.Allowed([]string{"operators", "everyone", "frozen"})); diff != "" {
		t.Errorf("Allowed(operators, everyone, frozen) mismatch (-want +got):\n%s", diff)
	}
}

// checkAllowedMatchesDecide checks, for every subject and every tool name
// (plus one unknown), that Allowed(Profiles(sub)) and Decide agree, and
// that each of Grants(Profiles(sub)) decides as Decide does.
func checkAllowedMatchesDecide(t *testing.T, s *Snapshot, subjects []Subject) {
	t.Helper()
	tools := append(sortedKeys(s.Policy().Tools), "unknown_tool")
	for _, sub := range subjects {
		allowed := s.Allowed(s.Profiles(sub))
		if !slices.IsSorted(allowed) {
			t.Errorf("Allowed for %+v is not sorted: %v", sub, allowed)
		}
		grants := map[string]Grant{}
		for _, g := range s.Grants(s.Profiles(sub)) {
			grants[g.Tool] = g
		}
		for _, tool := range tools {
			d := s.Decide(sub, tool)
			if in := slices.Contains(allowed, tool); in != d.Allowed {
				t.Errorf("subject %+v tool %q: in Allowed = %v, Decide = %+v", sub, tool, in, d)
			}
			if g, ok := grants[tool]; ok != d.Allowed {
				t.Errorf("subject %+v tool %q: in Grants = %v, Decide = %+v", sub, tool, ok, d)
			} else if ok {
				if diff := cmp.Diff(d, g.Decision()); diff != "" {
					t.Errorf("subject %+v tool %q: Grants' decision differs from Decide's (-Decide +Grants):\n%s", sub, tool, diff)
				}
			}
			if d.Allowed != (d.Reason == ReasonAllowed) {
				t.Errorf("subject %+v tool %q: Allowed %v with reason %q", sub, tool, d.Allowed, d.Reason)
			}
		}
	}
}

func sampleSubjects() []Subject {
	return []Subject{
		{},
		{ID: "a"},
		{Email: "root@example.com"},
		{ID: "sub-admin"},
		{ID: "sub-frozen", Groups: []string{"frozen"}},
		{ID: "b", Groups: []string{"oncall"}},
		{ID: "c", Groups: []string{"engineering", "nothing"}},
		{Groups: []string{"frozen", "nothing"}},
		{ID: "d", Email: "Root@Example.COM", Groups: []string{"oncall", "frozen", "engineering"}},
	}
}

func TestAllowedMatchesDecide(t *testing.T) {
	t.Run("sample", func(t *testing.T) {
		checkAllowedMatchesDecide(t, mustSnapshot(t, samplePolicy()), sampleSubjects())
	})
	t.Run("sample, server disabled", func(t *testing.T) {
		p := samplePolicy()
		p.Settings.ServerDisabled = true
		checkAllowedMatchesDecide(t, mustSnapshot(t, p), sampleSubjects())
	})
	// Random policies, so that large profile and tool counts (past one
	// bitset word, past the inline buffers) are covered as well.
	for seed := range uint64(40) {
		t.Run(fmt.Sprintf("random %d", seed), func(t *testing.T) {
			p, subjects := randomPolicy(rand.New(rand.NewPCG(seed, 1)))
			checkAllowedMatchesDecide(t, mustSnapshot(t, p), subjects)
		})
	}
}

func randomPolicy(r *rand.Rand) (Policy, []Subject) {
	states := []State{StatePendingReview, StateApproved, StateApproved, StateApproved, StateDisabled, StateRemoved, StateUnavailable}
	classes := []Class{"", ClassRead, ClassRead, ClassWrite, ClassDestructive}
	nTools, nSets, nProfiles := 1+r.IntN(200), r.IntN(8), 1+r.IntN(300)
	p := Policy{Tools: map[string]Tool{}, Toolsets: map[string]Toolset{}, Profiles: map[string]Profile{}}
	p.Settings.ServerDisabled = r.IntN(10) == 0
	for i := range nTools {
		name := fmt.Sprintf("tool_%d", i)
		p.Tools[name] = Tool{Name: name, State: states[r.IntN(len(states))], Class: classes[r.IntN(len(classes))]}
	}
	setNames := []string{ToolsetAllApproved, ToolsetReadOnly}
	for i := range nSets {
		name := fmt.Sprintf("set-%d", i)
		ts := Toolset{Name: name}
		for range r.IntN(20) {
			ts.Tools = append(ts.Tools, fmt.Sprintf("tool_%d", r.IntN(nTools+5)))
		}
		p.Toolsets[name] = ts
		setNames = append(setNames, name)
	}
	groups := []string{"g0", "g1", "g2", "g3", GroupEveryone}
	for i := range nProfiles {
		name := fmt.Sprintf("p-%d", i)
		pr := Profile{Name: name, Disabled: r.IntN(4) == 0}
		for range r.IntN(3) {
			pr.Toolsets = append(pr.Toolsets, setNames[r.IntN(len(setNames))])
		}
		if r.IntN(3) == 0 {
			pr.Groups = append(pr.Groups, groups[r.IntN(len(groups))])
		}
		if r.IntN(3) == 0 {
			pr.Users = append(pr.Users, fmt.Sprintf("user%d@example.com", r.IntN(5)))
		}
		if r.IntN(3) == 0 {
			pr.Users = append(pr.Users, fmt.Sprintf("sub-%d", r.IntN(5)))
		}
		p.Profiles[name] = pr
	}
	var subjects []Subject
	for range 20 {
		sub := Subject{}
		if r.IntN(4) > 0 {
			sub.ID = fmt.Sprintf("sub-%d", r.IntN(6))
		}
		if r.IntN(2) == 0 {
			sub.Email = fmt.Sprintf("USER%d@Example.com", r.IntN(6))
		}
		for range r.IntN(3) {
			sub.Groups = append(sub.Groups, groups[r.IntN(len(groups)-1)])
		}
		subjects = append(subjects, sub)
	}
	return p, subjects
}

func TestNewSnapshotErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Policy)
		want   string
	}{
		{"unknown toolset in profile", func(p *Policy) {
			p.Profiles["x"] = Profile{Name: "x", Toolsets: []string{"nope"}}
		}, `profile "x": unknown toolset "nope"`},
		{"reserved toolset name", func(p *Policy) {
			p.Toolsets[ToolsetReadOnly] = Toolset{Name: ToolsetReadOnly}
		}, `toolset "read-only": the name is reserved`},
		{"bad state", func(p *Policy) {
			p.Tools["get_build"] = Tool{Name: "get_build", State: "aproved"}
		}, `tool "get_build": state "aproved"`},
		{"bad class", func(p *Policy) {
			p.Tools["get_build"] = Tool{Name: "get_build", State: StateApproved, Class: "reads"}
		}, `tool "get_build": class "reads"`},
		{"key differs from name", func(p *Policy) {
			p.Tools["get_build"] = Tool{Name: "other", State: StateApproved}
		}, `stored under key "get_build"`},
		{"bad tool name", func(p *Policy) {
			p.Tools["Get-Build"] = Tool{Name: "Get-Build", State: StateApproved}
		}, `tool "Get-Build": name must be`},
		{"everyone as a user", func(p *Policy) {
			p.Profiles["x"] = Profile{Name: "x", Users: []string{"*"}}
		}, `bind everyone with groups`},
		{"empty group", func(p *Policy) {
			p.Profiles["x"] = Profile{Name: "x", Groups: []string{""}}
		}, `profile "x": group ""`},
		{"negative limit", func(p *Policy) {
			p.Profiles["x"] = Profile{Name: "x", CallsPerMinute: -1}
		}, `calls_per_minute -1`},
		{"system default state", func(p *Policy) {
			p.Settings.DefaultState = StateRemoved
		}, `default_state "removed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := samplePolicy()
			tt.mutate(&p)
			s, err := NewSnapshot(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewSnapshot error = %v, want it to contain %q", err, tt.want)
			}
			if s != nil {
				t.Errorf("NewSnapshot returned a snapshot with its error")
			}
		})
	}
}

func TestSnapshotIsImmutable(t *testing.T) {
	p := samplePolicy()
	s := mustSnapshot(t, p)
	// Changing the input, or anything handed out, must not change the snapshot.
	p.Profiles["admins"].Users[0] = "intruder"
	p.Tools["get_job_env"] = Tool{Name: "get_job_env", State: StateApproved}
	got := s.Policy()
	got.Toolsets["builds"].Tools[0] = "get_build"
	ts, _ := s.Toolset(ToolsetAllApproved)
	ts.Tools[0] = "zzz"
	pr, _ := s.Profile("admins")
	pr.Users[0] = "intruder"

	if diff := cmp.Diff(samplePolicy(), s.Policy()); diff != "" {
		t.Errorf("snapshot changed (-want +got):\n%s", diff)
	}
	if d := s.Decide(Subject{ID: "intruder"}, "cancel_build"); d.Allowed {
		t.Errorf("intruder allowed: %+v", d)
	}
	if tool, ok := s.Tool("get_job_env"); !ok || tool.State != StatePendingReview {
		t.Errorf("Tool(get_job_env) = %+v, %v", tool, ok)
	}
	if s.Version() != 7 {
		t.Errorf("Version = %d, want 7", s.Version())
	}
}

func TestConcurrentDecide(t *testing.T) {
	s := mustSnapshot(t, samplePolicy())
	want := s.Decide(Subject{ID: "b", Groups: []string{"oncall"}}, "cancel_build")
	done := make(chan Decision)
	for range 8 {
		go func() {
			var d Decision
			for range 1000 {
				d = s.Decide(Subject{ID: "b", Groups: []string{"oncall"}}, "cancel_build")
				s.Allowed([]string{"operators", "admins"})
			}
			done <- d
		}()
	}
	for range 8 {
		if diff := cmp.Diff(want, <-done); diff != "" {
			t.Errorf("concurrent Decide mismatch (-want +got):\n%s", diff)
		}
	}
}

// The client kill switch: a disabled OAuth client's callers get no
// profile and every call is denied as client_disabled, whoever they are;
// other clients and callers without a client are untouched.
func TestClientKillSwitch(t *testing.T) {
	p := samplePolicy()
	p.Clients = map[string]Client{"bad-client": {Name: "Rogue", Disabled: true}}
	s := mustSnapshot(t, p)
	admin := Subject{ID: "sub-admin", Groups: []string{"engineering"}}
	tests := []struct {
		name     string
		client   string
		want     string
		profiles int
	}{
		{"disabled client", "bad-client", ReasonClientDisabled, 0},
		{"another client", "good-client", ReasonAllowed, 3},
		{"no client (resource-server tokens, dev)", "", ReasonAllowed, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := admin
			sub.ClientID = tt.client
			if d := s.Decide(sub, "list_builds"); d.Reason != tt.want {
				t.Errorf("Decide: %+v, want %s", d, tt.want)
			}
			if got := s.Profiles(sub); len(got) != tt.profiles {
				t.Errorf("Profiles %v, want %d", got, tt.profiles)
			}
		})
	}
	if !s.ClientDisabled("bad-client") || s.ClientDisabled("good-client") || (*Snapshot)(nil).ClientDisabled("bad-client") {
		t.Error("ClientDisabled")
	}
	p.Clients = map[string]Client{"": {Disabled: true}}
	if _, err := NewSnapshot(p); err == nil {
		t.Error("an empty client id was accepted")
	}
}

// The user kill switch: a disabled person, by sub or by verified email in
// any case, gets no profile and every call is denied as user_disabled,
// through any client; other people are untouched.
func TestUserKillSwitch(t *testing.T) {
	p := samplePolicy()
	p.Users = map[string]User{"sub-gone": {Disabled: true}, "mallory@example.com": {Disabled: true}}
	s := mustSnapshot(t, p)
	tests := []struct {
		name     string
		sub      Subject
		want     string
		profiles int
	}{
		{"by sub", Subject{ID: "sub-gone", Groups: []string{"engineering"}, ClientID: "c1"}, ReasonUserDisabled, 0},
		{"by email, another case", Subject{ID: "sub-m", Email: "Mallory@Example.com", Groups: []string{"engineering"}}, ReasonUserDisabled, 0},
		{"someone else", Subject{ID: "sub-admin", Email: "admin@example.com", Groups: []string{"engineering"}}, ReasonAllowed, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := s.Decide(tt.sub, "list_builds"); d.Reason != tt.want {
				t.Errorf("Decide: %+v, want %s", d, tt.want)
			}
			if got := s.Profiles(tt.sub); len(got) != tt.profiles {
				t.Errorf("Profiles %v, want %d", got, tt.profiles)
			}
		})
	}
	if (*Snapshot)(nil).UserDisabled(Subject{ID: "sub-gone"}) {
		t.Error("a nil snapshot disabled a user")
	}
	p.Users = map[string]User{"": {Disabled: true}}
	if _, err := NewSnapshot(p); err == nil {
		t.Error("an empty user key was accepted")
	}
}

// testCatalog is the tool catalog of buildkite-tools.md (54 tools, 38 read).
func testCatalog() []Tool {
	defs := []struct {
		name   string
		class  Class
		scopes []string
	}{
		{"current_user", ClassRead, []string{"read_user"}},
		{"user_token_organization", ClassRead, []string{"read_organizations"}},
		{"access_token", ClassRead, nil},
		{"list_clusters", ClassRead, []string{"read_clusters"}},
		{"get_cluster", ClassRead, []string{"read_clusters"}},
		{"create_cluster", ClassWrite, []string{"write_clusters"}},
		{"update_cluster", ClassDestructive, []string{"write_clusters"}},
		{"list_cluster_queues", ClassRead, []string{"read_clusters"}},
		{"get_cluster_queue", ClassRead, []string{"read_clusters"}},
		{"create_cluster_queue", ClassWrite, []string{"write_clusters"}},
		{"update_cluster_queue", ClassDestructive, []string{"write_clusters"}},
		{"pause_cluster_queue_dispatch", ClassDestructive, []string{"write_clusters"}},
		{"resume_cluster_queue_dispatch", ClassDestructive, []string{"write_clusters"}},
		{"list_agents", ClassRead, []string{"read_agents"}},
		{"get_agent", ClassRead, []string{"read_agents"}},
		{"list_pipelines", ClassRead, []string{"read_pipelines"}},
		{"get_pipeline", ClassRead, []string{"read_pipelines"}},
		{"create_pipeline", ClassWrite, []string{"write_pipelines"}},
		{"update_pipeline", ClassDestructive, []string{"write_pipelines"}},
		{"list_pipeline_schedules", ClassRead, []string{"read_pipelines"}},
		{"get_pipeline_schedule", ClassRead, []string{"read_pipelines"}},
		{"create_pipeline_schedule", ClassWrite, []string{"write_pipelines"}},
		{"update_pipeline_schedule", ClassDestructive, []string{"write_pipelines"}},
		{"list_builds", ClassRead, []string{"read_builds"}},
		{"get_build", ClassRead, []string{"read_builds"}},
		{"get_build_test_engine_runs", ClassRead, []string{"read_builds"}},
		{"wait_for_build", ClassRead, []string{"read_builds"}},
		{"list_step_uploads", ClassRead, []string{"read_builds"}},
		{"get_step_upload", ClassRead, []string{"read_builds"}},
		{"create_build", ClassWrite, []string{"write_builds"}},
		{"cancel_build", ClassDestructive, []string{"write_builds"}},
		{"rebuild_build", ClassDestructive, []string{"write_builds"}},
		{"list_jobs", ClassRead, []string{"read_builds"}},
		{"get_job", ClassRead, []string{"read_builds"}},
		{"unblock_job", ClassDestructive, []string{"write_builds"}},
		{"retry_job", ClassDestructive, []string{"write_builds"}},
		{"get_job_env", ClassSensitive, []string{"read_job_env"}},
		{"list_artifacts_for_build", ClassRead, []string{"read_artifacts"}},
		{"list_artifacts_for_job", ClassRead, []string{"read_artifacts"}},
		{"get_artifact", ClassRead, []string{"read_artifacts"}},
		{"search_logs", ClassRead, []string{"read_build_logs"}},
		{"tail_logs", ClassRead, []string{"read_build_logs"}},
		{"read_logs", ClassRead, []string{"read_build_logs"}},
		{"list_tests", ClassRead, []string{"read_suites"}},
		{"get_test", ClassRead, []string{"read_suites"}},
		{"list_tests_for_build", ClassRead, []string{"read_suites"}},
		{"list_test_runs", ClassRead, []string{"read_suites"}},
		{"get_test_run", ClassRead, []string{"read_suites"}},
		{"get_failed_executions", ClassRead, []string{"read_suites"}},
		{"list_annotations", ClassRead, []string{"read_builds"}},
		{"create_annotation", ClassDestructive, []string{"write_builds"}},
		{"get_build_failure_summary", ClassRead, []string{"read_builds", "read_build_logs", "read_suites"}},
		{"list_skills", ClassRead, nil},
		{"load_skill", ClassRead, nil},
	}
	out := make([]Tool, 0, len(defs))
	for _, d := range defs {
		out = append(out, Tool{Name: d.name, Hash: "h-" + d.name, Class: d.class, Scopes: d.scopes})
	}
	return out
}

// withCatalog gives p the test catalog: each tool's hash, class and
// scopes, and the tools p lacks in state def (a sensitive one pending
// review). It stands in for discovery's reconciliation, which this package
// cannot import, in the tests of Decide over a whole catalog.
func withCatalog(p Policy, def State) Policy {
	p = p.Clone()
	if p.Tools == nil {
		p.Tools = map[string]Tool{}
	}
	for _, c := range testCatalog() {
		t, ok := p.Tools[c.Name]
		if !ok {
			t = Tool{Name: c.Name, State: def}
			if c.Class == ClassSensitive {
				t.State = StatePendingReview
			}
		}
		t.Hash, t.Class, t.Scopes = c.Hash, c.Class, c.Scopes
		p.Tools[c.Name] = t
	}
	return p
}

// What infra_test.go (package policy_test, which may import policyfile)
// uses of this package's test helpers.
var (
	MustSnapshot              = mustSnapshot
	WithCatalog               = withCatalog
	TestCatalog               = testCatalog
	CheckAllowedMatchesDecide = checkAllowedMatchesDecide
)
