package mcpserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/mcpserver"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
)

// Finding L3: a tools/call named "x"*900000 was echoed whole in the
// JSON-RPC error and written whole to the audit line (900 KB). The name is
// capped before it is echoed or audited.
func TestSecurityL3ToolNameCappedBeforeEchoAndAudit(t *testing.T) {
	s := newStack(t, func(_ *stack, c *mcpserver.Config) { c.MaxBodyBytes = 1 << 20 })
	name := strings.Repeat("x", 900_000)
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": name, "arguments": map[string]any{}}})
	// A generous client timeout: a 900 KB request is slow under the race
	// detector on a busy machine, and this test is about sizes, not time.
	req, _ := http.NewRequest(http.MethodPost, s.url, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer alice-token")
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	answer := string(b)
	if resp.StatusCode >= 500 || len(answer) > 2048 || !strings.Contains(answer, "not available") {
		t.Errorf("answer: status %d, %d bytes, want a short denial", resp.StatusCode, len(answer))
	}
	events := s.auditEvents(t)
	if len(events) != 1 {
		t.Fatalf("%d audit events, want 1", len(events))
	}
	e := events[0]
	if e.Decision != audit.Denied || e.Reason != "tool_unknown" || len(e.Tool) > audit.MaxToolBytes || !strings.HasPrefix(e.Tool, "xxxx") {
		t.Errorf("audit: %s/%s tool of %d bytes", e.Decision, e.Reason, len(e.Tool))
	}
	if b, _ := json.Marshal(e); len(b) > 4096 {
		t.Errorf("audit line is %d bytes", len(b))
	}
}

// Finding L4: the audit request_id was whatever the caller put in
// X-Amzn-Requestid, Apigw-Requestid or X-Request-Id. It is the platform's
// id (API Gateway's, through serve.RequestID) or kitegate's own; the
// caller's X-Request-Id is kept apart, as caller_request_id, capped.
func TestSecurityL4RequestIDIsThePlatformsNotTheCallers(t *testing.T) {
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_pipelines","arguments":{"org_slug":"acme"}}}`
	forged := map[string]string{
		"X-Amzn-Requestid": "forged-amzn-id", "Apigw-Requestid": "forged-apigw-id",
		"X-Request-Id": "forged-request-id-0001",
	}
	t.Run("local", func(t *testing.T) {
		s := newStack(t, nil)
		post(t, s, http.MethodPost, call, forged)
		long := map[string]string{"X-Request-Id": strings.Repeat("r", 4000)}
		post(t, s, http.MethodPost, call, long)
		events := s.auditEvents(t)
		if len(events) != 2 {
			t.Fatalf("%d audit events, want 2", len(events))
		}
		for _, e := range events {
			if strings.HasPrefix(e.RequestID, "forged") || strings.HasPrefix(e.RequestID, "rrr") || len(e.RequestID) != 32 {
				t.Errorf("request_id %q, want kitegate's own", e.RequestID)
			}
		}
		if events[0].CallerRequestID != "forged-request-id-0001" {
			t.Errorf("caller_request_id %q", events[0].CallerRequestID)
		}
		if n := len(events[1].CallerRequestID); n > 128 || n == 0 {
			t.Errorf("caller_request_id of %d bytes, want capped at 128", n)
		}
	})
	t.Run("platform", func(t *testing.T) {
		s := newStack(t, func(_ *stack, c *mcpserver.Config) {
			c.RequestID = func(*http.Request) string { return "apigw-real-id" }
		})
		post(t, s, http.MethodPost, call, forged)
		events := s.auditEvents(t)
		if len(events) != 1 || events[0].RequestID != "apigw-real-id" || events[0].CallerRequestID != "forged-request-id-0001" {
			t.Errorf("events %+v, want request_id apigw-real-id", events)
		}
	})
}

// Finding I5: with the embedded policy file deleted the store loaded an
// empty policy, /healthz said ok and calls were denied as tool_unknown. No
// policy is now reported as such: /healthz 503, calls policy_unavailable.
func TestSecurityI5MissingPolicyIsUnhealthy(t *testing.T) {
	dir := t.TempDir()
	s := newStack(t, func(_ *stack, c *mcpserver.Config) {
		st, err := policystore.NewEmbedded(dir, nil) // no seed: no policy file
		if err != nil {
			t.Fatal(err)
		}
		c.Policy = policy.NewCache(st, 0, nil)
	})
	resp, err := http.Get(strings.TrimSuffix(s.url, "/mcp") + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz: %d, want 503", resp.StatusCode)
	}
	post(t, s, http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_pipelines","arguments":{"org_slug":"acme"}}}`, nil)
	if ev := s.auditEvents(t); len(ev) != 1 || ev[0].Reason != "policy_unavailable" {
		t.Errorf("audit %+v, want one policy_unavailable denial", ev)
	}
}

// Finding I3: OPTIONS on the protected-resource metadata answered 405, so
// a browser-based client's CORS preflight failed.
func TestSecurityI3MetadataPreflight(t *testing.T) {
	s := newStack(t, nil)
	base := strings.TrimSuffix(s.url, "/mcp")
	for _, p := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"} {
		req, _ := http.NewRequest(http.MethodOptions, base+p, nil)
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Access-Control-Request-Method", "GET")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("OPTIONS %s: %d, Allow-Origin %q", p, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

// Finding L1: a tools/call the SDK refused before kitegate's guard (params
// not an object, a non-string name, no id or id null, jsonrpc missing or
// "1.0", nesting over 1000, a bad Host header) left no audit line. Each is
// audited now, once, as denied request_rejected; a normal call still gives
// exactly one event.
func TestSecurityL1EveryToolsCallAuditedEvenWhenTheSDKRefusesIt(t *testing.T) {
	s := newStack(t, nil)
	deep := strings.Repeat("[", 1100) + strings.Repeat("]", 1100)
	cases := []struct {
		name string
		body string
		hdr  map[string]string
	}{
		{"params an array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["create_build",{}]}`, nil},
		{"params a string", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"create_build"}`, nil},
		{"params null", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}`, nil},
		{"name a number", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}`, nil},
		{"name an object", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":{"x":1}}}`, nil},
		{"no id", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"create_build","arguments":{}}}`, nil},
		{"id null", `{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"create_build","arguments":{}}}`, nil},
		{"id an object", `{"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"create_build","arguments":{}}}`, nil},
		{"jsonrpc missing", `{"id":1,"method":"tools/call","params":{"name":"create_build","arguments":{}}}`, nil},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"create_build","arguments":{}}}`, nil},
		{"nesting over 1000", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_builds","arguments":{"x":` + deep + `}}}`, nil},
		{"header mismatch", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_build","arguments":{}}}`,
			map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "list_builds"}},
		{"bad Host header", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_build","arguments":{}}}`,
			map[string]string{"Host": "evil.example"}},
	}
	for i, c := range cases {
		if host := c.hdr["Host"]; host != "" {
			req, _ := http.NewRequest(http.MethodPost, s.url, strings.NewReader(c.body))
			req.Host = host
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer alice-token")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		} else {
			post(t, s, http.MethodPost, c.body, c.hdr)
		}
		events := s.auditEvents(t)
		if len(events) != i+1 {
			t.Fatalf("%s: %d audit events after %d calls, want one per call", c.name, len(events), i+1)
		}
		if e := events[i]; e.Decision != audit.Denied || e.Reason != mcpserver.ReasonRequestRejected {
			t.Errorf("%s: audited %s/%s", c.name, e.Decision, e.Reason)
		}
	}
	post(t, s, http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_pipelines","arguments":{"org_slug":"acme"}}}`, nil)
	if n := len(s.auditEvents(t)); n != len(cases)+1 {
		t.Errorf("a normal call made %d events, want 1", n-len(cases))
	}
}

