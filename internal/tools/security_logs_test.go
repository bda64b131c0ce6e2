package tools

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// streamLog serves JobLog from a string.
type streamLog struct {
	fakeLog
}

func (s *streamLog) JobLog(_ context.Context, _, _, _, _ string) (io.ReadCloser, int64, error) {
	return io.NopCloser(strings.NewReader(s.log)), int64(len(s.log)), nil
}

// Finding L2: one 600-byte search_logs request (a pattern matching every
// row, with wide context, or a large pattern) held a core for the whole
// Buildkite timeout. A search's work is now bounded in units counted the
// same on every machine (bytes matched times the pattern's program size,
// plus the context rows kept), and it stops when its caller goes away.
func TestSecurityL2SearchLogsWorkIsBounded(t *testing.T) {
	// 2 MiB of rows that all match.
	log := &streamLog{fakeLog{log: strings.Repeat("some log line that matches the pattern\n", 2<<20/40)}}
	lim := defaultLogLimits
	lim.work = 2 << 20 * 64 // as the default is to 64 MiB
	for _, tt := range []struct {
		name    string
		in      searchLogsArgs
		stopped bool
	}{
		{"every row with 100 rows of context, newest first", searchLogsArgs{Pattern: ".", Context: 100, Reverse: true}, true},
		{"a large pattern", searchLogsArgs{Pattern: "(?:" + strings.Repeat("a?", 240) + ")zzz"}, true},
		{"control: a plain search with a row of context", searchLogsArgs{Pattern: "error .*timed out", Context: 1}, false},
	} {
		out, err := searchLog(context.Background(), log, tt.in, lim)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if stopped := strings.Contains(out.Note, "work limit"); stopped != tt.stopped {
			t.Errorf("%s: stopped %v (note %q, %d rows scanned), want %v", tt.name, stopped, out.Note, out.ScannedRows, tt.stopped)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client disconnected
	if _, err := searchLog(ctx, log, searchLogsArgs{Pattern: "x"}, defaultLogLimits); !errors.Is(err, context.Canceled) {
		t.Errorf("search for a gone caller: err = %v, want context.Canceled", err)
	}
}
