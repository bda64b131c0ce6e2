// Package serve runs one http.Handler two ways: on AWS Lambda behind an API
// Gateway HTTP API (payload format 2.0) when the Lambda runtime API is
// present, and as a local http.Server with timeouts otherwise. It is the only
// importer of aws-lambda-go's start functions.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// Options configure the local server.
type Options struct {
	// Addr is the local listen address; default 127.0.0.1:8080.
	Addr   string
	Logger *slog.Logger
	// Ready, if set, receives the bound address once the server listens.
	Ready func(addr net.Addr)
	// Local serves h off Lambda: standalone.Serve, which reaches Local
	// below only in local builds, so that a Lambda build links no HTTP
	// server. Nil: this binary serves only on Lambda.
	Local func(ctx context.Context, h http.Handler, opts Options) error
}

// OnLambda reports whether the process runs inside the Lambda runtime.
func OnLambda(lookup func(string) (string, bool)) bool {
	v, ok := lookup("AWS_LAMBDA_RUNTIME_API")
	return ok && v != ""
}

// APIGatewayV2 adapts h to API Gateway HTTP API events.
func APIGatewayV2(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(h).ProxyWithContext
}

// RequestID is the platform's id of r: API Gateway's request id when r came
// through the API Gateway adapter, else the Lambda invocation's, else "".
// It is read from the event, never from a header the caller could set.
func RequestID(r *http.Request) string {
	if rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && rc.RequestID != "" {
		return rc.RequestID
	}
	if lc, ok := lambdacontext.FromContext(r.Context()); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return ""
}

// Run serves h until ctx is done: on Lambda when lookup finds the runtime
// API, through opts.Local otherwise.
func Run(ctx context.Context, h http.Handler, lookup func(string) (string, bool), opts Options) error {
	if OnLambda(lookup) {
		lambda.StartHandlerFunc(APIGatewayV2(h), lambda.WithContext(ctx))
		return nil
	}
	if opts.Local == nil {
		return errors.New("serve: not on Lambda (AWS_LAMBDA_RUNTIME_API is not set), and this binary has no local server")
	}
	return opts.Local(ctx, h, opts)
}

// Local serves h on opts.Addr with timeouts suited to short JSON requests,
// and shuts down gracefully when ctx is done.
func Local(ctx context.Context, h http.Handler, opts Options) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if opts.Ready != nil {
		opts.Ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
