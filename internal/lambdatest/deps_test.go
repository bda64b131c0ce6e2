package lambdatest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// module is kitegate's module path.
const module = "github.com/kitegate/kitegate"

// forbidden says why a package a Lambda build links must not be there, or
// "" when it may: production binaries link production code only.
func forbidden(pkg string) string {
	switch {
	case pkg == "testing" || strings.HasPrefix(pkg, "testing/"):
		return "the testing package"
	case pkg == "net/http/httptest":
		return "a test HTTP server"
	case !strings.HasPrefix(pkg, module+"/") && pkg != module:
		return "" // the standard library's and other modules' own packages
	case pkg == module+"/infra":
		return "the policy file built in for local mode"
	case pkg == module+"/internal/local" || strings.HasPrefix(pkg, module+"/internal/local/"):
		return "local mode's stand-ins"
	case strings.HasSuffix(pkg, "test"):
		return "a test double or simulator"
	}
	return ""
}

func TestForbidden(t *testing.T) {
	for pkg, want := range map[string]bool{
		"testing":                                true,
		"net/http/httptest":                      true,
		module + "/internal/buildkitetest":       true,
		module + "/internal/dynamotest":          true,
		module + "/internal/secrets/secretstest": true,
		module + "/internal/lambdatest":          true,
		module + "/internal/local":               true,
		module + "/infra":                        true,
		module + "/internal/mcpserver":           false,
		module + "/internal/standalone":          false,
		"internal/testlog":                       false, // the runtime's, linked by os
		"github.com/aws/aws-lambda-go/lambda":    false,
	} {
		if got := forbidden(pkg) != ""; got != want {
			t.Errorf("forbidden(%q) = %v, want %v", pkg, got, want)
		}
	}
}

// TestLambdaBuildsLinkProductionCodeOnly lists what every function links
// when built as the Makefile builds it for Lambda (GOOS=linux, both
// architectures, -tags lambda.norpc) and fails on any test, simulator or
// local-mode package among them.
func TestLambdaBuildsLinkProductionCodeOnly(t *testing.T) {
	ctx := t.Context()
	dir, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fns := goList(t, ctx, dir, nil, module+"/functions/...")
	if len(fns) < 4 {
		t.Fatalf("functions: %v, want at least mcp, discovery, audit, rotation", fns)
	}
	for _, goarch := range []string{"arm64", "amd64"} {
		for _, fn := range fns {
			t.Run(goarch+"/"+strings.TrimPrefix(fn, module+"/functions/"), func(t *testing.T) {
				deps := goList(t, ctx, dir, []string{"GOOS=linux", "GOARCH=" + goarch, "CGO_ENABLED=0"}, "-deps", "-tags", BuildTags, fn)
				for _, p := range deps {
					if why := forbidden(p); why != "" {
						t.Errorf("links %s: %s", p, why)
					}
				}
			})
		}
	}
}

func goList(t *testing.T, ctx context.Context, dir string, env []string, args ...string) []string {
	t.Helper()
	cmd := exec.CommandContext(ctx, goTool(), append([]string{"list"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Fields(string(out))
}
