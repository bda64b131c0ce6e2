package mcpserver_test

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHandler throws raw bodies and headers at the whole handler: whatever
// arrives, the answer is a client error or success, never a 5xx or a panic.
func FuzzHandler(f *testing.F) {
	seeds := []struct{ method, ctype, version, origin, auth, body string }{
		{"POST", "application/json", "2025-06-18", "", "Bearer alice-token", listTools},
		{"POST", "application/json", "2026-07-28", "", "Bearer bob-token", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_build","arguments":{"org_slug":"acme","pipeline_slug":"web-app","build_number":"37"}}}`},
		{"POST", "application/json", "", "", "Bearer alice-token", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`},
		{"POST", "application/json", "2025-06-18", "", "Bearer alice-token", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_builds","arguments":"nope"}}`},
		{"POST", "application/json", "2025-06-18", "", "Bearer alice-token", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`},
		{"POST", "text/plain", "1999-01-01", "https://evil.example.com", "Basic x", `{"id":`},
		{"GET", "", "", "", "", ""},
		{"POST", "application/json", "2025-06-18", "", "Bearer alice-token", `{"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":null}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.ctype, s.version, s.origin, s.auth, s.body)
	}
	s := newStack(f, nil)
	f.Fuzz(func(t *testing.T, method, ctype, version, origin, auth, body string) {
		if !validToken(method) {
			return // net/http refuses such requests before any handler runs
		}
		req := httptest.NewRequest(method, "/mcp", strings.NewReader(body))
		req.Host = "127.0.0.1"
		for k, v := range map[string]string{"Content-Type": ctype, "Mcp-Protocol-Version": version, "Origin": origin, "Authorization": auth} {
			if v != "" && validHeaderValue(v) {
				req.Header.Set(k, v)
			}
		}
		req.Header.Set("Accept", "application/json, text/event-stream")
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q → %d %s", method, body, rec.Code, rec.Body)
		}
	})
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, c) {
			return false
		}
	}
	return true
}

func validHeaderValue(s string) bool {
	for _, c := range s {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
