package auditstream

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitegate/kitegate/internal/tables"
)

// Kinds of policy change, one per policy-table stream record.
const (
	ChangeToolApproved    = "tool_approved"
	ChangeToolDisabled    = "tool_disabled"
	ChangeToolPending     = "tool_pending"
	ChangeToolRemoved     = "tool_removed"
	ChangeToolUnavailable = "tool_unavailable"
	ChangeToolChanged     = "tool_changed" // same state, other fields (hash, scopes, note)
	ChangeToolDeleted     = "tool_deleted" // the item itself is gone
	ChangeToolsetCreated  = "toolset_created"
	ChangeToolsetChanged  = "toolset_changed"
	ChangeToolsetDeleted  = "toolset_deleted"
	ChangeProfileBound    = "profile_bound"   // a new profile, or only added toolsets/users/groups
	ChangeProfileUnbound  = "profile_unbound" // a deleted profile, or only removed bindings
	ChangeProfileChanged  = "profile_changed"
	ChangeKillSwitch      = "kill_switch_flipped" // server_disabled, or a profile's disabled
	ChangeClientAdded     = "client_added"        // a pre-registered OAuth client (make client-add)
	ChangeClientClosed    = "client_closed"       // closed by the authorization server after going unused
	ChangeClientRemoved   = "client_removed"      // a pre-registered OAuth client removed (make client-remove)
	ChangeSettingsChanged = "settings_changed"
	ChangeSettingsDeleted = "settings_deleted"
	ChangeVersionBumped   = "version_bumped"
	ChangeVersionDeleted  = "version_deleted"
	ChangeUnknownItem     = "unknown_item_changed" // an sk the policy does not know: it denies every call until fixed
)

// UnknownActor is PolicyChange.ChangedBy when the change did not say who
// made it: an edit in the console, or any write that did not set changed_by.
const UnknownActor = "unknown (console or direct write)"

// The policy table's item shapes (internal/policy, docs/tables.md).
const (
	unknownActorDeleted    = "unknown (item deleted; a kitegate command names its actor on the VERSION change beside it)"
	policyStampBy          = tables.PolicyChangedBy
	policyStampAt          = tables.PolicyChangedAt
	policySKVersion        = tables.PolicyVersionSK
	policySKSettings       = tables.PolicySettingsSK
	policySKToolPrefix     = tables.PolicyToolPrefix
	policySKToolsetPrefix  = tables.PolicyToolsetPrefix
	policySKProfilePrefix  = tables.PolicyProfilePrefix
	policySKClientPrefix   = tables.PolicyClientPrefix
	policySKUserPrefix     = tables.PolicyUserPrefix
	policyAttrState        = "state"
	policyAttrDisabled     = "disabled"
	policyAttrClosed       = "closed"
	policyAttrRemoved      = "removed"
	policyAttrServerOff    = "server_disabled"
	policyAttrVersion      = tables.PolicyVersion
	streamInsert           = "INSERT"
	streamModify           = "MODIFY"
	streamRemove           = "REMOVE"
	policyBindingToolsets  = "toolsets"
	policyBindingUsers     = "users"
	policyBindingGroups    = "groups"
	toolStateApproved      = "approved"
	toolStateDisabled      = "disabled"
	toolStatePendingReview = "pending_review"
	toolStateRemoved       = "removed"
	toolStateUnavailable   = "unavailable"
)

// PolicyChange is one change to one policy-table item, as its stream
// record tells it: what kind of change, the field-by-field diff, and who
// made it when the writer said so.
type PolicyChange struct {
	// Kind is one of the Change* constants.
	Kind string `json:"kind"`
	// Item is the item's sort key (TOOL#create_build); Target says the
	// same for people ("tool create_build").
	Item   string `json:"item"`
	Target string `json:"target"`
	// Operation is the stream's INSERT, MODIFY or REMOVE.
	Operation string `json:"operation"`
	// ChangedBy is the item's changed_by when the writer set it for this
	// change, else UnknownActor (a console or other direct write).
	ChangedBy string `json:"changed_by"`
	ChangedAt string `json:"changed_at,omitempty"`
	// Diff is one "field: old → new" line per changed attribute (sorted;
	// the changed_by/changed_at stamps are left out: ChangedBy says who).
	Diff    []string       `json:"diff"`
	Summary string         `json:"summary"`
	Old     map[string]any `json:"old,omitempty"`
	New     map[string]any `json:"new,omitempty"`
}

