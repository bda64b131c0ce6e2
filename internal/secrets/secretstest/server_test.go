package secretstest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/secrets/secretstest"
)

const (
	name = "kitegate/buildkite"
	v1   = "11111111-1111-1111-1111-111111111111"
	v2   = "22222222-2222-2222-2222-222222222222"
	v3   = "33333333-3333-3333-3333-333333333333"
)

func newServer(t *testing.T) (*secretstest.Server, *secretsmanager.Client) {
	t.Helper()
	s := secretstest.New()
	t.Cleanup(s.Close)
	return s, s.Client()
}

// code is the service error code of err, "" for nil.
func code(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	return ae.ErrorCode()
}

func put(ctx context.Context, c *secretsmanager.Client, token, value string, stages ...string) error {
	_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(name), ClientRequestToken: aws.String(token), SecretString: aws.String(value), VersionStages: stages,
	})
	return err
}

func stages(t *testing.T, c *secretsmanager.Client) map[string][]string {
	t.Helper()
	out, err := c.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out.VersionIdsToStages {
		slices.Sort(v)
	}
	return out.VersionIdsToStages
}

func TestPutSecretValue(t *testing.T) {
	ctx := context.Background()
	s, c := newServer(t)
	s.Create(name)

	// The first version gets AWSCURRENT even when other stages are named.
	if err := put(ctx, c, v1, "one", "KITEGATE_STAGED"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{v1: {"AWSCURRENT", "KITEGATE_STAGED"}}, stages(t, c)); diff != "" {
		t.Errorf("first version (-want +got):\n%s", diff)
	}
	// No stages: AWSCURRENT moves, AWSPREVIOUS follows it.
	if err := put(ctx, c, v2, "two"); err != nil {
		t.Fatal(err)
	}
	// Named stages only: AWSCURRENT stays where it is; the label moves.
	if err := put(ctx, c, v3, "three", "KITEGATE_STAGED"); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}, v3: {"KITEGATE_STAGED"}}
	if diff := cmp.Diff(want, stages(t, c)); diff != "" {
		t.Errorf("after three puts (-want +got):\n%s", diff)
	}

	tests := []struct {
		name, token, value string
		stages             []string
		code               string
	}{
		{"same token and value is a no-op", v3, "three", []string{"AWSCURRENT"}, ""},
		{"same token, other value", v3, "changed", []string{"KITEGATE_STAGED"}, "ResourceExistsException"},
		{"token too short", "short", "x", nil, "InvalidParameterException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := code(t, put(ctx, c, tt.token, tt.value, tt.stages...)); got != tt.code {
				t.Errorf("error code %q, want %q", got, tt.code)
			}
			if diff := cmp.Diff(want, stages(t, c)); diff != "" {
				t.Errorf("stages changed (-want +got):\n%s", diff)
			}
		})
	}
	_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("nope"), SecretString: aws.String("x")})
	if got := code(t, err); got != "ResourceNotFoundException" {
		t.Errorf("unknown secret: %q", got)
	}
	_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name)})
	if got := code(t, err); got != "InvalidParameterException" {
		t.Errorf("no value: %q", got)
	}
}

func TestGetSecretValue(t *testing.T) {
	ctx := context.Background()
	s, c := newServer(t)
	s.Put(name, v1, "one", "AWSPREVIOUS")
	s.Put(name, v2, "two", "AWSCURRENT")
	s.Put(name, v3, "three") // deprecated: no stage, still readable by id
	tests := []struct {
		name, id, stage string
		value, code     string
	}{
		{"default is AWSCURRENT", "", "", "two", ""},
		{"by stage", "", "AWSPREVIOUS", "one", ""},
		{"by version", v1, "", "one", ""},
		{"by version without stages", v3, "", "three", ""},
		{"version and matching stage", v2, "AWSCURRENT", "two", ""},
		{"version and other stage", v1, "AWSCURRENT", "", "ResourceNotFoundException"},
		{"unknown stage", "", "AWSPENDING", "", "ResourceNotFoundException"},
		{"unknown version", "44444444-4444-4444-4444-444444444444", "", "", "ResourceNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}
			if tt.id != "" {
				in.VersionId = aws.String(tt.id)
			}
			if tt.stage != "" {
				in.VersionStage = aws.String(tt.stage)
			}
			out, err := c.GetSecretValue(ctx, in)
			if got := code(t, err); got != tt.code {
				t.Fatalf("error code %q, want %q (%v)", got, tt.code, err)
			}
			if err == nil && aws.ToString(out.SecretString) != tt.value {
				t.Errorf("value %q, want %q", aws.ToString(out.SecretString), tt.value)
			}
		})
	}
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
	if got := code(t, err); got != "ResourceNotFoundException" {
		t.Errorf("unknown secret: %q", got)
	}
	// The ARN names the secret as well as its name does.
	if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretstest.ARN(name))}); err != nil {
		t.Errorf("by ARN: %v", err)
	}
}

