package tools

import (
	"bytes"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/kitegate/kitegate/internal/redact"
)

// Everything a tool returns comes from Buildkite, and much of it was written
// by people: commit messages, annotations, log lines. To the model it must
// stay data. sanitize rewrites the JSON text of a result (encoded without
// HTML escaping) so that no string in it can hide text from a reader or
// pose as conversation structure:
//
//   - C0 control characters (but tab, newline, carriage return) and DEL are
//     dropped; ANSI escape sequences lose their ESC and so their effect;
//   - zero-width characters, bidirectional overrides and isolates, and
//     Unicode tag characters (invisible ASCII look-alikes) are dropped;
//   - role and tool-call markers (</tool_result>, <|im_start|>, <system>,
//     [INST] ...) have their brackets replaced by look-alikes that no chat
//     template treats as syntax;
//   - the shared token's exact value and anything shaped like a credential
//     are replaced by [redacted] (internal/redact), in every decoded string:
//     a build message or a log line that printed one must not hand it to
//     the model.
func sanitize(b []byte) []byte {
	b = dropInvisible(b)
	b = roleMarker.ReplaceAllFunc(b, neutralize)
	b = chatToken.ReplaceAllFunc(b, neutralize)
	b = instMarker.ReplaceAllFunc(b, neutralize)
	return redact.JSON(b)
}

var (
	roleMarker = regexp.MustCompile(`(?i)</?\s*(?:tool_result|tool_use|tool_call|tool_response|function_calls?|function_results?|invoke|parameter|antml:[a-z_]+|system|assistant|user|human|instructions?|im_start|im_end)\b[^<>]*>`)
	chatToken  = regexp.MustCompile(`<\|[^|<>]{1,40}\|>`)
	instMarker = regexp.MustCompile(`\[/?(?:INST|SYS)\]|<<\s*/?SYS\s*>>`)
)

var lookAlikes = strings.NewReplacer("<", "‹", ">", "›", "[", "⟦", "]", "⟧")

func neutralize(m []byte) []byte { return []byte(lookAlikes.Replace(string(m))) }

// invisible reports runes that render as nothing or reorder what surrounds them.
func invisible(r rune) bool {
	switch {
	case r == 0x7f, r == 0xad, r == 0x061c, r == 0x180e, r == 0xfeff:
		return true
	case r >= 0x200b && r <= 0x200f: // zero-width space … right-to-left mark
		return true
	case r >= 0x202a && r <= 0x202e: // bidi embeddings and overrides
		return true
	case r >= 0x2060 && r <= 0x2069: // word joiner … bidi isolates
		return true
	case r >= 0xe0000 && r <= 0xe007f: // tag characters
		return true
	}
	return false
}

// dropInvisible removes invisible runes and the JSON escapes of control
// characters other than \t, \n and \r. It relies on b being valid JSON, where
// a backslash outside a string cannot occur.
func dropInvisible(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c == '\\' && i+1 < len(b) {
			switch b[i+1] {
			case 'b', 'f':
				i += 2
				continue
			case 'u':
				if i+5 < len(b) && controlEscape(b[i+2:i+6]) {
					i += 6
					continue
				}
			}
			out = append(out, b[i], b[i+1])
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			if c != 0x7f {
				out = append(out, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if !invisible(r) {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// controlEscape reports whether hex (four digits of a \u escape) names a C0
// control other than tab, newline and carriage return.
func controlEscape(hex []byte) bool {
	if hex[0] != '0' || hex[1] != '0' || (hex[2] != '0' && hex[2] != '1') {
		return false
	}
	switch string(bytes.ToLower(hex)) {
	case "0009", "000a", "000d":
		return false
	}
	return true
}
