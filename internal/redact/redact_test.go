package redact_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/kitegate/kitegate/internal/redact"
)

const tok = "plain-exact-value-7c1e9a"

func TestString(t *testing.T) {
	redact.Remember(tok)
	shaped := "bkua_" + strings.Repeat("0", 40)
	for _, s := range []string{
		tok, "x" + tok, tok + "y", "a\n" + tok, "\t" + tok, "_" + tok, "auth" + tok, "Bearer " + tok,
		shaped, "x" + shaped, "n" + shaped, "token" + shaped, "_" + shaped, "Authorization: Bearer abcdefgh12345678",
		"AKIAABCDEFGHIJKLMNOP", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
	} {
		if got := redact.String("<" + s + ">"); strings.Contains(got, tok) || strings.Contains(got, "bkua_0") || !strings.Contains(got, redact.Mark) ||
			strings.Contains(got, "AKIA") || strings.Contains(got, "MIIE") || strings.Contains(got, "abcdefgh1234") {
			t.Errorf("String(%q) = %q", s, got)
		}
	}
	for _, s := range []string{"bkua_x", "nothing to see", "plain-exact", "bearer of news"} {
		if got := redact.String(s); got != s {
			t.Errorf("String(%q) = %q, want it unchanged", s, got)
		}
	}
}

func TestRememberKeepsThePreviousValues(t *testing.T) {
	redact.Remember("first-secret-aaaa")
	redact.Remember("second-secret-bbbb")
	redact.Remember("short") // ignored: would redact words
	for _, s := range []string{"first-secret-aaaa", "second-secret-bbbb"} {
		if redact.String(s) != redact.Mark {
			t.Errorf("%s not redacted", s)
		}
	}
	if redact.String("short") != "short" {
		t.Error("a value under 8 bytes was remembered")
	}
}

func TestJSONAcrossEscapes(t *testing.T) {
	redact.Remember(tok)
	escaped := strings.ReplaceAll(tok, "e", `\u0065`)
	in := `{"a":"line\n` + tok + `","b":"` + escaped + `","` + tok + `":1,"c":"clean \"q\"","n":[1,2]}`
	out := redact.JSON([]byte(in))
	if bytes.Contains(out, []byte(tok)) || bytes.Contains(out, []byte(escaped)) || !json.Valid(out) {
		t.Errorf("JSON = %s", out)
	}
	if !bytes.Contains(out, []byte(`"c":"clean \"q\"","n":[1,2]`)) {
		t.Errorf("clean parts changed: %s", out)
	}
	clean := []byte(`{"a":"b\u00e9"}`)
	if got := redact.JSON(clean); !bytes.Equal(got, clean) {
		t.Errorf("JSON changed clean text: %s", got)
	}
}

func TestHandler(t *testing.T) {
	redact.Remember(tok)
	var buf bytes.Buffer
	l := slog.New(redact.Handler(slog.NewJSONHandler(&buf, nil))).With("k", "x"+tok)
	l.Error("msg "+tok, "err", errors.New("upstream said "+tok), "v", map[string]string{"a": tok}, slog.Group("g", "s", tok))
	if strings.Contains(buf.String(), tok) || strings.Count(buf.String(), redact.Mark) != 5 {
		t.Errorf("log line %s", buf.String())
	}
}