func TestUpdateSecretVersionStage(t *testing.T) {
	type step struct {
		stage, to, from string
		code            string
	}
	tests := []struct {
		name  string
		steps []step
		want  map[string][]string
	}{
		{
			name:  "moving AWSCURRENT leaves AWSPREVIOUS behind",
			steps: []step{{"AWSCURRENT", v2, v1, ""}},
			want:  map[string][]string{v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT", "AWSPENDING"}, v3: {"KITEGATE_STAGED"}},
		},
		{
			name:  "moving again to the holder is a no-op",
			steps: []step{{"AWSCURRENT", v2, v1, ""}, {"AWSCURRENT", v2, v1, "InvalidParameterException"}, {"AWSCURRENT", v2, "", ""}},
			want:  map[string][]string{v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT", "AWSPENDING"}, v3: {"KITEGATE_STAGED"}},
		},
		{
			name:  "moving an attached label needs RemoveFromVersionId",
			steps: []step{{"AWSCURRENT", v2, "", "InvalidParameterException"}},
			want:  map[string][]string{v1: {"AWSCURRENT"}, v2: {"AWSPENDING"}, v3: {"KITEGATE_STAGED"}},
		},
		{
			name:  "RemoveFromVersionId must hold the label",
			steps: []step{{"AWSCURRENT", v2, v3, "InvalidParameterException"}},
			want:  map[string][]string{v1: {"AWSCURRENT"}, v2: {"AWSPENDING"}, v3: {"KITEGATE_STAGED"}},
		},
		{
			name:  "AWSCURRENT cannot just be removed",
			steps: []step{{"AWSCURRENT", "", v1, "InvalidParameterException"}},
			want:  map[string][]string{v1: {"AWSCURRENT"}, v2: {"AWSPENDING"}, v3: {"KITEGATE_STAGED"}},
		},
		{
			name:  "removing a label; the version goes from the list",
			steps: []step{{"KITEGATE_STAGED", "", v3, ""}},
			want:  map[string][]string{v1: {"AWSCURRENT"}, v2: {"AWSPENDING"}},
		},
		{
			name:  "a new label is attached without RemoveFromVersionId",
			steps: []step{{"MINE", v1, "", ""}},
			want:  map[string][]string{v1: {"AWSCURRENT", "MINE"}, v2: {"AWSPENDING"}, v3: {"KITEGATE_STAGED"}},
		},
		{
			name:  "unknown version",
			steps: []step{{"MINE", "44444444-4444-4444-4444-444444444444", "", "InvalidParameterException"}},
			want:  map[string][]string{v1: {"AWSCURRENT"}, v2: {"AWSPENDING"}, v3: {"KITEGATE_STAGED"}},
		},
		{
			name:  "neither MoveTo nor RemoveFrom",
			steps: []step{{"AWSCURRENT", "", "", "InvalidParameterException"}},
			want:  map[string][]string{v1: {"AWSCURRENT"}, v2: {"AWSPENDING"}, v3: {"KITEGATE_STAGED"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := newServer(t)
			s.Put(name, v1, "one", "AWSCURRENT")
			s.Put(name, v2, "two", "AWSPENDING")
			s.Put(name, v3, "three", "KITEGATE_STAGED")
			for i, st := range tt.steps {
				in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(name), VersionStage: aws.String(st.stage)}
				if st.to != "" {
					in.MoveToVersionId = aws.String(st.to)
				}
				if st.from != "" {
					in.RemoveFromVersionId = aws.String(st.from)
				}
				_, err := c.UpdateSecretVersionStage(context.Background(), in)
				if got := code(t, err); got != st.code {
					t.Fatalf("step %d: error code %q, want %q (%v)", i, got, st.code, err)
				}
			}
			if diff := cmp.Diff(tt.want, stages(t, c)); diff != "" {
				t.Errorf("stages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRotateSecret(t *testing.T) {
	ctx := context.Background()
	s, c := newServer(t)
	s.Put(name, v1, "one", "AWSCURRENT")

	_, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name)})
	if got := code(t, err); got != "InvalidRequestException" {
		t.Fatalf("rotation not configured: %q", got)
	}

	// A rotation function that, like a real one, fills the pending version
	// and promotes it; failing once, to show the in-progress rule.
	var seen []string
	fail := true
	s.SetRotationFunc(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		seen = append(seen, ev.Step)
		switch ev.Step {
		case "createSecret":
			return put(ctx, c, ev.ClientRequestToken, "two", "AWSPENDING")
		case "testSecret":
			if fail {
				fail = false
				return errors.New("not today")
			}
		case "finishSecret":
			_, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
				SecretId: aws.String(ev.SecretID), VersionStage: aws.String("AWSCURRENT"),
				MoveToVersionId: aws.String(ev.ClientRequestToken), RemoveFromVersionId: aws.String(v1),
			})
			return err
		}
		return nil
	})
	s.ConfigureRotation(name, "arn:aws:lambda:us-east-1:123456789012:function:rotation")

	out, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name), ClientRequestToken: aws.String(v2)})
	if err != nil || aws.ToString(out.VersionId) != v2 {
		t.Fatalf("RotateSecret = %v, %v", out, err)
	}
	if err := s.WaitRotations()[v2]; err == nil || !strings.Contains(err.Error(), "not today") {
		t.Fatalf("failed rotation: %v", err)
	}
	// AWSPENDING stays on the unfinished version: a new rotation is refused.
	_, err = c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name), ClientRequestToken: aws.String(v3)})
	if got := code(t, err); got != "InvalidRequestException" {
		t.Fatalf("rotation while one is pending: %q", got)
	}
	// Removing the stale label (as an operator would) lets rotation proceed.
	if _, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(name), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(v2),
	}); err != nil {
		t.Fatal(err)
	}
	seen = nil
	if _, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name), ClientRequestToken: aws.String(v3)}); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitRotations()[v3]; err != nil {
		t.Fatalf("rotation: %v", err)
	}
	if diff := cmp.Diff([]string{"createSecret", "setSecret", "testSecret", "finishSecret"}, seen); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]string{v1: {"AWSPREVIOUS"}, v3: {"AWSCURRENT"}}, stages(t, c)); diff != "" {
		t.Errorf("stages after rotation (-want +got):\n%s", diff)
	}
	d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(d.RotationEnabled) || d.LastRotatedDate == nil || aws.ToString(d.RotationLambdaARN) == "" {
		t.Errorf("DescribeSecret after rotation: enabled %v, last rotated %v, function %q", aws.ToBool(d.RotationEnabled), d.LastRotatedDate, aws.ToString(d.RotationLambdaARN))
	}
	// The empty pending version of the first attempt has no value.
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(v2)})
	if err != nil {
		t.Errorf("the first attempt's version was filled by its createSecret: %v", err)
	}
}

func TestRotateSecretPendingVersionHasNoValue(t *testing.T) {
	ctx := context.Background()
	s, c := newServer(t)
	s.Put(name, v1, "one", "AWSCURRENT")
	s.ConfigureRotation(name, "arn:aws:lambda:us-east-1:123456789012:function:rotation")
	var getErr error
	s.SetRotationFunc(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		if ev.Step == "testSecret" {
			_, getErr = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
				SecretId: aws.String(ev.SecretID), VersionId: aws.String(ev.ClientRequestToken), VersionStage: aws.String("AWSPENDING"),
			})
		}
		return nil
	})
	// RotateImmediately false: the service only runs testSecret, on a pending
	// version it created without a value, and then removes AWSPENDING.
	if _, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name), ClientRequestToken: aws.String(v2), RotateImmediately: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitRotations()[v2]; err != nil {
		t.Fatal(err)
	}
	if got := code(t, getErr); got != "ResourceNotFoundException" {
		t.Errorf("reading the empty pending version: %q", got)
	}
	if diff := cmp.Diff(map[string][]string{v1: {"AWSCURRENT"}}, stages(t, c)); diff != "" {
		t.Errorf("stages after the configuration test (-want +got):\n%s", diff)
	}
}
