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

// notInMcp says why a package must not be in the mcp function's build, or
// "": the authorization server is the authz function's (the mcp function
// verifies its tokens with the published key set, like any resource
// server), and what only local mode and the admin command need (YAML)
// stays out.
func notInMcp(pkg string) string {
	switch {
	case strings.HasPrefix(pkg, "github.com/zitadel/"):
		return "the OpenID Provider library of the authorization server (the authz function)"
	case pkg == module+"/internal/authz" || strings.HasPrefix(pkg, module+"/internal/authz/"):
		return "the authorization server (the authz function)"
	case pkg == module+"/internal/signing" || strings.HasPrefix(pkg, module+"/internal/signing/"):
		return "token signing (the authz function)"
	case pkg == "github.com/aws/aws-sdk-go-v2/service/kms" || strings.HasPrefix(pkg, "github.com/aws/aws-sdk-go-v2/service/kms/"):
		return "the KMS client (the authz function signs; the mcp function reads the key set over HTTPS)"
	case pkg == "go.yaml.in/yaml/v3" || pkg == "gopkg.in/yaml.v3":
		return "YAML: the policy file (policyfile) and the dev token file (devtokens) are for the admin command and local mode; on Lambda the policy comes from its table"
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
// local-mode package among them, and on the authorization server's parts
// in the mcp function.
func TestLambdaBuildsLinkProductionCodeOnly(t *testing.T) {
	ctx := t.Context()
	dir, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fns := goList(t, ctx, dir, nil, module+"/functions/...")
	if len(fns) < 5 {
		t.Fatalf("functions: %v, want at least mcp, authz, discovery, audit, rotation", fns)
	}
	for _, goarch := range []string{"arm64", "amd64"} {
		for _, fn := range fns {
			t.Run(goarch+"/"+strings.TrimPrefix(fn, module+"/functions/"), func(t *testing.T) {
				deps := goList(t, ctx, dir, []string{"GOOS=linux", "GOARCH=" + goarch, "CGO_ENABLED=0"}, "-deps", "-tags", BuildTags, fn)
				mcp := fn == module+"/functions/mcp"
				for _, p := range deps {
					if why := forbidden(p); why != "" {
						t.Errorf("links %s: %s", p, why)
					}
					if why := notInMcp(p); mcp && why != "" {
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

func TestNotInMcp(t *testing.T) {
	for pkg, want := range map[string]bool{
		"github.com/zitadel/oidc/v3/pkg/op":              true,
		module + "/internal/authz":                       true,
		module + "/internal/signing":                     true,
		"github.com/aws/aws-sdk-go-v2/service/kms":       true,
		module + "/internal/identity":                    false,
		"github.com/coreos/go-oidc/v3/oidc":              false,
		"github.com/aws/aws-sdk-go-v2/service/sts":       false,
		module + "/internal/authzx":                      false,
		"github.com/aws/aws-sdk-go-v2/service/kms/types": true,
		"go.yaml.in/yaml/v3":                             true,
		module + "/internal/policy/policyfile":           false, // caught by its YAML import
	} {
		if got := notInMcp(pkg) != ""; got != want {
			t.Errorf("notInMcp(%q) = %v, want %v", pkg, got, want)
		}
	}
}