// DescribePolicyChange tells what a policy-table stream record changed. op
// is the stream's eventName; old or new is nil when the item did not exist
// before (INSERT) or after (REMOVE). sk is the item's sort key.
func DescribePolicyChange(op, sk string, old, new map[string]types.AttributeValue) PolicyChange {
	c := PolicyChange{Item: sk, Operation: op, Old: plainItem(old), New: plainItem(new)}
	c.Diff = diffItems(old, new)
	c.ChangedBy, c.ChangedAt = changedBy(op, old, new, len(c.Diff) > 0)
	var what string
	c.Kind, c.Target, what = policyKind(op, sk, old, new)
	by := c.ChangedBy
	if by == UnknownActor || by == unknownActorDeleted {
		by = "an unknown actor (console or direct write)"
	}
	c.Summary = fmt.Sprintf("%s %s by %s", c.Target, what, by)
	if len(c.Diff) == 0 && op == streamModify {
		c.Summary += " (no content change)"
	}
	return c
}

// policyKind names the change and its target, and says what happened in
// a few words for the summary.
func policyKind(op, sk string, old, new map[string]types.AttributeValue) (kind, target, what string) {
	switch {
	case sk == policySKVersion:
		target = "policy version"
		if op == streamRemove {
			return ChangeVersionDeleted, target, "deleted"
		}
		return ChangeVersionBumped, target, fmt.Sprintf("moved from %s to %s", show(old[policyAttrVersion]), show(new[policyAttrVersion]))
	case sk == policySKSettings:
		target = "settings"
		if op == streamRemove {
			return ChangeSettingsDeleted, target, "deleted (the server is enabled by default)"
		}
		if boolean(old, policyAttrServerOff) != boolean(new, policyAttrServerOff) {
			if boolean(new, policyAttrServerOff) {
				return ChangeKillSwitch, "server kill switch", "turned on: every call is denied"
			}
			return ChangeKillSwitch, "server kill switch", "turned off: calls are decided by policy again"
		}
		return ChangeSettingsChanged, target, "changed"
	case strings.HasPrefix(sk, policySKToolPrefix):
		target = "tool " + strings.TrimPrefix(sk, policySKToolPrefix)
		if op == streamRemove {
			return ChangeToolDeleted, target, "deleted from the policy table"
		}
		state := str(new, policyAttrState)
		if op == streamModify && state == str(old, policyAttrState) {
			return ChangeToolChanged, target, "changed (state stays " + show(new[policyAttrState]) + ")"
		}
		switch state {
		case toolStateApproved:
			return ChangeToolApproved, target, "approved"
		case toolStateDisabled:
			return ChangeToolDisabled, target, "disabled"
		case toolStatePendingReview:
			return ChangeToolPending, target, "set to pending review"
		case toolStateRemoved:
			return ChangeToolRemoved, target, "marked removed"
		case toolStateUnavailable:
			return ChangeToolUnavailable, target, "marked unavailable"
		}
		return ChangeToolChanged, target, "set to an unknown state " + show(new[policyAttrState])
	case strings.HasPrefix(sk, policySKToolsetPrefix):
		target = "toolset " + strings.TrimPrefix(sk, policySKToolsetPrefix)
		switch op {
		case streamInsert:
			return ChangeToolsetCreated, target, "created"
		case streamRemove:
			return ChangeToolsetDeleted, target, "deleted"
		}
		return ChangeToolsetChanged, target, "changed"
	case strings.HasPrefix(sk, policySKClientPrefix):
		// An OAuth client's kill switch (make client-disable, client-enable).
		target = "client " + strings.TrimPrefix(sk, policySKClientPrefix)
		if (op == streamInsert || boolean(old, policyAttrRemoved)) && op != streamRemove && !boolean(new, policyAttrDisabled) {
			return ChangeClientAdded, target, "pre-registered"
		}
		if op != streamRemove && boolean(new, policyAttrRemoved) {
			return ChangeClientRemoved, target, "removed (its refresh tokens are revoked, its tokens stop working)"
		}
		if op != streamRemove && boolean(new, policyAttrClosed) {
			return ChangeClientClosed, target, "closed after going unused (its refresh tokens are revoked, its tokens stop working)"
		}
		if op != streamRemove && boolean(new, policyAttrDisabled) {
			return ChangeKillSwitch, target, "disabled (kill switch on: its tokens stop working)"
		}
		return ChangeKillSwitch, target, "enabled (kill switch off)"
	case strings.HasPrefix(sk, policySKUserPrefix):
		// A person's kill switch (make user-disable, user-enable).
		target = "user " + strings.TrimPrefix(sk, policySKUserPrefix)
		if op != streamRemove && boolean(new, policyAttrDisabled) {
			return ChangeKillSwitch, target, "disabled (kill switch on: their tokens stop working)"
		}
		return ChangeKillSwitch, target, "enabled (kill switch off)"
	case strings.HasPrefix(sk, policySKProfilePrefix):
		target = "profile " + strings.TrimPrefix(sk, policySKProfilePrefix)
		switch op {
		case streamInsert:
			return ChangeProfileBound, target, "bound"
		case streamRemove:
			return ChangeProfileUnbound, target, "unbound (deleted)"
		}
		if boolean(old, policyAttrDisabled) != boolean(new, policyAttrDisabled) {
			if boolean(new, policyAttrDisabled) {
				return ChangeKillSwitch, target, "disabled (kill switch on)"
			}
			return ChangeKillSwitch, target, "enabled (kill switch off)"
		}
		var added, removed bool
		for _, attr := range []string{policyBindingToolsets, policyBindingUsers, policyBindingGroups} {
			a, r := setDiff(stringList(old, attr), stringList(new, attr))
			added, removed = added || len(a) > 0, removed || len(r) > 0
		}
		switch {
		case added && !removed:
			return ChangeProfileBound, target, "bound to more toolsets or people"
		case removed && !added:
			return ChangeProfileUnbound, target, "unbound from toolsets or people"
		}
		return ChangeProfileChanged, target, "changed"
	}
	return ChangeUnknownItem, "unknown policy item " + sk, "changed (the policy cannot read this item: calls are denied until it is fixed)"
}

