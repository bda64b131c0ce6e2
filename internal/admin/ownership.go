package admin

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kitegate/kitegate/internal/policy"
)

// FileMark ends the actor policy-apply records on the tools it changes
// ("carol (policy-apply)"), so the next apply can tell its own changes
// from those made by `make approve`/`disable` or by hand.
const FileMark = " (policy-apply)"

// machineActors set tool states without an admin's decision: discovery
// adds tools in their default state, the local store seeds them. A state
// they set is not an admin's change the file would undo.
var machineActors = []string{"", "seed", "kitegate-start", "kitegate-discovery"}

// Conflicts are the changes applying the file would make over an admin's
// decision taken outside the file, one line each. The file owns what it
// lists: the settings (the kill switch), its toolsets and profiles, and the
// states of the tools it names (a tool it does not name keeps its state). A
// conflict is:
//   - a tool the file names whose state or note an admin set outside the
//     file (make approve or disable, a hand edit that set changed_by), and
//     that the file would change;
//   - a disabled tool the file would enable, unless the file itself
//     disabled it;
//   - the server's or a profile's kill switch the file would switch off.
//
// A tool that discovery set aside (unavailable, removed) or added in its
// default state is not a conflict: the file decides those.
func Conflicts(cur, next policy.Policy, listed map[string]bool) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(listed)) {
		old, ok := cur.Tools[name]
		t := next.Tools[name]
		if !ok || (old.State == t.State && old.Note == t.Note) {
			continue
		}
		by := old.ChangedBy
		byFile := strings.HasSuffix(by, FileMark)
		switch {
		case old.State == policy.StateDisabled && t.State != policy.StateDisabled && !byFile:
			out = append(out, fmt.Sprintf("tool %s: disabled by %s%s; the file would make it %s", name, orUnknown(by), at(old.ChangedAt), t.State))
		case !byFile && !slices.Contains(machineActors, by) && old.State != policy.StateUnavailable && old.State != policy.StateRemoved:
			out = append(out, fmt.Sprintf("tool %s: set to %s by %s%s outside the file; the file would make it %s", name, old.State, by, at(old.ChangedAt), t.State))
		}
	}
	if cur.Settings.ServerDisabled && !next.Settings.ServerDisabled {
		out = append(out, fmt.Sprintf("server: the kill switch is on (%q); the file would switch it off", cur.Settings.DisabledReason))
	}
	for _, name := range slices.Sorted(maps.Keys(cur.Profiles)) {
		if p, ok := next.Profiles[name]; ok && cur.Profiles[name].Disabled && !p.Disabled {
			out = append(out, fmt.Sprintf("profile %s: disabled; the file would enable it", name))
		}
	}
	return out
}

func orUnknown(by string) string {
	if by == "" {
		return "an unknown writer"
	}
	return by
}

func at(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " at " + t.UTC().Format(time.RFC3339)
}
