// Package policy is kitegate's governance model: which tools exist and in
// which state, which toolsets group them, which access profiles bind toolsets
// to people, and the server kill switch. Decide is the one rule every call
// goes through; it is a pure function of an immutable Snapshot so that it can
// be table-tested and evaluated without I/O on the hot path. Stores (the
// embedded file store here, DynamoDB later) load and save the plain Policy
// value with optimistic concurrency.
package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// State is the lifecycle state of a tool. Only StateApproved tools can be called.
type State string

// Tool states. Admins move tools between pending_review, approved and
// disabled; removed and unavailable are set by reconciliation (a tool that
// left the catalog, a tool whose Buildkite scopes the token lacks).
const (
	StatePendingReview State = "pending_review"
	StateApproved      State = "approved"
	StateDisabled      State = "disabled"
	StateRemoved       State = "removed"
	StateUnavailable   State = "unavailable"
)

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	switch s {
	case StatePendingReview, StateApproved, StateDisabled, StateRemoved, StateUnavailable:
		return true
	}
	return false
}

// Class is what a tool does to Buildkite, taken from its MCP annotations.
type Class string

// Tool classes. An empty Class means "not yet known" and is treated as not
// read-only (it never lands in the read-only toolset).
// ClassSensitive reads secrets (job environments): never read-only for
// policy, and never approved by a default.
const (
	ClassRead        Class = "read"
	ClassSensitive   Class = "sensitive"
	ClassWrite       Class = "write"
	ClassDestructive Class = "destructive"
)

// Valid reports whether c is one of the known classes. The empty class is not valid.
func (c Class) Valid() bool {
	switch c {
	case ClassRead, ClassSensitive, ClassWrite, ClassDestructive:
		return true
	}
	return false
}

// Names of the toolsets that are computed from the tools and never stored.
const (
	// ToolsetAllApproved holds every approved tool.
	ToolsetAllApproved = "all-approved"
	// ToolsetReadOnly holds every approved tool whose Class is ClassRead.
	ToolsetReadOnly = "read-only"
)

// GroupEveryone in a profile's Groups binds the profile to every
// authenticated caller, that is every Subject with a non-empty ID.
const GroupEveryone = "*"

// Tool is one MCP tool as governed: its definition hash, classification,
// the Buildkite token scopes it needs, and its state.
//
// Hash, Digest, Class and Scopes describe the catalog's current definition.
// ApprovedHash and ApprovedDigest pin the definition that was approved
// (Apply sets them whenever a tool becomes approved): the discovery function
// sends an approved tool whose catalog hash no longer matches its pin back
// to pending_review and records why in Change. ResumeState is the state an
// unavailable tool returns to once the token has its scopes again.
type Tool struct {
	Name           string    `json:"name"`
	Hash           string    `json:"hash,omitempty"`
	Digest         Digest    `json:"digest,omitzero"`
	Class          Class     `json:"class,omitempty"`
	Scopes         []string  `json:"scopes,omitempty"`
	State          State     `json:"state"`
	ResumeState    State     `json:"resume_state,omitempty"`
	ApprovedHash   string    `json:"approved_hash,omitempty"`
	ApprovedDigest Digest    `json:"approved_digest,omitzero"`
	Change         Change    `json:"change,omitzero"`
	ChangedBy      string    `json:"changed_by,omitempty"`
	ChangedAt      time.Time `json:"changed_at,omitzero"`
	Note           string    `json:"note,omitempty"`
}

// Digest is a short digest of each reviewable part of a tool definition, so
// that a changed definition can say which parts changed. Empty means not
// recorded.
type Digest struct {
	Description  string `json:"description,omitempty"`   // title and description
	InputSchema  string `json:"input_schema,omitempty"`  // the arguments' JSON Schema
	OutputSchema string `json:"output_schema,omitempty"` // the result's JSON Schema
	Annotations  string `json:"annotations,omitempty"`   // MCP annotations and kind
	Scopes       string `json:"scopes,omitempty"`        // required Buildkite scopes
}