// changedBy says who made the change. A writer that goes through kitegate
// stamps changed_by and changed_at on the item it writes; a console edit
// usually leaves the old stamps in place, so a changed item whose stamps
// did not move was not stamped by this change.
func changedBy(op string, old, new map[string]types.AttributeValue, contentChanged bool) (by, at string) {
	if op == streamRemove {
		return unknownActorDeleted, ""
	}
	by, at = str(new, policyStampBy), str(new, policyStampAt)
	if by == "" {
		return UnknownActor, at
	}
	if op == streamModify && contentChanged && by == str(old, policyStampBy) && at == str(old, policyStampAt) {
		return UnknownActor, ""
	}
	return by, at
}

// diffItems lists "field: old → new" for every attribute that differs,
// sorted by field; list attributes also say what was added and removed.
func diffItems(old, new map[string]types.AttributeValue) []string {
	fields := map[string]bool{}
	for k := range old {
		fields[k] = true
	}
	for k := range new {
		fields[k] = true
	}
	for _, skip := range []string{tables.PolicyPK, tables.PolicySK, policyStampBy, policyStampAt} {
		delete(fields, skip)
	}
	out := []string{}
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		o, n := old[f], new[f]
		so, sn := show(o), show(n)
		if so == sn && sameType(o, n) {
			continue
		}
		line := fmt.Sprintf("%s: %s → %s", f, so, sn)
		if isList(o) || isList(n) {
			a, r := setDiff(stringList(old, f), stringList(new, f))
			var parts []string
			for _, x := range a {
				parts = append(parts, "+"+x)
			}
			for _, x := range r {
				parts = append(parts, "-"+x)
			}
			if len(parts) > 0 {
				line += " (" + strings.Join(parts, " ") + ")"
			}
		}
		out = append(out, line)
	}
	return out
}

func sameType(a, b types.AttributeValue) bool {
	return fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b)
}

func isList(v types.AttributeValue) bool {
	switch v.(type) {
	case *types.AttributeValueMemberL, *types.AttributeValueMemberSS:
		return true
	}
	return false
}

// setDiff returns what is in to but not in from (added) and the reverse.
func setDiff(from, to []string) (added, removed []string) {
	for _, x := range to {
		if !slices.Contains(from, x) {
			added = append(added, x)
		}
	}
	for _, x := range from {
		if !slices.Contains(to, x) {
			removed = append(removed, x)
		}
	}
	return added, removed
}
