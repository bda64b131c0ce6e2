package stack

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// guard is the cfn-guard binary that infra/local/cfnguard.sh installs; in
// CI its absence fails the test.
func guard(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("KITEGATE_CFN_GUARD")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("KITEGATE_CFN_GUARD is not set: run the tests through infra/local/cfnguard.sh (make test does)")
		}
		t.Skip("KITEGATE_CFN_GUARD is not set: run through infra/local/cfnguard.sh (make test does) to check the template with cfn-guard")
	}
	return bin
}

// validate runs cfn-guard on a template with the rules in infra/guard and
// returns its exit code and output.
func validate(t *testing.T, bin, template string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, "validate", "-d", template, "-r", "../../infra/guard", "--show-summary", "all")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	}
	t.Fatalf("%s: %v", bin, err)
	return 0, ""
}

var guardRule = regexp.MustCompile(`(?m)^rule ([a-z0-9_]+)`)

// TestGuard: the template passes every rule of ours, and a template that
// breaks each of them fails every one, with a non-zero exit.
func TestGuard(t *testing.T) {
	bin := guard(t)
	files, err := filepath.Glob("../../infra/guard/*.guard")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rules in infra/guard: %v", err)
	}
	var rules []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range guardRule.FindAllStringSubmatch(string(b), -1) {
			rules = append(rules, filepath.Base(f)+"/"+m[1])
		}
	}
	t.Run("template.yaml passes", func(t *testing.T) {
		code, out := validate(t, bin, "../../template.yaml")
		if code != 0 || strings.Contains(out, "FAIL") {
			t.Errorf("cfn-guard exit %d:\n%s", code, out)
		}
		for _, r := range rules {
			if !regexp.MustCompile(regexp.QuoteMeta(r) + `\s+(PASS|SKIP)`).MatchString(out) {
				t.Errorf("rule %s neither passed nor skipped:\n%s", r, out)
			}
		}
	})
	t.Run("a bad template fails every rule", func(t *testing.T) {
		code, out := validate(t, bin, "../../infra/guard/testdata/bad-template.yaml")
		if code == 0 {
			t.Errorf("cfn-guard exit 0 on the bad template:\n%s", out)
		}
		for _, r := range rules {
			if !regexp.MustCompile(regexp.QuoteMeta(r) + `\s+FAIL`).MatchString(out) {
				t.Errorf("rule %s did not fail on the bad template:\n%s", r, out)
			}
		}
	})
}
