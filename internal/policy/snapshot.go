package policy

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// Reason codes of a Decision. They are stable, machine-readable, and end up
// in the audit log.
const (
	ReasonAllowed           = "allowed"
	ReasonPolicyUnavailable = "policy_unavailable"
	ReasonServerDisabled    = "server_disabled"
	ReasonToolUnknown       = "tool_unknown"
	ReasonToolPendingReview = "tool_pending_review"
	ReasonToolDisabled      = "tool_disabled"
	ReasonToolRemoved       = "tool_removed"
	ReasonToolUnavailable   = "tool_unavailable"
	ReasonNoProfile         = "no_profile"
	ReasonProfileDisabled   = "profile_disabled"
	ReasonNotInToolset      = "not_in_toolset"
	ReasonClientDisabled    = "client_disabled"
	ReasonUserDisabled      = "user_disabled"
)

// Decision is the outcome of Decide.
type Decision struct {
	Allowed bool
	// Reason is one of the Reason* codes.
	Reason string
	// Detail is a sentence for people (logs, audit, operator tools).
	Detail string
	// Profiles are, sorted, the profiles that granted the call when it is
	// allowed, otherwise the caller's profiles that were considered (for
	// profile_disabled, the disabled ones).
	Profiles []string
}

// Snapshot is an immutable, indexed view of a Policy, built once per load.
// Its methods are safe for concurrent use and allocate little. A nil
// *Snapshot is valid and denies everything (fail closed).
type Snapshot struct {
	policy   Policy
	tools    map[string]toolEntry
	approved []string // approved tool names, sorted; bit i of a toolBits is approved[i]
	toolsets map[string]Toolset

	profiles     []profileEntry // sorted by name; bit i of a profile set is profiles[i]
	profileIdx   map[string]int
	bySub        map[string][]int // user entry, exact
	byEmail      map[string][]int // user entry, in CanonicalEmail form
	byGroup      map[string][]int
	everyone     []int
	profileWords int
}

type toolEntry struct {
	tool Tool
	bit  int // index into approved, or -1
}

type profileEntry struct {
	profile Profile
	tools   []uint64 // bitset over Snapshot.approved
}

// NewSnapshot validates p and indexes it. A profile naming a toolset that
// does not exist is an error, as are invalid names, states and classes and
// stored toolsets using an automatic toolset's name. A toolset naming a
// tool the policy does not know is accepted and that entry grants nothing:
// catalogs change under stored toolsets, and an unknown tool is denied
// anyway. The automatic toolsets all-approved and read-only are computed
// here. NewSnapshot keeps its own deep copy of p.
func NewSnapshot(p Policy) (*Snapshot, error) {
	if errs := p.validate(); len(errs) > 0 {
		return nil, fmt.Errorf("policy version %d: %w", p.Version, errors.Join(errs...))
	}
	p = p.Clone()
	s := &Snapshot{
		policy:     p,
		tools:      make(map[string]toolEntry, len(p.Tools)),
		toolsets:   make(map[string]Toolset, len(p.Toolsets)+2),
		profileIdx: make(map[string]int, len(p.Profiles)),
		bySub:      make(map[string][]int),
		byEmail:    make(map[string][]int),
		byGroup:    make(map[string][]int),
	}

	var readOnly []string
	for _, name := range sortedKeys(p.Tools) {
		t := p.Tools[name]
		bit := -1
		if t.State == StateApproved {
			bit = len(s.approved)
			s.approved = append(s.approved, name)
			if t.Class == ClassRead {
				readOnly = append(readOnly, name)
			}
		}
		s.tools[name] = toolEntry{tool: t, bit: bit}
	}
	for name, ts := range p.Toolsets {
		s.toolsets[name] = ts
	}
	s.toolsets[ToolsetAllApproved] = Toolset{Name: ToolsetAllApproved, Tools: slices.Clone(s.approved)}
	s.toolsets[ToolsetReadOnly] = Toolset{Name: ToolsetReadOnly, Tools: readOnly}

	words := (len(s.approved) + 63) / 64
	for i, name := range sortedKeys(p.Profiles) {
		pr := p.Profiles[name]
		e := profileEntry{profile: pr, tools: make([]uint64, words)}
		for _, tsName := range pr.Toolsets {
			for _, tool := range s.toolsets[tsName].Tools {
				if te, ok := s.tools[tool]; ok && te.bit >= 0 {
					e.tools[te.bit/64] |= 1 << (te.bit % 64)
				}
			}
		}
		s.profiles = append(s.profiles, e)
		s.profileIdx[name] = i
		for _, u := range pr.Users {
			s.bySub[u] = appendOnce(s.bySub[u], i)
			if cu, ok := CanonicalEmail(u); ok { // only an email-shaped entry can match an email
				s.byEmail[cu] = appendOnce(s.byEmail[cu], i)
			}
		}
		for _, g := range pr.Groups {
			if g == GroupEveryone {
				s.everyone = appendOnce(s.everyone, i)
				continue
			}
			s.byGroup[g] = appendOnce(s.byGroup[g], i)
		}
	}
	s.profileWords = (len(s.profiles) + 63) / 64
	return s, nil
}

