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
	e = e.redacted()
	e.ID = Clip(e.ID, MaxFieldBytes)
	e.RequestID = Clip(e.RequestID, MaxFieldBytes)
	e.CallerRequestID = Clip(e.CallerRequestID, MaxFieldBytes)
	e.User.Subject = Clip(e.User.Subject, MaxFieldBytes)
	e.User.Email = Clip(e.User.Email, MaxFieldBytes)
	e.User.Groups = clipList(e.User.Groups)
	e.Client.Name = Clip(e.Client.Name, MaxFieldBytes)
	e.Client.Version = Clip(e.Client.Version, MaxFieldBytes)
	e.Client.ID = Clip(e.Client.ID, MaxFieldBytes)
	e.Client.ProtocolVersion = Clip(e.Client.ProtocolVersion, MaxFieldBytes)
	e.Tool = Clip(e.Tool, MaxToolBytes)
	e.Decision = Clip(e.Decision, MaxFieldBytes)
	e.Reason = Clip(e.Reason, MaxFieldBytes)
	e.Profiles = clipList(e.Profiles)
	e.Outcome = Clip(e.Outcome, MaxFieldBytes)
	e.Error = Clip(e.Error, MaxErrorBytes)
	e.TokenUUID = Clip(e.TokenUUID, MaxFieldBytes)
	e.ServerVersion = Clip(e.ServerVersion, MaxFieldBytes)
	if len(e.Arguments) > MaxArgumentsBytes {
		e.Arguments, e.ArgumentsTruncated = clipJSON(string(e.Arguments)), true
	}
	return e
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

// Clip returns s cut to at most n bytes: a valid UTF-8 prefix followed by
// "…(N bytes)", N being len(s). s is returned unchanged when it fits.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	suffix := "…(" + strconv.Itoa(len(s)) + " bytes)"
	keep := max(n-len(suffix), 0)
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	out := s[:keep] + suffix
	if len(out) > n { // n smaller than the suffix itself
		return s[:0]
	}
	return out
}

func clipList(l []string) []string {
	if len(l) == 0 {
		return l
	}
	n := len(l)
	if n > MaxListItems {
		n = MaxListItems - 1 // and a last item saying how many were dropped
	}
	out := make([]string, 0, n+1)
	for _, s := range l[:n] {
		out = append(out, Clip(s, MaxFieldBytes))
	}
	if len(l) > n {
		out = append(out, "…(+"+strconv.Itoa(len(l)-n)+" more)")
	}
	return out
}

// redacted applies internal/redact to every text field and to the strings
// of the arguments.
func (e Event) redacted() Event {
	for _, f := range []*string{&e.RequestID, &e.CallerRequestID, &e.User.Subject, &e.User.Email,
		&e.Client.Name, &e.Client.Version, &e.Client.ID, &e.Client.ProtocolVersion, &e.Tool, &e.Error} {
		*f = redact.String(*f)
	}
	e.User.Groups = redactList(e.User.Groups)
	e.Profiles = redactList(e.Profiles)
	if json.Valid(e.Arguments) {
		e.Arguments = redact.JSON(e.Arguments)
	}
	return e
}

func redactList(l []string) []string {
	var out []string
	for i, s := range l {
		if r := redact.String(s); r != s {
			if out == nil {
				out = append([]string(nil), l...)
			}
			out[i] = r
		}
	}
	if out == nil {
		return l
	}
	return out
}
