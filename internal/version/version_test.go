package version

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		done     bool
		err      bool
		contains string
	}{
		{name: "no arguments: serve", args: nil},
		{name: "--version", args: []string{"--version"}, done: true, contains: "mcp " + String() + "\n"},
		{name: "-version", args: []string{"-version"}, done: true, contains: "mcp " + String() + "\n"},
		{name: "-h", args: []string{"-h"}, done: true, contains: "Usage: mcp [--version]"},
		{name: "--help", args: []string{"--help"}, done: true, contains: "the MCP function"},
		{name: "unknown flag", args: []string{"--serve"}, done: true, err: true, contains: "flag provided but not defined"},
		{name: "stray argument", args: []string{"serve"}, done: true, err: true, contains: "Usage:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			done, err := Command("mcp", "the MCP function", tc.args, &out)
			if done != tc.done || (err != nil) != tc.err {
				t.Fatalf("Command(%q) = %v, %v; want done %v, error %v", tc.args, done, err, tc.done, tc.err)
			}
			if !strings.Contains(out.String(), tc.contains) {
				t.Errorf("Command(%q) printed %q, want it to contain %q", tc.args, out.String(), tc.contains)
			}
			if !tc.done && out.Len() > 0 {
				t.Errorf("Command(%q) printed %q while serving", tc.args, out.String())
			}
		})
	}
}

// TestMakefileStampsTheVersion builds a function exactly as `sam build`
// does (the Makefile's build-McpFunction target, for this machine instead of
// linux/arm64) and runs its --version: it must print git describe.
func TestMakefileStampsTheVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a function binary")
	}
	for _, tool := range []string{"make", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to build as sam build does: %v", tool, err)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	describe, err := exec.Command("git", "-C", root, "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		t.Fatalf("git describe: %v", err)
	}
	want := strings.TrimSpace(string(describe))
	dir := t.TempDir()
	build := exec.Command("make", "-C", root, "--no-print-directory", "build-McpFunction", "ARTIFACTS_DIR="+dir, "LAMBDA_ENV=CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build-McpFunction: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(dir, "bootstrap"), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("bootstrap --version: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "mcp "+want {
		t.Errorf("bootstrap --version printed %q, want %q", got, "mcp "+want)
	}
}
