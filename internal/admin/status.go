package admin

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/policy"
)

// StatusLoader reads what discovery recorded (the STATUS items).
type StatusLoader interface {
	LoadStatus(ctx context.Context) (discovery.Status, error)
}

// Status prints what an operator checks first: the Buildkite token's
// health and the last discovery run (as discovery recorded them), the
// policy version, the tools in each state, and what the policy file and
// the table disagree on (the diff and conflicts policy-apply would show).
func (a *Admin) Status(ctx context.Context, status StatusLoader, file []byte, now time.Time) error {
	st, err := status.LoadStatus(ctx)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	cur, _, diff, conflicts, err := a.Plan(ctx, file)
	if err != nil {
		return err
	}
	w := a.Out
	t := st.Token
	switch {
	case t.Status == "":
		fmt.Fprintln(w, "token:      never checked (run discovery: make discover, or invoke the discovery function)")
	default:
		fmt.Fprintf(w, "token:      %s (uuid %s) since %s\n", t.Status, orDash(t.UUID), stamp(t.Since, now))
		if !t.ExpiresAt.IsZero() {
			fmt.Fprintf(w, "            expires %s (%.1f days)%s\n", t.ExpiresAt.UTC().Format(time.RFC3339), t.ExpiresAt.Sub(now).Hours()/24, when(t.ExpiringSoon, ", expiring soon"))
		}
		if len(t.MissingScopes) > 0 {
			fmt.Fprintf(w, "            missing scopes: %s\n", strings.Join(t.MissingScopes, ", "))
		}
		for _, p := range t.Problems {
			fmt.Fprintf(w, "            ! %s\n", p)
		}
	}
	d := st.Discovery
	if d.At.IsZero() {
		fmt.Fprintln(w, "discovery:  no run has changed the policy yet")
	} else {
		fmt.Fprintf(w, "discovery:  last change %s at policy version %d: %d added, %d changed, %d demoted, %d removed, %d unavailable, %d restored\n",
			stamp(d.At, now), d.PolicyVersion, len(d.Added), len(d.Changed), len(d.Demoted), len(d.Removed), len(d.Unavailable), len(d.Restored))
	}
	states := map[policy.State]int{}
	for _, tl := range cur.Tools {
		states[tl.State]++
	}
	var counts []string
	for _, s := range slices.Sorted(maps.Keys(states)) {
		counts = append(counts, fmt.Sprintf("%d %s", states[s], s))
	}
	fmt.Fprintf(w, "policy:     version %d; tools: %s%s\n", cur.Version, strings.Join(counts, ", "), when(cur.Settings.ServerDisabled, "; SERVER DISABLED: "+cur.Settings.DisabledReason))
	if len(diff) == 0 {
		fmt.Fprintln(w, "file:       the table agrees with the policy file")
		return nil
	}
	fmt.Fprintf(w, "file:       %d difference(s) from the policy file (make policy-apply would make them):\n", len(diff))
	for _, l := range diff {
		fmt.Fprintln(w, "  "+l)
	}
	for _, l := range conflicts {
		fmt.Fprintln(w, "  ! "+l+" (made outside the file: policy-apply refuses without FORCE=1)")
	}
	return nil
}

func stamp(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), now.Sub(t).Round(time.Minute))
}

func when(b bool, s string) string {
	if b {
		return s
	}
	return ""
}

// WhoCan prints the tools a person gets and why: their profiles (by user
// or email entry, or by one of groups), and for each tool the MCP server
// would serve them, the profiles and toolsets that grant it. A tool whose
// definition changed since its approval is not served (the server checks
// the pin), so it is listed apart. Tools they do not get are counted by
// reason.
func (a *Admin) WhoCan(ctx context.Context, user string, groups []string) error {
	if user == "" {
		return fmt.Errorf("who-can: give USER (the OIDC sub, or an email)")
	}
	p, err := a.Store.Load(ctx)
	if err != nil {
		return err
	}
	snap, err := policy.NewSnapshot(p)
	if err != nil {
		return fmt.Errorf("the policy does not load (every call is denied): %w", err)
	}
	sub := policy.Subject{ID: user, Groups: groups}
	if strings.Contains(user, "@") {
		sub.Email = user
	}
	w := a.Out
	profiles := snap.Profiles(sub)
	fmt.Fprintf(w, "%s in groups [%s]: profiles %s (policy version %d)\n", user, strings.Join(groups, ", "), orNone(profiles), p.Version)
	catalog := map[string]string{}
	for _, t := range a.Catalog {
		catalog[t.Name] = t.Hash
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tCLASS\tGRANTED BY\tTOOLSETS")
	denied := map[string]int{}
	var changed []string
	for _, name := range slices.Sorted(maps.Keys(p.Tools)) {
		d := snap.Decide(sub, name)
		if !d.Allowed {
			denied[d.Reason]++
			continue
		}
		t := p.Tools[name]
		if h, ok := catalog[name]; !ok || (t.ApprovedHash != "" && t.ApprovedHash != h) {
			changed = append(changed, name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, t.Class, strings.Join(d.Profiles, ", "), strings.Join(a.toolsets(p, d.Profiles, t), ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(changed) > 0 {
		fmt.Fprintf(w, "granted but not served (definition changed since approval, or not in this build): %s\n", strings.Join(changed, ", "))
	}
	var reasons []string
	for _, r := range slices.Sorted(maps.Keys(denied)) {
		reasons = append(reasons, fmt.Sprintf("%d %s", denied[r], r))
	}
	if len(reasons) > 0 {
		fmt.Fprintf(w, "not granted: %s\n", strings.Join(reasons, ", "))
	}
	return nil
}

// toolsets names the toolsets of the granting profiles that hold t.
func (a *Admin) toolsets(p policy.Policy, profiles []string, t policy.Tool) []string {
	var out []string
	for _, pn := range profiles {
		for _, ts := range p.Profiles[pn].Toolsets {
			hold := slices.Contains(p.Toolsets[ts].Tools, t.Name) ||
				ts == policy.ToolsetAllApproved || (ts == policy.ToolsetReadOnly && t.Class == policy.ClassRead)
			if hold && !slices.Contains(out, ts) {
				out = append(out, ts)
			}
		}
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
