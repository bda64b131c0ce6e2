package mcpserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/mcpserver"
)

// rpcAnswer is a JSON-RPC answer with its id as it came over the wire.
type rpcAnswer struct {
	ID    json.RawMessage `json:"id"`
	Error *struct {
		Code    int64           `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
	Result json.RawMessage `json:"result"`
}

func readAnswer(t *testing.T, resp *http.Response, body string) rpcAnswer {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("status %d, Content-Type %q, body %q: want a JSON-RPC answer", resp.StatusCode, ct, body)
	}
	var a rpcAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return a
}

// Finding I1: the MCP SDK reads a JSON-RPC id as a float64, so id 10**30
// came back as -9223372036854775808 and 1.5 as 1 — an answer to an id the
// client never sent (and 2**63-1 came back as -2**63). MCP ids are strings
// or integers: any other id is refused before the SDK reads it, with
// Invalid Request and id null (a tools/call so refused is audited as
// request_rejected, and runs nothing); every valid id comes back byte for
// byte, on results, kitegate's errors and the SDK's errors alike.
func TestSecurityI1JSONRPCIDFidelity(t *testing.T) {
	s := newStack(t, nil)
	t.Run("valid ids come back as sent", func(t *testing.T) {
		ids := []string{
			`0`, `-0`, `7`, `-1`, `9007199254740993`, `9223372036854775807`, `-9223372036854775808`,
			`""`, `"a"`, `"héllo ☃"`, `"h\u00e9llo \u2603"`, `"\ud83d\ude00 <&> \"quoted\" \\"`, `"` + strings.Repeat("é", 300) + `"`,
		}
		requests := map[string]string{
			"ping":                   `{"jsonrpc":"2.0","id":ID,"method":"ping"}`,
			"tools/list":             `{"jsonrpc":"2.0","id":ID,"method":"tools/list"}`,
			"tools/call allowed":     `{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":"list_pipelines","arguments":{"org_slug":"acme"}}}`,
			"tools/call denied":      `{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":"create_build","arguments":{}}}`,
			"tools/call bad params":  `{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":7}}`,
			"initialize":             `{"jsonrpc":"2.0","id":ID,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`,
			"unknown method":         `{"jsonrpc":"2.0","id":ID,"method":"tools/destroy"}`,
			"id after params":        `{"jsonrpc":"2.0","method":"ping","params":{},"id":ID}`,
			"header refusal (SDK)":   `{"jsonrpc":"2.0","id":ID,"method":"tools/list"}`,
			"prompts/get bad params": `{"jsonrpc":"2.0","id":ID,"method":"prompts/get","params":{"name":1}}`,
		}
		for name, tmpl := range requests {
			for _, id := range ids {
				var hdr map[string]string
				if name == "header refusal (SDK)" {
					hdr = map[string]string{"Accept": "text/html"}
				}
				resp, body := post(t, s, http.MethodPost, strings.Replace(tmpl, "ID", id, 1), hdr)
				a := readAnswer(t, resp, body)
				if string(a.ID) != id {
					t.Errorf("%s, id %s: answer id %s (status %d)", name, id, a.ID, resp.StatusCode)
				}
			}
		}
	})
	t.Run("other ids are refused with id null", func(t *testing.T) {
		s.sim.ResetRequests()
		before := len(s.auditEvents(t))
		ids := []string{`1.5`, `1.0`, `1e3`, `1e30`, `1000000000000000000000000000000`, `9223372036854775808`, `-9223372036854775809`, `-1.5e-7`, `true`, `{"a":1}`, `[1]`}
		for _, method := range []string{"ping", "tools/call"} {
			for _, id := range ids {
				body := `{"jsonrpc":"2.0","id":` + id + `,"method":"` + method + `","params":{"name":"list_pipelines","arguments":{"org_slug":"acme"}}}`
				resp, out := post(t, s, http.MethodPost, body, nil)
				a := readAnswer(t, resp, out)
				if resp.StatusCode != http.StatusBadRequest || string(a.ID) != "null" || a.Error == nil || a.Error.Code != -32600 || a.Result != nil {
					t.Errorf("%s id %s: status %d, answer %s, want 400 Invalid Request with id null", method, id, resp.StatusCode, out)
				}
			}
		}
		if n := len(s.sim.Requests()); n != 0 {
			t.Errorf("%d Buildkite requests, want none: nothing runs for a refused id", n)
		}
		events := s.auditEvents(t)[before:]
		if len(events) != len(ids) {
			t.Fatalf("%d audit events for %d refused tools/calls", len(events), len(ids))
		}
		for _, e := range events {
			if e.Decision != audit.Denied || e.Reason != mcpserver.ReasonRequestRejected || e.Tool != "list_pipelines" {
				t.Errorf("audited %s/%s tool %q, want denied request_rejected list_pipelines", e.Decision, e.Reason, e.Tool)
			}
		}
	})
	t.Run("batches are refused", func(t *testing.T) {
		resp, out := post(t, s, http.MethodPost, `[{"jsonrpc":"2.0","id":1e30,"method":"ping"}]`, nil)
		if a := readAnswer(t, resp, out); resp.StatusCode != http.StatusBadRequest || string(a.ID) != "null" || a.Error == nil {
			t.Errorf("batch: %d %s", resp.StatusCode, out)
		}
	})
}

