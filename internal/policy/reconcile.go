package policy

import "slices"

// Reconcile brings p in line with the tool catalog compiled into this build
// and returns the result; p is not modified. It is the simple start-up
// reconciliation of the local server:
//
//   - a catalog tool missing from p is added in defaultState (an empty or
//     invalid defaultState means pending_review; removed and unavailable
//     are not allowed as defaults);
//   - a tool in both keeps its state, except that a removed tool that is
//     back in the catalog is treated as new (defaultState);
//   - Hash, Digest, Class and Scopes always come from the catalog (an
//     approved tool keeps its pin, ApprovedHash, for discovery to check);
//   - a tool of p that is not in the catalog becomes removed.
//
// Reconcile stamps nothing: the store records who changed what when the
// result is applied. Definition-hash changes and token scopes are the
// discovery function's business.
func Reconcile(p Policy, catalog []Tool, defaultState State) Policy {
	if !validDefaultState(defaultState) {
		defaultState = StatePendingReview
	}
	out := p.clone()
	if out.Tools == nil {
		out.Tools = make(map[string]Tool, len(catalog))
	}
	inCatalog := make(map[string]bool, len(catalog))
	for _, c := range catalog {
		inCatalog[c.Name] = true
		t, ok := out.Tools[c.Name]
		if !ok || t.State == StateRemoved {
			t = Tool{Name: c.Name, State: defaultState, Note: t.Note}
			if c.Class == ClassSensitive {
				// Whatever the default, a tool that reads secrets waits
				// for a person to approve it.
				t.State = StatePendingReview
			}
		}
		t.Hash, t.Digest, t.Class, t.Scopes = c.Hash, c.Digest, c.Class, slices.Clone(c.Scopes)
		out.Tools[c.Name] = t
	}
	for name, t := range out.Tools {
		if !inCatalog[name] && t.State != StateRemoved {
			t.State = StateRemoved
			out.Tools[name] = t
		}
	}
	return out
}
