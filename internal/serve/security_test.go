package serve_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitegate/kitegate/internal/serve"
)

// Finding L4 (Lambda side): behind API Gateway the request id comes from
// the event's request context, never from a header the caller sent.
func TestSecurityL4RequestIDFromTheGatewayEvent(t *testing.T) {
	var got string
	h := serve.APIGatewayV2(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = serve.RequestID(r)
		w.WriteHeader(http.StatusNoContent)
	}))
	ev := events.APIGatewayV2HTTPRequest{
		RawPath: "/mcp", Headers: map[string]string{"x-amzn-requestid": "forged", "apigw-requestid": "forged", "x-request-id": "forged"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "Jx1a2b3cIAMEbcQ=", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/mcp"}},
	}
	if _, err := h(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got != "Jx1a2b3cIAMEbcQ=" {
		t.Errorf("RequestID = %q, want the gateway's", got)
	}
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", nil)
	r.Header.Set("X-Amzn-Requestid", "forged")
	if id := serve.RequestID(r); id != "" {
		t.Errorf("RequestID off Lambda = %q, want none", id)
	}
}
