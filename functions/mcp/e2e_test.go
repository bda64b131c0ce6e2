package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/lambdatest"
	"github.com/kitegate/kitegate/internal/lambdatest/mcpenv"
)

// The bootstraps and the Lambda emulator are built once for this test binary.
func TestMain(m *testing.M) { os.Exit(lambdatest.Main(m)) }

const pkg = "github.com/kitegate/kitegate/functions/mcp"

// lambdaStack is the built mcp bootstrap running under the Lambda emulator,
// configured as on Lambda, against local stand-ins for its dependencies.
type lambdaStack struct {
	*mcpenv.Stack
	emu *lambdatest.Emulator
}

func startLambda(t *testing.T) *lambdaStack {
	t.Helper()
	st, err := mcpenv.New(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	// On Lambda the function refuses to start without its tables.
	if err := st.CreateTables(t.Context(), dynamotest.Endpoint(t)); err != nil {
		t.Fatal(err)
	}
	emu := lambdatest.Start(t, lambdatest.Bootstrap(t, pkg, runtime.GOARCH), lambdatest.Options{Env: st.Env(), Timeout: 29e9})
	return &lambdaStack{Stack: st, emu: emu}
}

// event reads an API Gateway v2 event from testdata and gives it the bearer
// token (none if token is empty).
func event(t *testing.T, name, token string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	delete(ev.Headers, "authorization")
	if token != "" {
		ev.Headers["authorization"] = "Bearer " + token
	}
	return ev
}

func (s *lambdaStack) invoke(t *testing.T, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := s.emu.InvokeHTTP(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (s *lambdaStack) token(t *testing.T, sub string, groups ...string) string {
	t.Helper()
	tok, err := s.Issuer.Token(mcpenv.Claims{Subject: sub, Email: sub + "@example.com", Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rpcResult decodes a JSON-RPC response body into result, failing on an error.
func rpcResult(t *testing.T, resp events.APIGatewayV2HTTPResponse, result any) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body %s", resp.StatusCode, resp.Body)
	}
	var msg struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &msg); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	if msg.Error != nil {
		t.Fatalf("JSON-RPC error %d: %s", msg.Error.Code, msg.Error.Message)
	}
	if err := json.Unmarshal(msg.Result, result); err != nil {
		t.Fatalf("result %s: %v", msg.Result, err)
	}
}

// TestLambdaEndToEnd runs the deployable bootstrap under the Lambda Runtime
// Interface Emulator: OIDC tokens verified against the issuer's JWKS, the
// Buildkite token read from Secrets Manager, tools answered from the
// Buildkite simulator, the policy and audit tables in DynamoDB Local.
func TestLambdaEndToEnd(t *testing.T) {
	s := startLambda(t)
	tok := s.token(t, "dana", "engineering")

	t.Run("tools/list shows the caller's tools", func(t *testing.T) {
		resp := s.invoke(t, event(t, "apigw-v2-tools-list.json", tok))
		var res struct{ Tools []struct{ Name string } }
		rpcResult(t, resp, &res)
		var names []string
		for _, tl := range res.Tools {
			names = append(names, tl.Name)
		}
		if !slices.Contains(names, "list_builds") || !slices.Contains(names, "current_user") || slices.Contains(names, "create_build") {
			t.Errorf("tools %v: want the approved read tools, not the pending create_build", names)
		}
	})

	t.Run("tools/call answers from Buildkite with the token from Secrets Manager", func(t *testing.T) {
		s.Buildkite.ResetRequests()
		resp := s.invoke(t, event(t, "apigw-v2-tools-call.json", tok))
		var res struct {
			IsError bool `json:"isError"`
			Content []struct{ Text string }
		}
		rpcResult(t, resp, &res)
		user := s.Buildkite.Data().User
		if res.IsError || len(res.Content) == 0 || !strings.Contains(res.Content[0].Text, user.Email) {
			t.Errorf("current_user result %+v, want the simulator's user %s", res, user.Email)
		}
		reqs := s.Buildkite.Requests()
		if len(reqs) == 0 {
			t.Fatal("no request reached Buildkite")
		}
		for _, r := range reqs {
			if got := r.Header.Get("Authorization"); got != "Bearer "+buildkitetest.DefaultToken {
				t.Errorf("%s %s sent Authorization %q, want the token from Secrets Manager (never the caller's)", r.Method, r.Path, got)
			}
		}
		if n := s.Secrets.Calls("GetSecretValue"); n != 1 {
			t.Errorf("GetSecretValue called %d times, want 1 (then cached)", n)
		}
		// The audit item is written before the answer returns.
		events, err := s.AuditEvents(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, e := range events {
			found = found || (e.Tool == "current_user" && e.User.Subject == "dana" && e.Outcome == "ok")
		}
		if !found {
			t.Errorf("no audit item for dana's current_user call in %+v\n%s", events, s.emu.Logs())
		}
	})

	t.Run("a forbidden tool is a JSON-RPC error", func(t *testing.T) {
		ev := event(t, "apigw-v2-tools-call.json", tok)
		ev.Body = `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"create_build","arguments":{"org_slug":"acme","pipeline_slug":"web","commit":"HEAD","branch":"main"}}}`
		resp := s.invoke(t, ev)
		var msg struct{ Error struct{ Code int } }
		if err := json.Unmarshal([]byte(resp.Body), &msg); err != nil || msg.Error.Code != -32602 {
			t.Errorf("create_build: status %d body %s, want JSON-RPC -32602", resp.StatusCode, resp.Body)
		}
	})

	t.Run("no token is 401 with a challenge", func(t *testing.T) {
		resp := s.invoke(t, event(t, "apigw-v2-no-token.json", ""))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401; body %s", resp.StatusCode, resp.Body)
		}
		if ch := resp.Headers["Www-Authenticate"]; !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `resource_metadata="https://abc123.execute-api.eu-west-1.amazonaws.com/.well-known/oauth-protected-resource`) {
			t.Errorf("WWW-Authenticate %q", ch)
		}
	})

	t.Run("a token for another audience is 401", func(t *testing.T) {
		other, err := s.Issuer.Token(mcpenv.Claims{Subject: "dana", Audience: "https://other.example.com/mcp"})
		if err != nil {
			t.Fatal(err)
		}
		if resp := s.invoke(t, event(t, "apigw-v2-tools-list.json", other)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
	})
}

// TestLambdaBootstrapBuildsForArm64 builds what deploys (template.yaml:
// arm64) and checks it is an AArch64 Linux executable.
func TestLambdaBootstrapBuildsForArm64(t *testing.T) {
	p := lambdatest.Bootstrap(t, pkg, "arm64")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 20)
	if _, err := f.Read(hdr); err != nil {
		t.Fatal(err)
	}
	if string(hdr[1:4]) != "ELF" || hdr[18] != 183 { // e_machine 183: AArch64
		t.Errorf("%s is not a linux/arm64 executable", p)
	}
}
