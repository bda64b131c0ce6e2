package audit

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/kitegate/kitegate/internal/redact"
)

// The size of every free-text field of an Event is capped, so that an event
// always fits where it is written: a DynamoDB item (400 KB), the by-user and
// by-tool index keys (2048 bytes), a CloudWatch Logs event (256 KB) for a
// replay line. Callers choose these values (client name, tool name, request
// id, argument names in an error…), so nothing they send may be kept whole.
// The caps sum to well under 64 KB for a whole event.
const (
	// MaxToolBytes caps the tool name (policy names are at most 64).
	MaxToolBytes = 128
	// MaxFieldBytes caps a short text: subject, email, a group, a profile,
	// the client's name, version and id, request ids, reason, outcome.
	MaxFieldBytes = 256
	// MaxErrorBytes caps the error detail.
	MaxErrorBytes = 2048
	// MaxArgumentsBytes caps the arguments as stored (Redact caps them
	// first, at the handler's smaller limit).
	MaxArgumentsBytes = 8 << 10
	// MaxListItems caps the groups and the profiles kept.
	MaxListItems = 64
)

// Bounded returns e with every free-text field redacted (internal/redact:
// the shared token and anything credential-shaped) and capped (see the
// constants).
// A capped text keeps a valid UTF-8 prefix and says how long it was; a list
// keeps at most MaxListItems items, the last saying how many were dropped.
// Applying it twice changes nothing more.
func (e Event) Bounded() Event {
	for _, f := range []struct {
		s *string
		n int
	}{
		{&e.ID, MaxFieldBytes}, {&e.RequestID, MaxFieldBytes}, {&e.CallerRequestID, MaxFieldBytes},
		{&e.User.Subject, MaxFieldBytes}, {&e.User.Email, MaxFieldBytes},
		{&e.Client.Name, MaxFieldBytes}, {&e.Client.Version, MaxFieldBytes}, {&e.Client.ID, MaxFieldBytes},
		{&e.Client.ProtocolVersion, MaxFieldBytes}, {&e.Tool, MaxToolBytes}, {&e.Decision, MaxFieldBytes},
		{&e.Reason, MaxFieldBytes}, {&e.Outcome, MaxFieldBytes}, {&e.Error, MaxErrorBytes},
		{&e.TokenUUID, MaxFieldBytes}, {&e.ServerVersion, MaxFieldBytes},
	} {
		*f.s = clipRedact(*f.s, f.n)
	}
	e.User.Groups = boundList(e.User.Groups)
	e.Profiles = boundList(e.Profiles)
	if len(e.Arguments) > MaxArgumentsBytes {
		e.Arguments, e.ArgumentsTruncated = clipJSON(string(e.Arguments)), true
	}
	if json.Valid(e.Arguments) {
		e.Arguments = redact.JSON(e.Arguments)
	}
	return e
}

// preRedact is how much beyond a field's cap is kept for redaction to look
// at: far more than any token, so none straddling the cap survives in part,
// and little enough that a 900 KB field costs no more than a short one.
const preRedact = 1024

// clipRedact redacts s and caps it at n bytes; a capped text says how long
// it was originally.
func clipRedact(s string, n int) string {
	orig := len(s)
	if orig > n+preRedact {
		s = prefix(s, n+preRedact)
	}
	s = redact.String(s)
	if orig <= n && len(s) <= n {
		return s
	}
	return clipAs(s, n, max(orig, len(s)))
}

// Clip returns s cut to at most n bytes: a valid UTF-8 prefix followed by
// "…(N bytes)", N being len(s). s is returned unchanged when it fits.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return clipAs(s, n, len(s))
}

func clipAs(s string, n, orig int) string {
	suffix := "…(" + strconv.Itoa(orig) + " bytes)"
	keep := max(n-len(suffix), 0)
	out := prefix(s, keep) + suffix
	if len(out) > n { // n smaller than the suffix itself
		return ""
	}
	return out
}

// prefix is s cut to at most n bytes at a rune boundary.
func prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// boundList keeps at most MaxListItems items, each redacted and capped,
// the last saying how many were dropped.
func boundList(l []string) []string {
	if len(l) == 0 {
		return l
	}
	n := len(l)
	if n > MaxListItems {
		n = MaxListItems - 1
	}
	out := make([]string, 0, n+1)
	for _, s := range l[:n] {
		out = append(out, clipRedact(s, MaxFieldBytes))
	}
	if len(l) > n {
		out = append(out, "…(+"+strconv.Itoa(len(l)-n)+" more)")
	}
	return out
}

// clipJSON returns a JSON string holding a prefix of s, at most
// MaxArgumentsBytes long once encoded (escaping can make it longer than the
// prefix, so the prefix shrinks until it fits).
func clipJSON(s string) json.RawMessage {
	for k := MaxArgumentsBytes; ; {
		b, _ := json.Marshal(Clip(s, k))
		if len(b) <= MaxArgumentsBytes || k == 0 {
			return b
		}
		k = max(k-(len(b)-MaxArgumentsBytes)-8, 0)
	}
}
