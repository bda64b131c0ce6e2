package tools

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestToolSnapshots pins every tool definition (what a reviewer approves) to
// testdata/toolsnaps/<name>.json. Regenerate with UPDATE_TOOLSNAPS=1 after a
// deliberate change; the definition hash changes with it, sending the tool
// back to review.
func TestToolSnapshots(t *testing.T) {
	cat, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "toolsnaps")
	update := os.Getenv("UPDATE_TOOLSNAPS") == "1"
	want := map[string]bool{}
	for _, tool := range cat.Tools() {
		name := tool.Name() + ".json"
		want[name] = true
		got, err := snapshot(tool)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: no snapshot (run with UPDATE_TOOLSNAPS=1): %v", tool.Name(), err)
			continue
		}
		if diff := cmp.Diff(string(old), string(got)); diff != "" {
			t.Errorf("%s drifted from its snapshot; if deliberate, run with UPDATE_TOOLSNAPS=1 (-snapshot +now):\n%s", tool.Name(), diff)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if want[e.Name()] {
			continue
		}
		if update {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("snapshot %s has no tool (run with UPDATE_TOOLSNAPS=1 to remove it)", e.Name())
	}
}

func snapshot(tool *Tool) ([]byte, error) {
	def := tool.Definition()
	spec := tool.Spec()
	scopes := spec.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	v := struct {
		Name         string               `json:"name"`
		Title        string               `json:"title,omitempty"`
		Description  string               `json:"description"`
		Area         string               `json:"area"`
		Kind         Kind                 `json:"kind"`
		Scopes       []string             `json:"scopes"`
		InputSchema  any                  `json:"inputSchema"`
		OutputSchema json.RawMessage      `json:"outputSchema,omitempty"` // reviewed, not announced
		Annotations  *mcp.ToolAnnotations `json:"annotations"`
		Hash         string               `json:"hash"`
	}{def.Name, def.Title, def.Description, spec.Area, spec.Kind, scopes, def.InputSchema, tool.OutputSchema(), def.Annotations, tool.Hash()}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
