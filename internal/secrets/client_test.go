package secrets

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

type fakeSecret struct {
	value string
	calls int
}

func (f *fakeSecret) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls++
	if aws.ToString(in.SecretId) != "arn:secret" {
		return nil, errors.New("no such secret")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.value)}, nil
}

var _ SecretGetter = (*fakeSecret)(nil)

func TestClientSecret(t *testing.T) {
	tests := []struct {
		name, value, stored, want, wantErr string
	}{
		{name: "local value", value: "local", want: "local"},
		{name: "json document", stored: `{"client_secret":"s3"}`, want: "s3"},
		{name: "plain string", stored: "plain", want: "plain"},
		{name: "empty", stored: "", wantErr: "the upstream client secret is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSecret{value: tt.stored}
			get := ClientSecret("upstream", tt.value, "arn:secret", func() (SecretGetter, error) { return f, nil })
			for range 2 {
				got, err := get(t.Context())
				if tt.wantErr != "" {
					if err == nil || err.Error() != tt.wantErr {
						t.Fatalf("err %v, want %q", err, tt.wantErr)
					}
					return
				}
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
			}
			if tt.value == "" && f.calls != 1 {
				t.Errorf("%d reads of the secret, want one (kept)", f.calls)
			}
		})
	}
}
