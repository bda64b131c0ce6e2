package serve

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// WithRequestID wraps a log handler so that a record logged with a Lambda
// invocation's context (logger.InfoContext(ctx, ...)) carries that
// invocation's request id as aws_request_id, as the managed runtimes'
// JSON logs do: every line of one invocation can be found by it.
func WithRequestID(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (r requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		rec = rec.Clone()
		rec.AddAttrs(slog.String("aws_request_id", lc.AwsRequestID))
	}
	return r.Handler.Handle(ctx, rec)
}

func (r requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{r.Handler.WithAttrs(as)}
}

func (r requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{r.Handler.WithGroup(name)}
}