// Finding L5: errors the MCP SDK wrote named Go types
// (`*mcp.CallToolParamsRaw`, `Go struct field … of type string`), echoed the
// raw params, or came as a text/plain 400 naming the parser's nesting
// limit. Every error the SDK writes — malformed params of any method,
// wrong types, deep nesting, bad envelopes, refused headers, an oversized
// body — is now a JSON-RPC error in kitegate's words: no Go type, nothing
// the caller sent echoed back.
func TestSecurityL5SDKErrorsNameNoGoTypesAndEchoNothing(t *testing.T) {
	s := newStack(t, nil)
	const marker = "ECHOMARKER"
	deep := strings.Repeat("[", 1100) + `"` + marker + `"` + strings.Repeat("]", 1100)
	cases := []struct {
		name string
		body string
		hdr  map[string]string
		code int64
	}{
		{"tools/call params an array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["` + marker + `",{}]}`, nil, -32602},
		{"tools/call name a number", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7,"x":"` + marker + `"}}`, nil, -32602},
		{"tools/call name an object", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":{"` + marker + `":1}}}`, nil, -32602},
		{"tools/call _meta a string", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_pipelines","_meta":"` + marker + `"}}`, nil, -32602},
		{"tools/list params an array", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":["` + marker + `"]}`, nil, -32602},
		{"tools/list cursor a number", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":7,"x":"` + marker + `"}}`, nil, -32602},
		{"initialize params a string", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":"` + marker + `"}`, nil, -32602},
		{"initialize version a number", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":7,"clientInfo":{"name":"` + marker + `"}}}`, nil, -32602},
		{"initialize capabilities an array", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":["` + marker + `"],"clientInfo":{"name":"c","version":"1"}}}`, nil, -32602},
		{"prompts/get name a number", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":1,"x":"` + marker + `"}}`, nil, -32602},
		{"prompts/get unknown prompt", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"` + marker + `"}}`, nil, -32602},
		{"resources/read uri a number", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":1,"x":"` + marker + `"}}`, nil, -32602},
		{"resources/read unknown uri", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"kitegate://` + marker + `"}}`, nil, 0},
		{"nesting over 1000", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_builds","arguments":{"x":` + deep + `}}}`, nil, -32600},
		{"nesting 200", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":` + strings.Repeat("[", 200) + `"` + marker + `"` + strings.Repeat("]", 200) + `}}`, nil, -32600},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0` + marker + `","id":1,"method":"ping"}`, nil, -32600},
		{"id a bool", `{"jsonrpc":"2.0","id":true,"method":"ping","params":{"x":"` + marker + `"}}`, nil, -32600},
		{"no id", `{"jsonrpc":"2.0","method":"ping","params":{"x":"` + marker + `"}}`, nil, -32600},
		{"header mismatch", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_pipelines","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`,
			map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": marker}, -32020},
		{"protocol version mismatch", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28` + marker + `"}}}`,
			map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}, 0},
		{"wrong Accept", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, map[string]string{"Accept": "text/" + marker}, -32600},
		{"unsupported old protocol", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, map[string]string{"Mcp-Protocol-Version": "2001-01-01"}, -32600},
	}
	goTypes := []string{"mcp.", "*mcp", "Go struct", "Go value", "unmarshal", "json:", "interface {}", "map[", "float64", "int64", "segmentio", "jsonrpc2"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(t, s, http.MethodPost, c.body, c.hdr)
			a := readAnswer(t, resp, body)
			if a.Error == nil || a.Error.Message == "" {
				t.Fatalf("status %d, answer %s: want a JSON-RPC error", resp.StatusCode, body)
			}
			if c.code != 0 && a.Error.Code != c.code {
				t.Errorf("code %d, want %d (%s)", a.Error.Code, c.code, a.Error.Message)
			}
			if strings.Contains(body, marker) {
				t.Errorf("the answer echoes what was sent: %s", body)
			}
			for _, g := range goTypes {
				if strings.Contains(body, g) {
					t.Errorf("the answer names Go internals (%q): %s", g, body)
				}
			}
		})
	}
	t.Run("kitegate's own errors keep their words", func(t *testing.T) {
		resp, body := post(t, s, http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_build","arguments":{}}}`, nil)
		if a := readAnswer(t, resp, body); a.Error == nil || !strings.Contains(a.Error.Message, `"create_build" is not available to you`) {
			t.Errorf("guard's denial rewritten: %s", body)
		}
	})
	t.Run("oversized", func(t *testing.T) {
		resp, body := post(t, s, http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"`+strings.Repeat(marker, 8<<10)+`"}}`, nil)
		a := readAnswer(t, resp, body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || a.Error == nil || strings.Contains(body, marker) {
			t.Errorf("status %d, answer %.200s", resp.StatusCode, body)
		}
	})
}
