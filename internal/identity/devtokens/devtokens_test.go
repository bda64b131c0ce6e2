package devtokens

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/identity"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRead(t *testing.T) {
	got, err := Read(writeFile(t, "tokens.yaml", `
tokens:
  "alice-token": {sub: alice, email: alice@example.com, groups: [admins, builders]}
  "bob-token":
    sub: bob
    groups: [readers]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]identity.Caller{
		"alice-token": {Subject: "alice", Email: "alice@example.com", Groups: []string{"admins", "builders"}},
		"bob-token":   {Subject: "bob", Groups: []string{"readers"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name, path string
	}{
		{"missing file", filepath.Join(t.TempDir(), "nope.yaml")},
		{"no tokens", writeFile(t, "empty.yaml", "tokens: {}\n")},
		{"unknown field", writeFile(t, "typo.yaml", "tokens: {\"s3cret\": {sub: a, group: [x]}}\n")},
		{"not yaml", writeFile(t, "bad.yaml", "tokens: [\"s3cret\"\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(tt.path)
			if err == nil {
				t.Fatal("Read succeeded, want an error")
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q reveals a token", err)
			}
		})
	}
}
