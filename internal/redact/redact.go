// Package redact is kitegate's one mechanism for keeping secrets out of
// everything it says: tool results, error messages, audit events and logs.
// It removes two things wherever they appear — at any position, inside
// words, inside JSON strings whatever their escapes:
//
//   - the exact values of the secrets the process holds, registered with
//     Remember (the current and the previous Buildkite token);
//   - text shaped like a credential: Buildkite API, agent and cluster
//     tokens (bkua_…, bkat_…, bkct_…), bearer credentials, AWS access key
//     ids and PEM private keys.
//
// The registry of exact values is process-wide on purpose: a token can
// surface in any layer (a Buildkite error, a log line, a build's own
// output), and every layer must know it without being handed it.
package redact

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// Mark replaces what is redacted.
const Mark = "[redacted]"

// shaped matches credential-shaped text. No word boundary before a token:
// "xbkua_…", "\nbkua_…" in JSON text, "authbkua_…" must all match.
var shaped = regexp.MustCompile(`bk[a-z]{2}_[A-Za-z0-9_]{8,}` +
	`|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{16,}` +
	`|(?:AKIA|ASIA)[0-9A-Z]{16}` +
	`|-----BEGIN [A-Z ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z ]*PRIVATE KEY-----|$)`)

// keep is how many remembered values are kept: the current and previous
// token, with room for a rotation in flight.
const keep = 4

// minSecret is the shortest value Remember accepts: a shorter one would
// redact ordinary words.
const minSecret = 8

var (
	mu      sync.RWMutex
	secrets []string // newest last; replaced, never modified in place
)

// Remember registers a secret value to redact exactly from now on. The
// latest few values are kept, so the previous token stays redacted after a
// rotation. Values shorter than 8 bytes are ignored.
func Remember(secret string) {
	if len(secret) < minSecret {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	// A new slice every time: readers hold the old one without a lock.
	next := make([]string, 0, keep+1)
	for _, s := range secrets {
		if s != secret {
			next = append(next, s)
		}
	}
	next = append(next, secret)
	if len(next) > keep {
		next = next[len(next)-keep:]
	}
	secrets = next
}

func remembered() []string {
	mu.RLock()
	defer mu.RUnlock()
	return secrets
}

// String returns s with every remembered value and every credential-shaped
// run replaced by Mark.
func String(s string) string {
	for _, v := range remembered() {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Mark)
		}
	}
	if shaped.MatchString(s) {
		s = shaped.ReplaceAllString(s, Mark)
	}
	return s
}

// Contains reports whether s holds a remembered value or a credential shape.
func Contains(s string) bool {
	for _, v := range remembered() {
		if strings.Contains(s, v) {
			return true
		}
	}
	return shaped.MatchString(s)
}

// JSON returns the JSON text b with String applied to the decoded value of
// every string in it (keys included): an escape ("\n", "\u0062") cannot
// hide a secret, and the text of strings without one is left byte for
// byte. b must be valid JSON; a string that cannot be decoded is replaced
// whole.
func JSON(b []byte) []byte {
	var out []byte // nil until something changes
	last := 0
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		end := stringEnd(b, i)
		lit := b[i:end]
		var s string
		changed := false
		if err := json.Unmarshal(lit, &s); err != nil {
			s, changed = Mark, true
		} else if r := String(s); r != s {
			s, changed = r, true
		}
		if changed {
			out = append(out, b[last:i]...)
			out = appendJSONString(out, s)
			last = end
		}
		i = end - 1
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// stringEnd returns the index just past the string literal starting at the
// quote b[start].
func stringEnd(b []byte, start int) int {
	for j := start + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

func appendJSONString(out []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(out, bytes.TrimRight(buf.Bytes(), "\n")...)
}

// Value returns v (a decoded JSON value: maps, slices, strings…) with
// String applied to every string in it, map keys included.
func Value(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[String(k)] = Value(e)
		}
		return out
	case []any:
		for i, e := range v {
			v[i] = Value(e)
		}
		return v
	case string:
		return String(v)
	default:
		return v
	}
}

// Handler wraps a slog.Handler so that no record it passes on carries a
// secret: the message and every string attribute (errors and values that
// print as text included) go through String.
func Handler(h slog.Handler) slog.Handler { return handler{h} }

type handler struct{ next slog.Handler }

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h handler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = attr(a)
	}
	return handler{h.next.WithAttrs(clean)}
}

func (h handler) WithGroup(name string) slog.Handler { return handler{h.next.WithGroup(name)} }

func attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, String(v.String()))
	case slog.KindGroup:
		as := v.Group()
		clean := make([]slog.Attr, len(as))
		for i, g := range as {
			clean[i] = attr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, String(x.Error()))
		case interface{ String() string }:
			return slog.String(a.Key, String(x.String()))
		}
		// Structs and maps are logged as JSON: redact that text.
		b, err := json.Marshal(v.Any())
		if err != nil || !utf8.Valid(b) {
			return a
		}
		if r := JSON(b); !bytes.Equal(r, b) {
			return slog.Any(a.Key, json.RawMessage(r))
		}
		return a
	}
	return a
}
