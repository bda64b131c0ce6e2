package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/authz/authztest"
	"github.com/kitegate/kitegate/internal/dynamotest"
)

// logFile is where run writes: an *os.File takes concurrent writes.
type logFile struct{ *os.File }

func (f logFile) String() string { b, _ := os.ReadFile(f.Name()); return string(b) }

func newLogFile(t *testing.T, name string) logFile {
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return logFile{f}
}

// TestRunAWS runs `make run-aws`'s command beside DynamoDB Local: the mcp
// function answers on the tables, the rate-limit and audit tables are
// written, and the audit function, fed the streams, writes the audit log
// lines (to the terminal and the local audit file) and the rollups.
func TestRunAWS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three functions")
	}
	dynamotest.Endpoint(t) // fails in CI, skips elsewhere, without DynamoDB Local
	t.Chdir("../../..")
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	auditFile := filepath.Join(dir, "audit.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newLogFile(t, "stdout"), newLogFile(t, "stderr")
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", addr, "-audit-file", auditFile, "-bin", filepath.Join(dir, "bin")}, stdout, stderr)
	}()

	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(5 * time.Minute) // three builds on a busy machine
	for {
		resp, err := client.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run-aws stopped: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mcp function never answered /healthz\n%s", stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	call := func(body string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return b.String()
	}
	if out := call(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_builds","arguments":{"org_slug":"acme"}}}`); !strings.Contains(out, `"result"`) || strings.Contains(out, `"isError":true`) {
		t.Fatalf("list_builds on the AWS path: %s\n%s", out, stderr.String())
	}
	if out := call(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_build","arguments":{}}}`); !strings.Contains(out, "-32602") {
		t.Errorf("create_build (pending review): %s, want -32602", out)
	}
	// The streams are polled every second: wait (boundedly) for both lines.
	for deadline := time.Now().Add(time.Minute); ; {
		b, _ := os.ReadFile(auditFile)
		if strings.Count(string(b), `"audit":"tool_call"`) >= 2 {
			if !strings.Contains(string(b), `"tool":"list_builds"`) || !strings.Contains(string(b), `"tool":"create_build"`) {
				t.Errorf("audit file:\n%s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit log lines for both calls in %s:\n%s\n%s", auditFile, b, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), `"audit":"policy_change"`) {
		t.Error("the policy table's stream gave no policy_change line (the seeding wrote the policy)")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run-aws after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("run-aws did not stop within 30s of its context ending")
	}
}

// TestRunSignIn runs `make run-signin`'s command: the mcp and authz
// functions behind one origin, local-kms, the dev IdP; the TypeScript SDK's
// OAuth client, given only the MCP URL, signs in as alice and calls a tool.
func TestRunSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four functions")
	}
	dynamotest.Endpoint(t)
	authztest.Dir(t)
	t.Chdir("../../..")
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newLogFile(t, "stdout"), newLogFile(t, "stderr")
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-signin", "-addr", addr, "-audit-file", filepath.Join(dir, "audit.jsonl"), "-bin", filepath.Join(dir, "bin")}, stdout, stderr)
	}()
	client := &http.Client{Timeout: 10 * time.Second}
	for deadline := time.Now().Add(5 * time.Minute); ; { // four builds on a busy machine
		resp, err := client.Get("http://" + addr + "/.well-known/oauth-authorization-server")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run-signin stopped: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the authorization server never answered\n%s", stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	out := authztest.Run(t, nil, "client.mjs", "http://"+addr+"/mcp", "alice")
	var r struct {
		Steps []string `json:"steps"`
		Tools []string `json:"tools"`
		Error string   `json:"error"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.Error != "" {
		t.Fatalf("client.mjs: %s (%v)\n%s", out, err, stderr.String())
	}
	if !strings.Contains(strings.Join(r.Steps, ","), "signed in") || !strings.Contains(strings.Join(r.Tools, ","), "list_builds") {
		t.Errorf("sign-in as alice: steps %v, tools %v", r.Steps, r.Tools)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run-signin after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("run-signin did not stop within 30s of its context ending")
	}
}
