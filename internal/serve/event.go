package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kitegate/kitegate/internal/redact"
)

// EventOptions say how an event function runs by hand.
type EventOptions struct {
	// In holds the one event to handle, JSON, at most MaxBytes; nil means
	// the zero event (the function takes no input by hand).
	In       io.Reader
	MaxBytes int64
	// Out receives the handler's response as JSON (indented when Indent).
	Out    io.Writer
	Indent bool
}

// Event runs an event function: on Lambda (when lookup finds the runtime
// API) it serves handler with the typed lambda.StartHandlerFunc; by hand it
// handles the one event read from opts.In and writes the response to
// opts.Out, so an event can be replayed or a run started from a shell. The
// handler's error is returned after the response is written.
func Event[E, R any](ctx context.Context, handler func(context.Context, E) (R, error), lookup func(string) (string, bool), opts EventOptions) error {
	if OnLambda(lookup) {
		lambda.StartHandlerFunc(handler, lambda.WithContext(ctx))
		return nil
	}
	var ev E
	if opts.In != nil {
		data, err := io.ReadAll(io.LimitReader(opts.In, opts.MaxBytes+1))
		if err == nil && int64(len(data)) > opts.MaxBytes {
			err = fmt.Errorf("more than %d bytes", opts.MaxBytes)
		}
		if err == nil {
			err = json.Unmarshal(data, &ev)
		}
		if err != nil {
			return fmt.Errorf("read a %T event from standard input: %w", ev, err)
		}
	}
	resp, err := handler(ctx, ev)
	enc := json.NewEncoder(opts.Out)
	if opts.Indent {
		enc.SetIndent("", "  ")
	}
	if encErr := enc.Encode(resp); encErr != nil && err == nil {
		err = encErr
	}
	return err
}

// Logger returns an event function's logger: JSON lines at level (a slog
// level name; empty or unknown means info), secrets redacted, on stdout on
// Lambda (the function's log) and on stderr by hand, where stdout is kept
// for the response.
func Logger(lookup func(string) (string, bool), level string, stdout, stderr io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	out := stderr
	if OnLambda(lookup) {
		out = stdout
	}
	return slog.New(redact.Handler(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: l})))
}
