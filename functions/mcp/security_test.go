package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/audit"
)

// rawCall posts one JSON-RPC body to /mcp with the given headers and
// returns the status and body.
func (e *dynamoEnv) rawCall(t *testing.T, headers map[string]string, body any) (int, string) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.url+"/mcp", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, string(out)
}

func toolsCall(name string, args map[string]any, meta map[string]any) map[string]any {
	params := map[string]any{"name": name, "arguments": args}
	if meta != nil {
		params["_meta"] = meta
	}
	return map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
}

// Finding H1: in DynamoDB mode an allowed and executed call could be left
// out of the audit table, because an uncapped field (client name or
// version, tool name, an argument name in the error, email, groups) made
// the item exceed DynamoDB's 400 KB item or 2048-byte index-key limit. Each
// oversized field goes through the real function on DynamoDB Local here,
// and each call's event must be in the table, capped, with no replay line.
func TestSecurityH1OversizedFieldsStillAudited(t *testing.T) {
	big := func(n int) string { return strings.Repeat("C", n) }
	dir := t.TempDir()
	groups := make([]string, 2000)
	for i := range groups {
		groups[i] = fmt.Sprintf("g%04d-%s", i, big(300))
	}
	gy, _ := json.Marshal(groups)
	tokens := "tokens:\n  dev-token: {sub: dev, groups: [x]}\n" +
		fmt.Sprintf("  big-token: {sub: dev, email: %q, groups: %s}\n", big(300_000)+"@example.com", gy)
	if err := os.WriteFile(filepath.Join(dir, "tokens.yaml"), []byte(tokens), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startWithDynamoDB(t, "", map[string]string{"KITEGATE_DEV_TOKENS": filepath.Join(dir, "tokens.yaml")})

	listBuilds := map[string]any{"org_slug": "acme"}
	meta := func(name, version string) map[string]any {
		return map[string]any{
			"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
			"io.modelcontextprotocol/clientCapabilities": map[string]any{},
			"io.modelcontextprotocol/clientInfo":         map[string]any{"name": name, "version": version},
		}
	}
	newest := func(name string) map[string]string {
		return map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": name}
	}
	cases := []struct {
		name     string
		token    string
		headers  map[string]string
		body     any
		decision string
		outcome  string
	}{
		{"client name 420 KB", "dev-token", newest("list_builds"), toolsCall("list_builds", listBuilds, meta(big(420_000), "1")), audit.Allowed, audit.OutcomeOK},
		{"client version 420 KB", "dev-token", newest("list_builds"), toolsCall("list_builds", listBuilds, meta("c", big(420_000))), audit.Allowed, audit.OutcomeOK},
		{"tool name 3000 B", "dev-token", nil, toolsCall(big(3000), listBuilds, nil), audit.Denied, audit.OutcomeDenied},
		{"tool name 900 KB", "dev-token", nil, toolsCall(big(900_000), listBuilds, nil), audit.Denied, audit.OutcomeDenied},
		{"argument name 420 KB", "dev-token", nil, toolsCall("list_builds", map[string]any{"org_slug": "acme", big(420_000): 1}, nil), audit.Allowed, audit.OutcomeInvalidArguments},
		{"email 300 KB and 2000 groups", "big-token", nil, toolsCall("list_builds", listBuilds, nil), audit.Allowed, audit.OutcomeOK},
		{"caller request id 60 KB", "dev-token", map[string]string{"X-Request-Id": big(60_000)}, toolsCall("list_builds", listBuilds, nil), audit.Allowed, audit.OutcomeOK},
	}
	for i, c := range cases {
		h := map[string]string{"Authorization": "Bearer " + c.token, "X-Request-Id": fmt.Sprintf("h1-case-%d", i)}
		for k, v := range c.headers {
			h[k] = v
		}
		status, body := e.rawCall(t, h, c.body)
		if status >= 500 || len(body) > 64<<10 {
			t.Errorf("%s: status %d, %d-byte answer", c.name, status, len(body))
		}
	}
	if r := e.replay.String(); strings.Contains(r, "audit_replay") {
		t.Errorf("replay lines were written (%d bytes): the table refused an event", len(r))
	}
	events := e.auditEvents(t)
	if len(events) != len(cases) {
		t.Errorf("%d audit items, want %d (one per call)", len(events), len(cases))
	}
	byCase := map[string]audit.Event{}
	for _, ev := range events {
		byCase[ev.CallerRequestID] = ev
		b, _ := json.Marshal(ev)
		if len(b) > 64<<10 {
			t.Errorf("event %s is %d bytes as JSON, want under 64 KiB", ev.ID, len(b))
		}
		if len(ev.Tool) > audit.MaxToolBytes || len(ev.Client.Name) > audit.MaxFieldBytes || len(ev.Client.Version) > audit.MaxFieldBytes ||
			len(ev.Error) > audit.MaxErrorBytes || len(ev.User.Email) > audit.MaxFieldBytes || len(ev.User.Groups) > audit.MaxListItems ||
			len(ev.RequestID) > audit.MaxFieldBytes || len(ev.CallerRequestID) > audit.MaxFieldBytes {
			t.Errorf("event %s has a field over its cap", ev.ID)
		}
	}
	for i, c := range cases {
		id := fmt.Sprintf("h1-case-%d", i)
		if c.headers["X-Request-Id"] != "" {
			id = audit.Clip(c.headers["X-Request-Id"], 128)
		}
		ev, ok := byCase[id]
		if !ok {
			t.Errorf("%s: no audit item", c.name)
			continue
		}
		if ev.Decision != c.decision || ev.Outcome != c.outcome {
			t.Errorf("%s: decision %s outcome %s, want %s %s", c.name, ev.Decision, ev.Outcome, c.decision, c.outcome)
		}
	}
}

// Finding H1 (replay): `kitegate-admin audit-replay` stopped at the first
// line it could not put, so every later line was lost. A replay file
// written before the caps (420 KB client name, 3000-byte tool name) now
// goes in whole: each event is capped first; a line that still cannot be
// written (here: one too long to read) is skipped and reported, and the
// lines after it are replayed.
func TestSecurityH1ReplaySkipsAndReportsBadLinesAndGoesOn(t *testing.T) {
	e := startWithDynamoDB(t, "", nil)
	w, err := audit.NewDynamoDB(e.db, e.tables.Audit, audit.DynamoDBOptions{Fallback: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	line := func(ev audit.Event) string {
		b, _ := json.Marshal(audit.ReplayLine{AuditReplay: true, Level: "ERROR", Msg: "m", Err: "ValidationException", Event: &ev})
		return string(b) + "\n"
	}
	now := time.Now().UTC()
	ev := func(id, tool, client string) audit.Event {
		return audit.Event{ID: id, Time: now, User: audit.User{Subject: "bob"}, Client: audit.Client{Name: client}, Tool: tool,
			Decision: audit.Allowed, Reason: "allowed", Outcome: audit.OutcomeOK}
	}
	var in strings.Builder
	in.WriteString(line(ev("r1", "create_build", strings.Repeat("C", 420_000))))
	in.WriteString(line(ev("r2", strings.Repeat("x", 3000), "c")))
	in.WriteString(strings.Repeat("z", 5<<20) + "\n") // too long to read: skipped, reported
	in.WriteString(line(ev("r4", "list_builds", "c")))
	st, err := w.Replay(context.Background(), strings.NewReader(in.String()))
	if st.Written != 3 || st.Failed != 1 {
		t.Errorf("stats %+v, want 3 written (r1, r2, r4) and 1 failed (line 3)", st)
	}
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("err = %v, want one naming line 3", err)
	}
	got := map[string]bool{}
	for _, ev := range e.auditEvents(t) {
		got[ev.ID] = true
	}
	for _, id := range []string{"r1", "r2", "r4"} {
		if !got[id] {
			t.Errorf("event %s is not in the table", id)
		}
	}
}