// Parts returns the names of the parts whose digests differ between d and
// e ("description", "input_schema", "output_schema", "annotations",
// "scopes"), in that order.
func (d Digest) Parts(e Digest) []string {
	var out []string
	for _, p := range []struct {
		name string
		a, b string
	}{
		{"description", d.Description, e.Description},
		{"input_schema", d.InputSchema, e.InputSchema},
		{"output_schema", d.OutputSchema, e.OutputSchema},
		{"annotations", d.Annotations, e.Annotations},
		{"scopes", d.Scopes, e.Scopes},
	} {
		if p.a != p.b {
			out = append(out, p.name)
		}
	}
	return out
}

// Change records the definition change that last sent an approved tool
// back to review: the approved hash, the new one, which parts changed
// (Digest.Parts, or "definition" when the approved parts were not
// recorded) and when it was found.
type Change struct {
	FromHash string    `json:"from_hash,omitempty"`
	ToHash   string    `json:"to_hash,omitempty"`
	Parts    []string  `json:"parts,omitempty"`
	At       time.Time `json:"at,omitzero"`
}

// Toolset is a named set of tool names. Names of tools that are unknown or
// not approved are kept but grant nothing, so a toolset may list a tool
// before the catalog has it (or after it was removed) without breaking the
// policy.
type Toolset struct {
	Name  string   `json:"name"`
	Tools []string `json:"tools,omitempty"`
}

// Profile binds toolsets to subjects: users (by sub exactly, or, for an
// entry containing '@', by email compared case-insensitively) and groups (compared exactly; GroupEveryone matches
// every authenticated caller). A disabled profile grants nothing.
// CallsPerMinute is a per-caller limit enforced by the server; 0 means no
// profile limit.
type Profile struct {
	Name           string   `json:"name"`
	Toolsets       []string `json:"toolsets,omitempty"`
	Users          []string `json:"users,omitempty"`
	Groups         []string `json:"groups,omitempty"`
	Disabled       bool     `json:"disabled,omitempty"`
	CallsPerMinute int      `json:"calls_per_minute,omitempty"`
}

// Settings are the policy-wide switches.
type Settings struct {
	// ServerDisabled is the kill switch: while set, every call is denied.
	ServerDisabled bool   `json:"server_disabled,omitempty"`
	DisabledReason string `json:"disabled_reason,omitempty"`
	// DefaultState is the state given to a tool that appears in the catalog
	// for the first time. Empty means StatePendingReview.
	DefaultState State `json:"default_state,omitempty"`
}

// Client is an OAuth client an administrator switched off (gateway mode's
// kill switch, make client-disable): its tokens stop working within the
// policy TTL, without any per-call lookup. Only disabled and pre-registered
// (make client-add) clients are listed.
type Client struct {
	Name     string `json:"name,omitempty"`
	Disabled bool   `json:"disabled"`
	// Closed says the authorization server closed the client after it
	// went unused (KITEGATE_CLIENT_IDLE_CLOSE); it is also Disabled.
	Closed bool `json:"closed,omitempty"`
	// Removed says an administrator removed the pre-registered client
	// (make client-remove); it is also Disabled, so tokens issued to it
	// stop working within the policy TTL.
	Removed   bool      `json:"removed,omitempty"`
	Note      string    `json:"note,omitempty"`
	ChangedBy string    `json:"changed_by,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
}

// User is a person an administrator switched off (make user-disable), by
// OIDC sub or by verified email: every call of theirs is denied within the
// policy TTL, without any per-call lookup. Only disabled users are listed.
type User struct {
	Disabled  bool      `json:"disabled"`
	Note      string    `json:"note,omitempty"`
	ChangedBy string    `json:"changed_by,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
}

// Policy is the whole governance state as plain data: what stores load and
// save. Map keys must equal the Name of their value. Version is bumped by
// the store on every successful Apply.
type Policy struct {
	Version  int64              `json:"version"`
	Tools    map[string]Tool    `json:"tools,omitempty"`
	Toolsets map[string]Toolset `json:"toolsets,omitempty"`
	Profiles map[string]Profile `json:"profiles,omitempty"`
	Settings Settings           `json:"settings"`
	// Clients are the OAuth clients switched off or pre-registered, by
	// client id.
	Clients map[string]Client `json:"clients,omitempty"`
	// Users are the people switched off, by sub or lower-case email.
	Users map[string]User `json:"users,omitempty"`
}

