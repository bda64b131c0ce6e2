package serve

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
)

func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Auth", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, r.URL.Path+"?"+r.URL.RawQuery+" "+string(body))
	})
}

func TestAPIGatewayV2(t *testing.T) {
	ev := events.APIGatewayV2HTTPRequest{
		Version:         "2.0",
		RawPath:         "/mcp",
		RawQueryString:  "a=1",
		Headers:         map[string]string{"authorization": "Bearer abc", "content-type": "application/json"},
		Body:            base64.StdEncoding.EncodeToString([]byte(`{"x":1}`)),
		IsBase64Encoded: true,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "abc.execute-api.eu-west-1.amazonaws.com",
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/mcp"},
		},
	}
	resp, err := APIGatewayV2(echo())(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{resp.Body, resp.Headers["X-Method"], resp.Headers["X-Auth"]}
	want := []string{`/mcp?a=1 {"x":1}`, "POST", "Bearer abc"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if resp.StatusCode != http.StatusTeapot {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestRunLocalUntilCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, echo(), func(string) (string, bool) { return "", false }, Options{Addr: "127.0.0.1:0", Ready: func(a net.Addr) { ready <- a }, Local: Local})
	}()
	addr := <-ready
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post("http://"+addr.String()+"/mcp", "application/json", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "/mcp? hi" {
		t.Errorf("body %q", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}

// Off Lambda, a binary without a local server (a Lambda build) says so
// instead of serving.
func TestRunWithoutLocalServer(t *testing.T) {
	err := Run(context.Background(), echo(), func(string) (string, bool) { return "", false }, Options{Addr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "no local server") {
		t.Errorf("Run off Lambda without Options.Local: %v, want an error saying there is no local server", err)
	}
}

func TestOnLambda(t *testing.T) {
	env := map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}
	if !OnLambda(func(k string) (string, bool) { v, ok := env[k]; return v, ok }) {
		t.Error("runtime API set, OnLambda false")
	}
	if OnLambda(func(string) (string, bool) { return "", false }) {
		t.Error("runtime API unset, OnLambda true")
	}
}

func TestEventByHand(t *testing.T) {
	double := func(_ context.Context, n int) (int, error) { return 2 * n, nil }
	noLambda := func(string) (string, bool) { return "", false }
	var out strings.Builder
	if err := Event(t.Context(), double, noLambda, EventOptions{In: strings.NewReader("21"), MaxBytes: 16, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "42\n" {
		t.Errorf("response %q, want 42", out.String())
	}

	out.Reset()
	err := Event(t.Context(), double, noLambda, EventOptions{In: strings.NewReader("123456789012345678"), MaxBytes: 4, Out: &out})
	if err == nil || !strings.Contains(err.Error(), "standard input") || out.Len() != 0 {
		t.Errorf("an event over MaxBytes: err %v, response %q", err, out.String())
	}

	out.Reset()
	fail := func(_ context.Context, _ struct{}) (map[string]int, error) {
		return map[string]int{"done": 1}, io.ErrUnexpectedEOF
	}
	err = Event(t.Context(), fail, noLambda, EventOptions{Out: &out, Indent: true})
	if err != io.ErrUnexpectedEOF || out.String() != "{\n  \"done\": 1\n}\n" {
		t.Errorf("a failed run with no input: err %v, response %q; want the error and the response", err, out.String())
	}
}

func TestLogger(t *testing.T) {
	var stdout, stderr strings.Builder
	Logger(func(string) (string, bool) { return "", false }, "warn", &stdout, &stderr).Info("hidden")
	Logger(func(string) (string, bool) { return "", false }, "", &stdout, &stderr).Info("by hand", "err", "token bkua_"+strings.Repeat("0", 40))
	Logger(func(k string) (string, bool) { return "127.0.0.1:9001", k == "AWS_LAMBDA_RUNTIME_API" }, "bogus", &stdout, &stderr).Info("on lambda")
	if strings.Contains(stderr.String(), "hidden") || strings.Contains(stderr.String(), "bkua_0") || !strings.Contains(stderr.String(), `"msg":"by hand"`) || !strings.Contains(stdout.String(), `"msg":"on lambda"`) {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}