func appendOnce(s []int, i int) []int {
	if len(s) > 0 && s[len(s)-1] == i {
		return s
	}
	return append(s, i)
}

// Version is the version of the policy the snapshot was built from; 0 for nil.
func (s *Snapshot) Version() int64 {
	if s == nil {
		return 0
	}
	return s.policy.Version
}

// Settings returns the policy-wide settings.
func (s *Snapshot) Settings() Settings {
	if s == nil {
		return Settings{}
	}
	return s.policy.Settings
}

// Tool returns the named tool as stored.
func (s *Snapshot) Tool(name string) (Tool, bool) {
	if s == nil {
		return Tool{}, false
	}
	e, ok := s.tools[name]
	if !ok {
		return Tool{}, false
	}
	t := e.tool
	t.Scopes = slices.Clone(t.Scopes)
	return t, true
}

// Toolset returns the named toolset, including the automatic all-approved
// and read-only toolsets with their computed contents. Tools are as stored
// (automatic ones sorted).
func (s *Snapshot) Toolset(name string) (Toolset, bool) {
	if s == nil {
		return Toolset{}, false
	}
	ts, ok := s.toolsets[name]
	if !ok {
		return Toolset{}, false
	}
	ts.Tools = slices.Clone(ts.Tools)
	return ts, true
}

// Profile returns the named profile (enabled or not).
func (s *Snapshot) Profile(name string) (Profile, bool) {
	if s == nil {
		return Profile{}, false
	}
	i, ok := s.profileIdx[name]
	if !ok {
		return Profile{}, false
	}
	pr := s.profiles[i].profile
	pr.Toolsets = slices.Clone(pr.Toolsets)
	pr.Users = slices.Clone(pr.Users)
	pr.Groups = slices.Clone(pr.Groups)
	return pr, true
}

// Policy returns a deep copy of the policy the snapshot was built from.
func (s *Snapshot) Policy() Policy {
	if s == nil {
		return Policy{}
	}
	return s.policy.Clone()
}

// profileSet is a bitset over Snapshot.profiles.
type profileSet []uint64

func (ps profileSet) add(is []int) {
	for _, i := range is {
		ps[i/64] |= 1 << (i % 64)
	}
}

// each calls f for every member in ascending (name) order.
func (ps profileSet) each(f func(i int)) { eachBit(ps, f) }

// match returns every profile, enabled or not, that sub belongs to. It
// uses buf when it is large enough, so that small policies match without
// allocating.
func (s *Snapshot) match(sub Subject, buf []uint64) profileSet {
	var ps profileSet
	if s.profileWords <= len(buf) {
		ps = buf[:s.profileWords]
		clear(ps)
	} else {
		ps = make(profileSet, s.profileWords)
	}
	if sub.ID != "" {
		ps.add(s.bySub[sub.ID])
		ps.add(s.everyone)
	}
	if ce, ok := CanonicalEmail(sub.Email); ok {
		ps.add(s.byEmail[ce])
	}
	for _, g := range sub.Groups {
		ps.add(s.byGroup[g])
	}
	return ps
}

// CanonicalEmail is the one form in which emails are compared: ASCII
// letters lower-cased, nothing else changed. It refuses (ok false) an
// address with a byte outside printable ASCII or without exactly one '@'
// between non-empty parts, so no other address can map onto an entry:
// Unicode case folding would turn KELVIN SIGN into k and İ into i.
// It does not allocate when s is already canonical.
func CanonicalEmail(s string) (string, bool) {
	at, upper := -1, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c >= 0x7f:
			return "", false
		case c == '@':
			if at >= 0 {
				return "", false
			}
			at = i
		case c >= 'A' && c <= 'Z':
			upper = true
		}
	}
	if at <= 0 || at == len(s)-1 {
		return "", false
	}
	if !upper {
		return s, true
	}
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b), true
}

