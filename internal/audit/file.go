package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// JSONLines appends events as JSON lines: to a local file (the audit log of
// local mode) or to standard output (CloudWatch, until the audit table
// takes over). It is safe for concurrent use.
type JSONLines struct {
	mu sync.Mutex
	w  io.Writer
}

// NewJSONLines writes events to w.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{w: w} }

// OpenFile opens (creating if needed) the JSON-lines file at path.
func OpenFile(path string) (*JSONLines, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("audit file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit file: %w", err)
	}
	return &JSONLines{w: f}, nil
}

// Write appends one event as a single line; one write call per event keeps
// lines whole even when several processes share the file.
func (w *JSONLines) Write(_ context.Context, e Event) error {
	b, err := json.Marshal(e.Bounded())
	if err != nil {
		return fmt.Errorf("encode audit event %s: %w", e.ID, err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("write audit event %s: %w", e.ID, err)
	}
	return nil
}

// Close closes the underlying writer if it can be closed.
func (w *JSONLines) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.w.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
