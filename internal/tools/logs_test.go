package tools

import (
	"testing"

	"github.com/google/go-cmp/cmp"
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
			if diff := cmp.Diff(tt.want, logLines([]byte(tt.data), tt.partial)); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}