// Profiles returns, sorted, the enabled profiles sub belongs to: by a user
// entry equal to sub.ID, or by a user entry containing '@' equal to
// sub.Email ignoring case, by group (exactly), or by the "*" group when
// sub.ID is not empty. The email claim must have been verified by whoever
// built sub.
func (s *Snapshot) Profiles(sub Subject) []string {
	if s == nil || s.ClientDisabled(sub.ClientID) || s.UserDisabled(sub) {
		return nil
	}
	var buf [4]uint64
	ps := s.match(sub, buf[:])
	var out []string
	ps.each(func(i int) {
		if !s.profiles[i].profile.Disabled {
			out = append(out, s.profiles[i].profile.Name)
		}
	})
	return out
}

// ClientDisabled reports whether the OAuth client id is switched off.
func (s *Snapshot) ClientDisabled(id string) bool {
	if s == nil || id == "" {
		return false
	}
	c, ok := s.policy.Clients[id]
	return ok && c.Disabled
}

// UserDisabled reports whether sub is switched off, by its sub or its
// (verified) email.
func (s *Snapshot) UserDisabled(sub Subject) bool {
	if s == nil || len(s.policy.Users) == 0 {
		return false
	}
	if u, ok := s.policy.Users[sub.ID]; ok && sub.ID != "" && u.Disabled {
		return true
	}
	if sub.Email == "" {
		return false
	}
	u, ok := s.policy.Users[strings.ToLower(sub.Email)]
	return ok && u.Disabled
}

// Allowed returns, sorted, the tools callable through the named profiles:
// approved tools in a toolset of an enabled profile, and none at all while
// the server is disabled. Unknown and disabled profile names are ignored.
// For every tool t and subject sub, t is in Allowed(Profiles(sub)) exactly
// when Decide(sub, t) allows it.
func (s *Snapshot) Allowed(profiles []string) []string {
	if s == nil || s.policy.Settings.ServerDisabled || len(s.approved) == 0 {
		return nil
	}
	var inline [4]uint64
	set := s.granted(profiles, inline[:], nil)
	n := 0
	for _, word := range set {
		n += bits.OnesCount64(word)
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	eachBit(set, func(bit int) { out = append(out, s.approved[bit]) })
	return out
}

// granted returns the approved tools (a bitset over approved, in buf when
// it is large enough) that the enabled ones of profiles grant, calling
// enabled, when not nil, with the index of each of those profiles.
func (s *Snapshot) granted(profiles []string, buf []uint64, enabled func(i int)) []uint64 {
	words := (len(s.approved) + 63) / 64
	var set []uint64
	if words <= len(buf) {
		set = buf[:words]
		clear(set)
	} else {
		set = make([]uint64, words)
	}
	for _, name := range profiles {
		i, ok := s.profileIdx[name]
		if !ok || s.profiles[i].profile.Disabled {
			continue
		}
		for w, word := range s.profiles[i].tools {
			set[w] |= word
		}
		if enabled != nil {
			enabled(i)
		}
	}
	return set
}

// eachBit calls f with every bit set in set, in ascending order.
func eachBit(set []uint64, f func(bit int)) {
	for w, word := range set {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			f(w*64 + b)
			word &^= 1 << b
		}
	}
}

// Grant is one tool callable through a set of profiles, with the profiles
// that grant it.
type Grant struct {
	Tool string
	// Profiles are, sorted, the enabled profiles whose toolsets contain Tool.
	Profiles []string
}

// Decision is the decision a call of g's tool gets.
func (g Grant) Decision() Decision {
	return Decision{Allowed: true, Reason: ReasonAllowed, Detail: "tool " + g.Tool + " is granted by profile " + strings.Join(g.Profiles, ", "), Profiles: g.Profiles}
}

// Grants is Allowed with the profiles granting each tool, sorted by tool:
// for every tool t and subject sub, Grants(Profiles(sub)) holds t exactly
// when Decide(sub, t) allows it, and its Decision is Decide's. A caller
// that computes it once per profile set decides every call of that set by
// a lookup.
func (s *Snapshot) Grants(profiles []string) []Grant {
	if s == nil || s.policy.Settings.ServerDisabled || len(s.approved) == 0 {
		return nil
	}
	var enabled []int
	set := s.granted(profiles, nil, func(i int) { enabled = append(enabled, i) })
	// Index order is name order: the granting profiles come out sorted.
	slices.Sort(enabled)
	enabled = slices.Compact(enabled)
	var out []Grant
	eachBit(set, func(bit int) {
		word, mask := bit/64, uint64(1)<<(bit%64)
		g := Grant{Tool: s.approved[bit]}
		for _, i := range enabled {
			if s.profiles[i].tools[word]&mask != 0 {
				g.Profiles = append(g.Profiles, s.profiles[i].profile.Name)
			}
		}
		out = append(out, g)
	})
	return out
}

