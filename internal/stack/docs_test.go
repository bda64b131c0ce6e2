package stack

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The documentation is README.md and every Markdown file under docs/, so a
// page someone adds is checked without being listed here.
func docPages(t *testing.T) map[string]string {
	t.Helper()
	pages := map[string]string{}
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	pages["README.md"] = string(b)
	err = filepath.WalkDir("../../docs", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../..", path)
		pages[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pages
}

var (
	fence      = regexp.MustCompile("(?s)```[^\n]*\n.*?```")
	codeSpan   = regexp.MustCompile("`[^`\n]+`")
	makeCall   = regexp.MustCompile("(?:^|[\\s;&|(`])make\\s+((?:-\\S+\\s+)*)([a-z][a-z0-9_-]*)\\b(?:[^=]|$)")
	envName    = regexp.MustCompile(`\b(?:KITEGATE|BUILDKITE)_[A-Z0-9_]*[A-Z0-9]\b`)
	mdLink     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	linkScheme = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`)
)

// code returns the parts of a Markdown page that are code: fenced blocks
// and inline spans. Prose ("make sure") is not a command.
func code(page string) []string {
	var out []string
	for _, block := range fence.FindAllString(page, -1) {
		out = append(out, block)
	}
	rest := fence.ReplaceAllString(page, "")
	out = append(out, codeSpan.FindAllString(rest, -1)...)
	return out
}

// TestDocsMakeTargets: every `make <target>` the documentation tells a
// reader to run is a target of the Makefile.
func TestDocsMakeTargets(t *testing.T) {
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	targets := makeTargets(string(makefile))
	for name, page := range docPages(t) {
		for _, c := range code(page) {
			for _, m := range makeCall.FindAllStringSubmatch(c, -1) {
				if _, ok := targets[m[2]]; !ok {
					t.Errorf("%s names `make %s`, which is not a Makefile target", name, m[2])
				}
			}
		}
	}
}

// clientSide are variables the documentation names that kitegate does not
// read: the user's own, in a client's configuration. Each needs a reason.
var clientSide = map[string]string{
	"KITEGATE_TOKEN": "the user's shell variable holding their access token, in client configurations (docs/clients.md)",
	"KITEGATE_AUTH":  "the Authorization header value mcp-remote is given (docs/clients.md)",
}

// TestDocsEnvironment: every KITEGATE_ and BUILDKITE_ variable the
// documentation names appears in the code, the template, the Makefile or
// the scripts, so a renamed or removed variable cannot linger in the docs.
func TestDocsEnvironment(t *testing.T) {
	known := map[string]bool{}
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := d.Name()
		if d.IsDir() {
			if path != "../.." && (strings.HasPrefix(base, ".") && base != ".ci" || slices.Contains([]string{"docs", "bin", "node_modules", "testdata"}, base)) {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(base, ".go"), strings.HasSuffix(base, ".sh"), strings.HasSuffix(base, ".yaml"),
			strings.HasSuffix(base, ".toml"), base == "Makefile", base == "run":
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range envName.FindAllString(string(b), -1) {
			known[n] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for name, page := range docPages(t) {
		for _, n := range envName.FindAllString(page, -1) {
			if _, ok := clientSide[n]; ok {
				used[n] = true
				continue
			}
			if !known[n] {
				t.Errorf("%s names %s, which no code, template, Makefile or script uses", name, n)
				known[n] = true // once per name
			}
		}
	}
	for n, why := range clientSide {
		if !used[n] {
			t.Errorf("clientSide lists %s (%s), which no page names any more: drop it", n, why)
		}
	}
}

// TestDocsLinks: every relative link of the documentation reaches a file.
func TestDocsLinks(t *testing.T) {
	for name, page := range docPages(t) {
		for _, m := range mdLink.FindAllStringSubmatch(fence.ReplaceAllString(page, ""), -1) {
			target := m[1]
			if linkScheme.MatchString(target) || strings.HasPrefix(target, "#") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			path := filepath.Join("../..", filepath.Dir(name), filepath.FromSlash(target))
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links to %s, which does not exist", name, m[1])
			}
		}
	}
}
