package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		name, in, want string
		max            int
		truncated      bool
	}{
		{"plain", `{"org_slug":"acme","per_page":5}`, `{"org_slug":"acme","per_page":5}`, 1024, false},
		{"secret key", `{"api_token":"x","password":"y","org_slug":"acme"}`, `{"api_token":"[REDACTED]","org_slug":"acme","password":"[REDACTED]"}`, 1024, false},
		{"environment map", `{"environment":{"AWS_SECRET":"z"},"branch":"main"}`, `{"branch":"main","environment":"[REDACTED]"}`, 1024, false},
		{"token-looking value", `{"message":"use bkua_abcdef1234"}`, `{"message":"[REDACTED]"}`, 1024, false},
		{"nested list", `{"items":[{"secret":"a"},"Bearer abcdefghijklmnop1234"]}`, `{"items":[{"secret":"[REDACTED]"},"[REDACTED]"]}`, 1024, false},
		{"capped", `{"message":"` + strings.Repeat("a", 100) + `"}`, `"{\"message\":\"aaaaaaaa"`, 20, true},
		{"not json", `{"x":`, `{"unparsable_bytes":5}`, 1024, false},
		{"empty", ``, ``, 1024, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, truncated := Redact(json.RawMessage(tt.in), tt.max)
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if truncated != tt.truncated {
				t.Errorf("truncated = %v, want %v", truncated, tt.truncated)
			}
			// RedactValue redacts the decoded arguments alike, and leaves
			// them as they were: the tool reads them too.
			var v any
			if json.Unmarshal([]byte(tt.in), &v) != nil {
				return
			}
			got, truncated = RedactValue(v, tt.max)
			if diff := cmp.Diff(tt.want, string(got)); diff != "" || truncated != tt.truncated {
				t.Errorf("RedactValue truncated %v (-want +got):\n%s", truncated, diff)
			}
			var again any
			_ = json.Unmarshal([]byte(tt.in), &again)
			if diff := cmp.Diff(again, v); diff != "" {
				t.Errorf("RedactValue changed its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestFileWritesWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit", "audit.jsonl")
	w, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := Event{ID: NewID(), Tool: "list_builds", Decision: Allowed, Outcome: OutcomeOK, BuildkiteCalls: i}
			if err := w.Write(context.Background(), e); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		ids[e.ID] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct events read back, want %d", len(ids), n)
	}
}
