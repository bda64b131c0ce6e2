// Package admin is the operator side of kitegate's policy and audit tables:
// applying infra/policy.yaml (a dry-run diff first, no write when nothing
// differs), listing tools with their states, approving and disabling tools,
// showing recent audit events of a user or a tool, and replaying audit
// events that were logged for replay. Every change goes through a
// policy.Store, so it is a conditional write that records who and when.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/audit/auditstream"
	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policyfile"
)

// QueryAPI is the part of the DynamoDB client the audit commands call.
type QueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Admin runs the operator commands.
type Admin struct {
	Store policy.Store
	// Discovered is what discovery recorded beside the policy (status).
	Discovered StatusLoader
	// Catalog is this build's tool catalog: definition hash, class and
	// scopes of every tool (what the mcp function serves).
	Catalog []policy.Tool
	// Actor is recorded as who made each change.
	Actor string
	// Audit and AuditTable serve the audit commands; Rollups reads the
	// audit function's usage rollups (usage).
	Audit      QueryAPI
	AuditTable string
	// AuditFile is the local audit file the audit commands read when no
	// audit table is set (KITEGATE_AUDIT_FILE, default .local/audit.jsonl).
	AuditFile string
	Rollups   auditstream.BatchGetAPI
	// Clients is gateway mode's AI-client registry (nil without an
	// authorization table).
	Clients ClientRegistry
	// ClientIdleClose is the deployment's KITEGATE_CLIENT_IDLE_CLOSE: make
	// clients shows an active client unused for longer as idle (0: never).
	ClientIdleClose time.Duration
	Out             io.Writer
}

// conflictRetries bounds how often a read-modify-write is retried when
// another change landed in between.
const conflictRetries = 3

// Plan returns the policy that applying the policy file would store and
// the differences from the current one, one line each. The file decides
// toolsets, profiles, settings and the states of the tools it lists; tools
// it does not list keep their current state (new ones get default_state);
// hash, class and scopes come from the catalog.
func (a *Admin) Plan(ctx context.Context, file []byte) (cur, next policy.Policy, diff, conflicts []string, err error) {
	desired, err := policyfile.Parse(file)
	if err != nil {
		return cur, next, nil, nil, err
	}
	listed := map[string]bool{}
	for name := range desired.Tools {
		listed[name] = true
	}
	cur, err = a.Store.Load(ctx)
	if err != nil {
		return cur, next, nil, nil, err
	}
	next = desired
	next.Version = cur.Version
	next.Clients = cur.Clients // the file does not list clients: client-disable does
	next.Users = cur.Users     // nor users: user-disable does
	for name, t := range cur.Tools {
		if _, listed := desired.Tools[name]; !listed {
			next.Tools[name] = t
		}
	}
	next, _ = discovery.Reconcile(next, a.Catalog, "", time.Now().UTC())
	// Keep who changed an unchanged tool, so that it does not show as a change.
	for name, t := range next.Tools {
		if old, ok := cur.Tools[name]; ok {
			t.ChangedBy, t.ChangedAt = old.ChangedBy, old.ChangedAt
			next.Tools[name] = t
		}
	}
	return cur, next, Diff(cur, next), Conflicts(cur, next, listed), nil
}

// ErrConflicts refuses an apply that would undo an admin's change made
// outside the file (Conflicts), unless forced.
var ErrConflicts = errors.New("the file would undo changes made outside it: nothing written (make the file agree, or apply with FORCE=1)")

// Apply applies the policy file: it prints the plan and any conflicts, and
// writes only when something differs, dryRun is false, and nothing
// conflicts (or force). It reports whether it wrote.
func (a *Admin) Apply(ctx context.Context, file []byte, dryRun, force bool) (bool, error) {
	_, next, diff, conflicts, err := a.Plan(ctx, file)
	if err != nil {
		return false, err
	}
	if len(diff) == 0 {
		fmt.Fprintf(a.Out, "policy version %d: no changes\n", next.Version)
		return false, nil
	}
	fmt.Fprintf(a.Out, "policy version %d: %d change(s)\n", next.Version, len(diff))
	for _, l := range diff {
		fmt.Fprintln(a.Out, "  "+l)
	}
	if len(conflicts) > 0 {
		fmt.Fprintf(a.Out, "%d conflict(s) with changes made outside the file:\n", len(conflicts))
		for _, l := range conflicts {
			fmt.Fprintln(a.Out, "  ! "+l)
		}
	}
	if dryRun {
		fmt.Fprintln(a.Out, "dry run: nothing written")
		return false, nil
	}
	if len(conflicts) > 0 && !force {
		return false, ErrConflicts
	}
	stored, err := a.Store.Apply(ctx, next, a.Actor+FileMark)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(a.Out, "applied as version %d by %s\n", stored.Version, a.Actor+FileMark)
	return true, nil
}

