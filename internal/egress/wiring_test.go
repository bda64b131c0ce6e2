package egress_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The loopback and resolver options exist for tests and the bundled simulator only. No
// other non-test file in the repository may set it: production wiring
// builds its egress clients from egress.Config alone.
func TestSecurityM1LoopbackOptionOnlyInTestsAndSimulator(t *testing.T) {
	root := filepath.Join("..", "..")
	allowed := map[string]bool{
		filepath.Join("internal", "egress", "egress.go"):        true, // its definition
		filepath.Join("internal", "buildkitetest", "server.go"): true, // the simulator's artifact store
	}
	var found []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".local" || d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.Contains(string(b), "AllowLoopbackForTesting(") {
			found = append(found, rel)
			if !allowed[rel] {
				t.Errorf("%s sets egress.AllowLoopbackForTesting outside tests and the simulator", rel)
			}
		}
		if strings.Contains(string(b), "ResolveForTesting(") && rel != filepath.Join("internal", "egress", "egress.go") {
			t.Errorf("%s sets egress.ResolveForTesting outside tests", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Error("found no use of AllowLoopbackForTesting at all: the scan is not looking where it should")
	}
}
