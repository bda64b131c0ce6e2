// Package awsenv is the AWS configuration a function gets from its
// environment: on Lambda the runtime sets the region and the function
// role's credentials as environment variables, and that is all a function
// reads. It stands in for the SDK's config.LoadDefaultConfig in the mcp
// function, whose shared files, SSO, STS and IMDS credential providers a
// Lambda function never uses and which are an eighth of its bootstrap
// (1.8 MB of 14.6 MB on linux/arm64) and part of its package init.
//
// Read: AWS_REGION (or AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_MAX_ATTEMPTS, and the
// endpoint overrides AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>
// (DynamoDB Local, test fakes), as the SDK names them.
package awsenv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Load returns the configuration from lookup's variables. A missing
// region or key is an error saying which variable to set.
func Load(lookup func(string) (string, bool)) (aws.Config, error) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	var errs []error
	region := get("AWS_REGION")
	if region == "" {
		region = get("AWS_DEFAULT_REGION")
	}
	if region == "" {
		errs = append(errs, errors.New("AWS_REGION is not set"))
	}
	id, secret := get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (the Lambda runtime sets them from the function's role)"))
	}
	cfg := aws.Config{
		Region:        region,
		Credentials:   aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, get("AWS_SESSION_TOKEN"))),
		ConfigSources: []any{endpoints(get)},
	}
	if v := get("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("AWS_MAX_ATTEMPTS %q is not a number of attempts", v))
		}
		cfg.RetryMaxAttempts = n
	}
	if ep := get("AWS_ENDPOINT_URL"); ep != "" {
		cfg.BaseEndpoint = aws.String(ep)
	}
	if err := errors.Join(errs...); err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return cfg, nil
}

// endpoints gives each SDK client its AWS_ENDPOINT_URL_<SERVICE>: the
// clients ask their config sources for it by service id ("DynamoDB",
// "Secrets Manager").
type endpoints func(string) string

// GetServiceBaseEndpoint implements the SDK's service endpoint source.
func (e endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	v := e("AWS_ENDPOINT_URL_" + strings.ToUpper(strings.ReplaceAll(sdkID, " ", "_")))
	return v, v != "", nil
}