// Diff lists what differs between two policies, sorted, one line each
// ("+" added, "-" removed, "~" changed).
func Diff(from, to policy.Policy) []string {
	var out []string
	if from.Settings != to.Settings {
		out = append(out, fmt.Sprintf("~ settings: %+v -> %+v", from.Settings, to.Settings))
	}
	diffMap(&out, "tool", from.Tools, to.Tools, func(t policy.Tool) string {
		return fmt.Sprintf("state=%s class=%s scopes=%v hash=%.12s note=%q", t.State, t.Class, t.Scopes, t.Hash, t.Note)
	})
	diffMap(&out, "toolset", from.Toolsets, to.Toolsets, func(t policy.Toolset) string { return fmt.Sprintf("tools=%v", t.Tools) })
	diffMap(&out, "client", from.Clients, to.Clients, func(c policy.Client) string {
		return fmt.Sprintf("name=%q disabled=%t note=%q", c.Name, c.Disabled, c.Note)
	})
	diffMap(&out, "user", from.Users, to.Users, func(u policy.User) string {
		return fmt.Sprintf("disabled=%t note=%q", u.Disabled, u.Note)
	})
	diffMap(&out, "profile", from.Profiles, to.Profiles, func(p policy.Profile) string {
		return fmt.Sprintf("toolsets=%v users=%v groups=%v disabled=%t calls_per_minute=%d", p.Toolsets, p.Users, p.Groups, p.Disabled, p.CallsPerMinute)
	})
	return out
}

func diffMap[V any](out *[]string, kind string, from, to map[string]V, show func(V) string) {
	var names []string
	for n := range from {
		names = append(names, n)
	}
	for n := range to {
		if _, ok := from[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		f, inFrom := from[n]
		t, inTo := to[n]
		switch {
		case !inFrom:
			*out = append(*out, fmt.Sprintf("+ %s %s: %s", kind, n, show(t)))
		case !inTo:
			*out = append(*out, fmt.Sprintf("- %s %s: %s", kind, n, show(f)))
		case show(f) != show(t):
			*out = append(*out, fmt.Sprintf("~ %s %s: %s -> %s", kind, n, show(f), show(t)))
		}
	}
}

// ListTools prints every tool with its state, class and last change.
func (a *Admin) ListTools(ctx context.Context) error {
	p, err := a.Store.Load(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TOOL\tSTATE\tCLASS\tCHANGED BY\tCHANGED AT\n")
	names := make([]string, 0, len(p.Tools))
	for n := range p.Tools {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := p.Tools[n]
		at := ""
		if !t.ChangedAt.IsZero() {
			at = t.ChangedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n, t.State, orDash(string(t.Class)), orDash(t.ChangedBy), orDash(at))
	}
	fmt.Fprintf(tw, "(policy version %d)\n", p.Version)
	return tw.Flush()
}

// SetState moves tool to state (approve: approved, disable: disabled) with
// note, retrying when another change lands in between.
func (a *Admin) SetState(ctx context.Context, tool string, state policy.State, note string) error {
	for attempt := 1; ; attempt++ {
		p, err := a.Store.Load(ctx)
		if err != nil {
			return err
		}
		t, ok := p.Tools[tool]
		if !ok {
			return fmt.Errorf("tool %q is not in the policy (make tools lists them)", tool)
		}
		if t.State == state && (note == "" || t.Note == note) {
			fmt.Fprintf(a.Out, "tool %s is already %s\n", tool, state)
			return nil
		}
		t.State = state
		if note != "" {
			t.Note = note
		}
		p.Tools[tool] = t
		stored, err := a.Store.Apply(ctx, p, a.Actor)
		if errors.Is(err, policy.ErrConflict) && attempt < conflictRetries {
			continue
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(a.Out, "tool %s is now %s (policy version %d, by %s)\n", tool, state, stored.Version, a.Actor)
		return nil
	}
}

// Recent prints the latest audit events of a user (by is "user", key a
// sub) or a tool (by is "tool"), newest first.
func (a *Admin) Recent(ctx context.Context, by, key string, limit int) ([]audit.Event, error) {
	return a.Events(ctx, by, key, Range{}, limit)
}

// Actor returns who an operator command acts as: $KITEGATE_ACTOR, else
// the OS user name.
func Actor(lookup func(string) (string, bool), osUser func() (string, error)) (string, error) {
	if v, ok := lookup("KITEGATE_ACTOR"); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v), nil
	}
	name, err := osUser()
	if err != nil || name == "" {
		return "", errors.New("cannot tell who you are: set KITEGATE_ACTOR")
	}
	return name, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
