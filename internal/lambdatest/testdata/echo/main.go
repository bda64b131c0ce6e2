// Command echo is a Lambda function for testing the harness: it answers an
// event with the values of the environment variables it names, or fails
// when asked to.
package main

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

type request struct {
	Env  []string `json:"env"`
	Fail string   `json:"fail"`
}

type response struct {
	Env map[string]*string `json:"env"`
}

func handle(_ context.Context, req request) (response, error) {
	if req.Fail != "" {
		return response{}, errors.New(req.Fail)
	}
	out := response{Env: map[string]*string{}}
	for _, k := range req.Env {
		if v, ok := os.LookupEnv(k); ok {
			out.Env[k] = &v
		} else {
			out.Env[k] = nil
		}
	}
	return out, nil
}

func main() { lambda.StartHandlerFunc(handle) }