// Subject is who asks. The MCP server builds it from its verified caller.
type Subject struct {
	ID     string // the OIDC sub
	Email  string
	Groups []string
	// ClientID is the OAuth client the caller's token was issued to, when known.
	ClientID string
}

// Clone returns a deep copy of p, so that neither copy can change the other.
func (p Policy) Clone() Policy {
	out := Policy{Version: p.Version, Settings: p.Settings, Clients: maps.Clone(p.Clients), Users: maps.Clone(p.Users)}
	if p.Tools != nil {
		out.Tools = make(map[string]Tool, len(p.Tools))
		for k, t := range p.Tools {
			t.Scopes = slices.Clone(t.Scopes)
			t.Change.Parts = slices.Clone(t.Change.Parts)
			out.Tools[k] = t
		}
	}
	if p.Toolsets != nil {
		out.Toolsets = make(map[string]Toolset, len(p.Toolsets))
		for k, ts := range p.Toolsets {
			ts.Tools = slices.Clone(ts.Tools)
			out.Toolsets[k] = ts
		}
	}
	if p.Profiles != nil {
		out.Profiles = make(map[string]Profile, len(p.Profiles))
		for k, pr := range p.Profiles {
			pr.Toolsets = slices.Clone(pr.Toolsets)
			pr.Users = slices.Clone(pr.Users)
			pr.Groups = slices.Clone(pr.Groups)
			out.Profiles[k] = pr
		}
	}
	return out
}

// ValidToolName reports whether name is a tool name: lower-case letters,
// digits and underscores, starting with a letter, at most 64 bytes.
func ValidToolName(name string) bool {
	if name == "" || len(name) > 64 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// ValidSetName reports whether name is a toolset or profile name:
// lower-case letters, digits, '-' and '_', starting with a letter or digit,
// at most 64 bytes.
func ValidSetName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		if !alnum && (i == 0 || (c != '-' && c != '_')) {
			return false
		}
	}
	return true
}

// ValidSubjectEntry reports whether a user or group entry is usable: not
// empty, no surrounding or control whitespace, at most 256 bytes.
func ValidSubjectEntry(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// validate checks p's structure: names, states, classes, map keys, and that
// every toolset named by a profile exists. It returns all problems joined,
// each naming its item.
func (p Policy) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if p.Settings.DefaultState != "" && !ValidDefaultState(p.Settings.DefaultState) {
		add("settings: default_state %q is not one of pending_review, approved, disabled", p.Settings.DefaultState)
	}
	for _, k := range sortedKeys(p.Tools) {
		t := p.Tools[k]
		if t.Name != k {
			add("tool %q: stored under key %q", t.Name, k)
		}
		if !ValidToolName(k) {
			add("tool %q: name must be lower-case letters, digits and '_', starting with a letter, at most 64 bytes", k)
		}
		if !t.State.Valid() {
			add("tool %q: state %q is not one of pending_review, approved, disabled, removed, unavailable", k, t.State)
		}
		if t.ResumeState != "" && !ValidDefaultState(t.ResumeState) {
			add("tool %q: resume_state %q is not one of pending_review, approved, disabled", k, t.ResumeState)
		}
		if t.Class != "" && !t.Class.Valid() {
			add("tool %q: class %q is not one of read, write, destructive", k, t.Class)
		}
	}
	for _, k := range sortedKeys(p.Clients) {
		if k == "" || len(k) > 512 {
			add("client %q: the id must be 1 to 512 bytes", k)
		}
	}
	for _, k := range sortedKeys(p.Users) {
		if k == "" || len(k) > 512 {
			add("user %q: the sub or email must be 1 to 512 bytes", k)
		}
	}
	for _, k := range sortedKeys(p.Toolsets) {
		ts := p.Toolsets[k]
		if ts.Name != k {
			add("toolset %q: stored under key %q", ts.Name, k)
		}
		if k == ToolsetAllApproved || k == ToolsetReadOnly {
			add("toolset %q: the name is reserved for an automatic toolset", k)
		} else if !ValidSetName(k) {
			add("toolset %q: name must be lower-case letters, digits, '-' and '_', at most 64 bytes", k)
		}
		for _, name := range ts.Tools {
			if !ValidToolName(name) {
				add("toolset %q: tool name %q is not a valid tool name", k, name)
			}
		}
	}
	for _, k := range sortedKeys(p.Profiles) {
		pr := p.Profiles[k]
		if pr.Name != k {
			add("profile %q: stored under key %q", pr.Name, k)
		}
		if !ValidSetName(k) {
			add("profile %q: name must be lower-case letters, digits, '-' and '_', at most 64 bytes", k)
		}
		for _, ts := range pr.Toolsets {
			_, stored := p.Toolsets[ts]
			if !stored && ts != ToolsetAllApproved && ts != ToolsetReadOnly {
				add("profile %q: unknown toolset %q", k, ts)
			}
		}
		for _, u := range pr.Users {
			switch {
			case u == GroupEveryone:
				add("profile %q: user %q is not allowed; bind everyone with groups: [\"*\"]", k, u)
			case !ValidSubjectEntry(u):
				add("profile %q: user %q must be a non-empty sub or email without spaces", k, u)
			}
		}
		for _, g := range pr.Groups {
			if !ValidSubjectEntry(g) {
				add("profile %q: group %q must be non-empty and without spaces", k, g)
			}
		}
		if pr.CallsPerMinute < 0 {
			add("profile %q: calls_per_minute %d must not be negative", k, pr.CallsPerMinute)
		}
	}
	return errs
}

