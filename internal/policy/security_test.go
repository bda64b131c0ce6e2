package policy

import (
	"slices"
	"testing"
)

// Finding M3 (look-alikes): user entries were matched with
// strings.ToLower, which folds KELVIN SIGN (U+212A) to k and İ (U+0130) to
// i, so ops@\u212Aitegate.io bound to the profile of ops@kitegate.io. Emails
// are compared in one canonical form (ASCII letters lower-cased) that no
// other address maps to; non-ASCII addresses match nothing.
func TestSecurityM3EmailsComparedInOneCanonicalForm(t *testing.T) {
	p := Policy{
		Tools:    map[string]Tool{"create_build": {Name: "create_build", Class: ClassWrite, State: StateApproved}},
		Toolsets: map[string]Toolset{"ops": {Name: "ops", Tools: []string{"create_build"}}},
		Profiles: map[string]Profile{
			"builds-operator": {Name: "builds-operator", Toolsets: []string{"ops"}, Users: []string{"victim@example.com", "ops@kitegate.io"}},
			"everyone":        {Name: "everyone", Toolsets: []string{ToolsetReadOnly}, Groups: []string{GroupEveryone}},
		},
	}
	s := mustSnapshot(t, p)
	tests := []struct {
		email string
		binds bool
	}{
		{"victim@example.com", true},
		{"VICTIM@EXAMPLE.COM", true}, // ASCII case is not significant
		{"Ops@KiteGate.IO", true},
		{"ops@\u212Aitegate.io", false}, // KELVIN SIGN
		{"ops@k\u0130tegate.io", false}, // LATIN CAPITAL I WITH DOT ABOVE
		{"ops@kitegate.\u0131o", false}, // dotless i
		{"victim@example.com ", false},
		{" victim@example.com", false},
		{"victim@example.com\x00", false},
		{"victim@@example.com", false},
		{"ｖictim@example.com", false}, // fullwidth v
		{"", false},
	}
	for _, tt := range tests {
		got := slices.Contains(s.Profiles(Subject{ID: "mallory", Email: tt.email}), "builds-operator")
		if got != tt.binds {
			t.Errorf("email %q binds to builds-operator: %v, want %v", tt.email, got, tt.binds)
		}
	}
	// The entry side is held to the same form: a non-ASCII entry matches
	// nothing, not even itself.
	p.Profiles["odd"] = Profile{Name: "odd", Toolsets: []string{"ops"}, Users: []string{"\u212Aate@example.com"}}
	s = mustSnapshot(t, p)
	for _, e := range []string{"\u212Aate@example.com", "kate@example.com"} {
		if slices.Contains(s.Profiles(Subject{ID: "x", Email: e}), "odd") {
			t.Errorf("%q matched a non-ASCII entry", e)
		}
	}
}

func TestCanonicalEmail(t *testing.T) {
	for in, want := range map[string]string{"A@B.c": "a@b.c", "a.b+c@d.io": "a.b+c@d.io"} {
		if got, ok := CanonicalEmail(in); !ok || got != want {
			t.Errorf("CanonicalEmail(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"@b.c", "a@", "ab", "a b@c", "a@b@c", "é@x.io"} {
		if _, ok := CanonicalEmail(in); ok {
			t.Errorf("CanonicalEmail(%q) accepted", in)
		}
	}
}