// A tools/call refused before it is read as one message was received all
// the same: each tools/call of a batch, and a body too large or not JSON
// whose Mcp-Method header says tools/call, is audited as request_rejected
// (nothing ran); a batch makes at most 10 events. A refused body that
// names no tools/call adds no event.
func TestSecurityToolsCallRefusedBeforeReadingIsAudited(t *testing.T) {
	s := newStack(t, nil)
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_build","arguments":{}}}`
	tooLarge := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_build","arguments":{"x":"` + strings.Repeat("a", 1<<20) + `"}}}`
	header := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "create_build"}
	cases := []struct {
		name   string
		body   string
		hdr    map[string]string
		events int
	}{
		{"a batch of two tools/calls and a tools/list", `[` + call + `,{"jsonrpc":"2.0","id":2,"method":"tools/list"},` + strings.Replace(call, `"id":1`, `"id":3`, 1) + `]`, nil, 2},
		{"a batch of tools/list only", `[{"jsonrpc":"2.0","id":2,"method":"tools/list"}]`, nil, 0},
		{"a batch of 500 tools/calls", `[` + strings.TrimSuffix(strings.Repeat(call+",", 500), ",") + `]`, nil, 10},
		{"a body over the limit, header tools/call", tooLarge, header, 1},
		{"a byte order mark, header tools/call", "\ufeff" + call, header, 1},
		{"trailing data, header tools/call", call + ` x`, header, 1},
		{"malformed, no header", call + ` x`, nil, 0},
	}
	before := 0
	for _, c := range cases {
		resp, _ := post(t, s, http.MethodPost, c.body, c.hdr)
		if resp.StatusCode < 400 {
			t.Errorf("%s: HTTP %d, want refused", c.name, resp.StatusCode)
		}
		events := s.auditEvents(t)
		if got := len(events) - before; got != c.events {
			t.Errorf("%s: %d audit events, want %d", c.name, got, c.events)
		}
		for _, e := range events[before:] {
			if e.Decision != audit.Denied || e.Reason != mcpserver.ReasonRequestRejected {
				t.Errorf("%s: audited %s/%s, want denied/request_rejected", c.name, e.Decision, e.Reason)
			}
		}
		before = len(events)
	}
}