// ValidDefaultState reports whether s may be given to new tools: the system
// states removed and unavailable may not.
func ValidDefaultState(s State) bool {
	return s == StatePendingReview || s == StateApproved || s == StateDisabled
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Store loads and saves the policy. The stores are in policystore.
type Store interface {
	// Load returns the current policy. An empty store returns a Policy with
	// Version 0, which denies every call.
	Load(ctx context.Context) (Policy, error)
	// Apply stores p if the current version equals p.Version and bumps the
	// version (optimistic concurrency); it returns ErrConflict otherwise.
	// p must pass NewSnapshot. Tools whose state, definition or note
	// changed are stamped with actor and the time. Apply returns the policy
	// as stored.
	Apply(ctx context.Context, p Policy, actor string) (Policy, error)
}

// ErrConflict is returned by Apply when the policy changed since it was loaded.
var ErrConflict = errors.New("policy changed since it was loaded")

// conflictRetries bounds how often Modify retries when another change
// landed between its load and its apply.
const conflictRetries = 3

// Modify applies change to the current policy and stores it as actor,
// retrying on a concurrent change, and returns the new policy version;
// change returns false when there is nothing to do (nothing is stored).
func Modify(ctx context.Context, store Store, actor string, change func(p *Policy) bool) (int64, error) {
	for attempt := 1; ; attempt++ {
		p, err := store.Load(ctx)
		if err != nil {
			return 0, err
		}
		if p.Clients == nil {
			p.Clients = map[string]Client{}
		}
		if !change(&p) {
			return p.Version, nil
		}
		stored, err := store.Apply(ctx, p, actor)
		if errors.Is(err, ErrConflict) && attempt < conflictRetries {
			continue
		}
		if err != nil {
			return 0, err
		}
		return stored.Version, nil
	}
}

// ClosedBy is who a client closed after going unused was closed by, in the
// policy and so in the audit (changed_by).
const ClosedBy = "kitegate (client unused for longer than KITEGATE_CLIENT_IDLE_CLOSE)"

// CloseClient records in the policy that the authorization server closed a
// client after it went unused for idle: a CLIENT item, closed and disabled,
// so the change is audited like every client change (the policy stream)
// and the client's access tokens stop working within the policy TTL.
// make client-enable opens it again. A client already disabled stays as
// it is.
func CloseClient(ctx context.Context, store Store, id, name string, idle time.Duration, now time.Time) error {
	_, err := Modify(ctx, store, ClosedBy, func(p *Policy) bool {
		if p.Clients[id].Disabled {
			return false
		}
		p.Clients[id] = Client{Name: name, Disabled: true, Closed: true, Note: fmt.Sprintf("closed after going unused for %s", idle), ChangedBy: ClosedBy, ChangedAt: now.UTC()}
		return true
	})
	if err != nil {
		return fmt.Errorf("record the closed client %s in the policy: %w", id, err)
	}
	return nil
}
