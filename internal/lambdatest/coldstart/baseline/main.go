// Command baseline is the smallest Go function for the provided.al2023
// runtime: it answers every API Gateway event with 200. The coldstart
// program measures its init beside the mcp function's, as the floor that
// the machine and the emulator set under any Go function's cold start.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.StartHandlerFunc(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "{}"}, nil
	})
}
