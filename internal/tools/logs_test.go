package tools

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/buildkite"
)

func TestLogLines(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		partial bool
		want    []string
	}{
		{"agent timestamps and colours", "\x1b_bk;t=1764000000000\x07\x1b[31mFAIL\x1b[0m x\r\n\x1b_bk;t=1764000000137\x07done\r\n", false, []string{"FAIL x", "done"}},
		{"partial first line dropped", "tail of a line\r\nwhole\r\n", true, []string{"whole"}},
		{"no newline in a partial read", "only a piece", true, nil},
		{"carriage-return progress keeps the last state", "10%\r50%\r100%\r\n", false, []string{"100%"}},
		{"OSC title and bell", "\x1b]0;title\x07text\x07!\r\n", false, []string{"text!"}},
		{"blank lines kept", "a\r\n\r\nb\n", false, []string{"a", "", "b"}},
		{"empty", "", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range logLines([]byte(tt.data), tt.partial) {
				got = append(got, r.C)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeLog serves JobLogTail from a string; other methods are not called.
type fakeLog struct {
	Buildkite
	log   string
	asked []int64
}

func (f *fakeLog) JobLogTail(_ context.Context, _, _, _, _ string, n int64) (buildkite.LogTail, error) {
	f.asked = append(f.asked, n)
	start := max(0, int64(len(f.log))-n)
	return buildkite.LogTail{Data: []byte(f.log[start:]), Offset: start, Size: int64(len(f.log))}, nil
}

func (f *fakeLog) JobLogHead(_ context.Context, _, _, _, _ string, n int64) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(f.log[:min(n, int64(len(f.log)))])), nil
}

func TestTailLogsReadsMoreForLongLines(t *testing.T) {
	long := strings.Repeat("x", 3000)
	f := &fakeLog{log: strings.Repeat(long+"\r\n", 200)}
	cat, err := Default(f)
	if err != nil {
		t.Fatal(err)
	}
	tool, _ := cat.Lookup("tail_logs")
	res, err := tool.Call(context.Background(), ReadArguments(json.RawMessage(`{"org_slug":"acme","pipeline_slug":"web-app","build_number":"1","job_id":"01890a5d-ac96-4b5e-9a3e-6f2f6c1e0d11","tail":20}`)))
	if err != nil {
		t.Fatal(err)
	}
	var out tailOut
	if err := json.Unmarshal([]byte(text(res)), &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{20 * bytesPerLine, maxTailBytes}, f.asked); diff != "" {
		t.Errorf("bytes asked (-want +got):\n%s", diff)
	}
	if len(out.Entries) != 20 || !out.Truncated || out.Entries[0].RN != 180 || !strings.HasSuffix(out.Entries[0].C, "…[line cut]") {
		t.Errorf("got %d rows, truncated %v, first %d, row 0 %.20q…", len(out.Entries), out.Truncated, out.Entries[0].RN, out.Entries[0].C)
	}
}
