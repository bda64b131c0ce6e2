package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestWithRequestID(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(WithRequestID(slog.NewJSONHandler(&buf, nil))).With("fn", "mcp")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-123"})
	logger.InfoContext(ctx, "inside an invocation")
	logger.Info("outside")
	dec := json.NewDecoder(&buf)
	for _, want := range []string{"req-123", ""} {
		var line map[string]any
		if err := dec.Decode(&line); err != nil {
			t.Fatal(err)
		}
		got, _ := line["aws_request_id"].(string)
		if got != want || line["fn"] != "mcp" {
			t.Errorf("line %v: aws_request_id %q, want %q (and fn kept)", line, got, want)
		}
	}
}
