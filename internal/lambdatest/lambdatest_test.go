package lambdatest_test

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/lambdatest"
)

func TestMain(m *testing.M) { os.Exit(lambdatest.Main(m)) }

const echo = "./internal/lambdatest/testdata/echo"

func ptr(s string) *string { return &s }

func TestEmulatorRunsTheBootstrap(t *testing.T) {
	t.Setenv("KITEGATE_LAMBDATEST_LEAK", "from the test process")
	e := lambdatest.Start(t, lambdatest.Bootstrap(t, echo, runtime.GOARCH), lambdatest.Options{
		Env: map[string]string{"GREETING": "hello"},
	})
	ctx := context.Background()

	status, body, err := e.Invoke(ctx, []byte(`{"env":["GREETING","KITEGATE_LAMBDATEST_LEAK","AWS_LAMBDA_RUNTIME_API","AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]}`))
	if err != nil || status != 200 {
		t.Fatalf("invoke: %d %s %v", status, body, err)
	}
	var got struct{ Env map[string]*string }
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	want := map[string]*string{
		"GREETING":                        ptr("hello"),
		"KITEGATE_LAMBDATEST_LEAK":        nil, // the test's environment stays out
		"AWS_LAMBDA_RUNTIME_API":          ptr(e.RuntimeAPI),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": ptr("128"),
	}
	if diff := cmp.Diff(want, got.Env); diff != "" {
		t.Errorf("function environment (-want +got):\n%s", diff)
	}

	// A function error comes back as Lambda's error document, and the
	// function keeps serving.
	status, body, err = e.Invoke(ctx, []byte(`{"fail":"boom"}`))
	if err != nil || !strings.Contains(string(body), `"errorMessage":"boom"`) {
		t.Errorf("failing invoke: %d %s %v", status, body, err)
	}
	if _, body, err := e.Invoke(ctx, []byte(`{}`)); err != nil || string(body) != `{"env":{}}` {
		t.Errorf("invoke after an error: %s %v", body, err)
	}
	if logs := e.Logs(); !strings.Contains(logs, "REPORT RequestId:") {
		t.Errorf("no REPORT line in the emulator output:\n%s", logs)
	}
}

func TestStopEndsBothProcesses(t *testing.T) {
	e := lambdatest.Start(t, lambdatest.Bootstrap(t, echo, runtime.GOARCH), lambdatest.Options{})
	if _, _, err := e.Invoke(context.Background(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	pid, err := e.BootstrapPID()
	if err != nil {
		t.Fatal(err)
	}
	if rss, err := lambdatest.PeakRSS(pid); err != nil || rss <= 0 {
		t.Errorf("PeakRSS(%d) = %d, %v", pid, rss, err)
	}
	e.Stop()
	select {
	case <-e.Exited():
	default:
		t.Error("emulator still running after Stop")
	}
	if b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat"); err == nil && !strings.Contains(string(b), ") Z ") {
		t.Errorf("bootstrap %d still running after Stop: %s", pid, b)
	}
	e.Stop() // idempotent
}

func TestBootstrapBuildsForArm64(t *testing.T) {
	p := lambdatest.Bootstrap(t, echo, "arm64")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// ELF header: e_machine 183 is AArch64.
	if len(b) < 20 || string(b[1:4]) != "ELF" || b[18] != 183 {
		t.Errorf("%s is not a linux/arm64 ELF binary", p)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