// Decide is the rule every call goes through:
//
//	allowed ⇔ server enabled ∧ tool known ∧ tool approved ∧
//	          ∃ enabled profile of sub whose toolsets contain the tool
//
// The checks run in that order and the first failing one gives the Reason.
// Anything unknown denies; a nil Snapshot denies with policy_unavailable.
func (s *Snapshot) Decide(sub Subject, tool string) Decision {
	if s == nil {
		return Decision{Reason: ReasonPolicyUnavailable, Detail: "no policy is loaded, so every call is denied"}
	}
	if s.policy.Settings.ServerDisabled {
		d := Decision{Reason: ReasonServerDisabled, Detail: "the server is disabled by an administrator"}
		if r := s.policy.Settings.DisabledReason; r != "" {
			d.Detail += ": " + r
		}
		return d
	}
	if s.ClientDisabled(sub.ClientID) {
		return Decision{Reason: ReasonClientDisabled, Detail: "the client this token was issued to is disabled by an administrator"}
	}
	if s.UserDisabled(sub) {
		return Decision{Reason: ReasonUserDisabled, Detail: "your access is disabled by an administrator"}
	}
	e, ok := s.tools[tool]
	if !ok {
		return Decision{Reason: ReasonToolUnknown, Detail: "tool " + quoteName(tool) + " is not in the policy"}
	}
	switch e.tool.State {
	case StateApproved:
	case StatePendingReview:
		return Decision{Reason: ReasonToolPendingReview, Detail: "tool " + tool + " is waiting for an administrator's review"}
	case StateDisabled:
		return Decision{Reason: ReasonToolDisabled, Detail: "tool " + tool + " is disabled by an administrator"}
	case StateRemoved:
		return Decision{Reason: ReasonToolRemoved, Detail: "tool " + tool + " is no longer in this server's catalog"}
	default: // StateUnavailable; NewSnapshot rejects anything else
		return Decision{Reason: ReasonToolUnavailable, Detail: "tool " + tool + " needs Buildkite token scopes the server's token lacks"}
	}

	var buf [4]uint64
	ps := s.match(sub, buf[:])
	var enabled, disabled, granting int
	word, mask := e.bit/64, uint64(1)<<(e.bit%64)
	ps.each(func(i int) {
		p := &s.profiles[i]
		switch {
		case p.profile.Disabled:
			disabled++
		case p.tools[word]&mask != 0:
			enabled++
			granting++
		default:
			enabled++
		}
	})
	switch {
	case granting > 0:
		names := s.names(ps, granting, func(p *profileEntry) bool { return !p.profile.Disabled && p.tools[word]&mask != 0 })
		return Grant{Tool: tool, Profiles: names}.Decision()
	case enabled > 0:
		names := s.names(ps, enabled, func(p *profileEntry) bool { return !p.profile.Disabled })
		return Decision{Reason: ReasonNotInToolset, Detail: "tool " + tool + " is in no toolset of the caller's profiles", Profiles: names}
	case disabled > 0:
		names := s.names(ps, disabled, func(p *profileEntry) bool { return p.profile.Disabled })
		return Decision{Reason: ReasonProfileDisabled, Detail: "every profile of the caller is disabled", Profiles: names}
	default:
		return Decision{Reason: ReasonNoProfile, Detail: "the caller belongs to no access profile"}
	}
}

func (s *Snapshot) names(ps profileSet, n int, keep func(*profileEntry) bool) []string {
	out := make([]string, 0, n)
	ps.each(func(i int) {
		if p := &s.profiles[i]; keep(p) {
			out = append(out, p.profile.Name)
		}
	})
	return out
}

// quoteName quotes a caller-supplied tool name for a Detail, capped so that
// a hostile name cannot bloat logs.
func quoteName(name string) string {
	const max = 80
	if len(name) > max {
		name = name[:max] + "…"
	}
	return fmt.Sprintf("%q", name)
}
