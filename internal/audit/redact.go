package audit

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/kitegate/kitegate/internal/redact"
)

// Redacted replaces a value judged secret.
const Redacted = "[REDACTED]"

// secretKey matches argument names whose values are secrets whatever they
// hold; environment maps are included because build environments carry
// credentials more often than not.
var secretKey = regexp.MustCompile(`(?i)(token|secret|passw|credential|api_?key|private_?key|auth|cookie|session|^env$|environment)`)

// Redact returns args with secret values replaced, capped at max bytes. When
// the redacted arguments are larger than max they are replaced by a JSON
// string holding a prefix, and truncated is true. Arguments that are not
// JSON are kept only as their size.
func Redact(args json.RawMessage, max int) (out json.RawMessage, truncated bool) {
	if len(args) == 0 {
		return nil, false
	}
	var v any
	if err := json.Unmarshal(args, &v); err != nil {
		b, _ := json.Marshal(map[string]any{"unparsable_bytes": len(args)})
		return b, false
	}
	return RedactValue(v, max)
}

// RedactValue is Redact for arguments already decoded from JSON. It leaves
// v as it is: what it redacts it copies.
func RedactValue(v any, max int) (out json.RawMessage, truncated bool) {
	b, err := json.Marshal(redactValue(v))
	if err != nil {
		return nil, false
	}
	if len(b) <= max {
		return b, false
	}
	prefix := strings.ToValidUTF8(string(b[:max]), "")
	b, _ = json.Marshal(prefix)
	return b, true
}

func redactValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if secretKey.MatchString(k) {
				out[k] = Redacted
				continue
			}
			out[k] = redactValue(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = redactValue(e)
		}
		return out
	case string:
		// A value holding the token or anything credential-shaped is
		// dropped whole (internal/redact decides what that is).
		if redact.Contains(v) {
			return Redacted
		}
		return v
	default:
		return v
	}
}
