package secrets_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/secrets/secretstest"
)

const (
	secretName = "kitegate/dev/buildkite-token"
	oldVersion = "00000000-0000-0000-0000-00000000000a"
	oldToken   = buildkitetest.DefaultToken
	newToken   = "bkua_rotated_token_11111111111111111111"
)

// fixedScopes is a RequiredScopes double.
type fixedScopes map[string][]string

func (f fixedScopes) RequiredScopes(context.Context) (map[string][]string, error) { return f, nil }

var _ secrets.RequiredScopes = fixedScopes(nil)

// approvedScopes: what the approved tools of a typical policy need.
var approvedScopes = fixedScopes{
	"read_builds":     {"get_build", "list_builds"},
	"read_build_logs": {"tail_logs"},
	"read_pipelines":  {"list_pipelines"},
}

// lockedBuffer collects the audit lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type rig struct {
	sim    *buildkitetest.Server
	sm     *secretstest.Server
	client *secretsmanager.Client
	rot    *secrets.Rotator
	tokens secrets.BuildkiteTokens
	logs   *lockedBuffer
}

type rigOption func(*secrets.RotatorConfig)

// newRig: a Buildkite simulator knowing oldToken (and whatever opts add), a
// Secrets Manager whose AWSCURRENT is oldToken, rotation configured to run
// a Rotator.
func newRig(t *testing.T, simOpts []buildkitetest.Option, opts ...rigOption) *rig {
	t.Helper()
	r := &rig{sim: buildkitetest.New(simOpts...), sm: secretstest.New(), logs: &lockedBuffer{}}
	t.Cleanup(r.sim.Close)
	t.Cleanup(r.sm.Close)
	r.client = r.sm.Client()
	r.sm.Put(secretName, oldVersion, `{"token":"`+oldToken+`"}`, "AWSCURRENT")
	r.sm.ConfigureRotation(secretName, "arn:aws:lambda:us-east-1:123456789012:function:kitegate-rotation")
	r.tokens = secrets.BuildkiteTokens{BaseURL: r.sim.URL, Timeout: 5 * time.Second}
	cfg := secrets.RotatorConfig{
		Secrets: r.client, Tokens: r.tokens, Scopes: approvedScopes, MinValidity: 24 * time.Hour,
		Logger: slog.New(slog.NewJSONHandler(r.logs, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	rot, err := secrets.NewRotator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.rot = rot
	r.sm.SetRotationFunc(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		_, err := r.rot.Handle(ctx, ev)
		return err
	})
	t.Cleanup(func() {
		for _, tok := range []string{oldToken, newToken} {
			if strings.Contains(r.logs.String(), tok) {
				t.Errorf("a token is in the audit log:\n%s", r.logs.String())
			}
		}
	})
	return r
}

// rotate stages tok and runs a rotation to its end; it returns the
// rotation's version id and error.
func (r *rig) rotate(t *testing.T, tok string) (string, error) {
	t.Helper()
	res, err := secrets.Stage(context.Background(), r.client, secretName, tok, secrets.StageOptions{Rotate: true})
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	return res.RotationVersionID, r.sm.WaitRotations()[res.RotationVersionID]
}

func (r *rig) value(t *testing.T, stage string) string {
	t.Helper()
	out, err := r.client.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretName), VersionStage: aws.String(stage)})
	if err != nil {
		t.Fatalf("GetSecretValue %s: %v", stage, err)
	}
	return aws.ToString(out.SecretString)
}

// valid reports whether Buildkite still accepts tok.
func (r *rig) valid(t *testing.T, tok string) bool {
	t.Helper()
	_, err := r.tokens.Describe(context.Background(), tok)
	if err != nil && !errors.Is(err, secrets.ErrTokenRejected) {
		t.Fatal(err)
	}
	return err == nil
}

func TestFullRotation(t *testing.T) {
	r := newRig(t, []buildkitetest.Option{buildkitetest.WithToken(newToken, buildkitetest.DefaultScopes...)})
	version, err := r.rotate(t, newToken)
	if err != nil {
		t.Fatalf("rotation: %v", err)
	}
	if got := r.value(t, "AWSCURRENT"); got != `{"token":"`+newToken+`"}` {
		t.Errorf("AWSCURRENT holds %q", got)
	}
	if got := r.value(t, "AWSPREVIOUS"); got != `{"token":"`+oldToken+`"}` {
		t.Errorf("AWSPREVIOUS holds %q", got)
	}
	if r.valid(t, oldToken) {
		t.Error("the old token is still valid in Buildkite")
	}
	if !r.valid(t, newToken) {
		t.Error("the new token is not valid in Buildkite")
	}
	stages := r.sm.Stages(secretName)
	want := map[string][]string{oldVersion: {"AWSPREVIOUS"}, version: {"AWSCURRENT"}}
	if diff := cmp.Diff(want, stages); diff != "" {
		t.Errorf("stages after rotation; the staging label must be gone (-want +got):\n%s", diff)
	}
	for _, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		if !strings.Contains(r.logs.String(), `"step":"`+step+`"`) {
			t.Errorf("no audit line for %s:\n%s", step, r.logs.String())
		}
	}

	// Every step re-run after success changes nothing.
	puts, moves := r.sm.Calls("PutSecretValue"), r.sm.Calls("UpdateSecretVersionStage")
	for _, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		t.Run("rerun "+step, func(t *testing.T) {
			res, err := r.rot.Handle(context.Background(), events.SecretsManagerSecretRotationEvent{
				Step: step, SecretID: secretstest.ARN(secretName), ClientRequestToken: version,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != secrets.OutcomeAlreadyDone || res.Revoked {
				t.Errorf("outcome %q (revoked %v), want already_done: %s", res.Outcome, res.Revoked, res.Detail)
			}
		})
	}
	if diff := cmp.Diff(stages, r.sm.Stages(secretName)); diff != "" {
		t.Errorf("re-runs changed the stages (-want +got):\n%s", diff)
	}
	if p, m := r.sm.Calls("PutSecretValue"), r.sm.Calls("UpdateSecretVersionStage"); p != puts || m != moves {
		t.Errorf("re-runs wrote to Secrets Manager: puts %d -> %d, stage updates %d -> %d", puts, p, moves, m)
	}
	if !r.valid(t, newToken) {
		t.Error("re-runs broke the new token")
	}
}

// sameUUID reports one uuid for every token, as if the pending token were
// the current one under another spelling.
type sameUUID struct{ secrets.TokenAPI }

func (s sameUUID) Describe(ctx context.Context, tok string) (secrets.TokenInfo, error) {
	info, err := s.TokenAPI.Describe(ctx, tok)
	info.UUID = "0f0f0f0f-same-uuid"
	return info, err
}

func TestRotationRefused(t *testing.T) {
	soon := time.Now().Add(time.Hour)
	tests := []struct {
		name    string
		simOpts []buildkitetest.Option
		opts    []rigOption
		stage   string // token staged; "" stages nothing
		want    []string
	}{
		{
			name:  "unknown token",
			stage: "bkua_never_issued_2222222222222222222222",
			want:  []string{"testSecret", "the pending token is not valid", "401"},
		},
		{
			name:    "missing scopes",
			simOpts: []buildkitetest.Option{buildkitetest.WithToken(newToken, "read_builds")},
			stage:   newToken,
			want:    []string{"testSecret", "lacks scopes", "read_build_logs (tail_logs)", "read_pipelines (list_pipelines)"},
		},
		{
			name:    "same uuid",
			simOpts: []buildkitetest.Option{buildkitetest.WithToken(newToken, buildkitetest.DefaultScopes...)},
			opts:    []rigOption{func(c *secrets.RotatorConfig) { c.Tokens = sameUUID{c.Tokens} }},
			stage:   newToken,
			want:    []string{"testSecret", "same uuid"},
		},
		{
			name:    "expires too soon",
			simOpts: []buildkitetest.Option{buildkitetest.WithExpiringToken(newToken, soon, buildkitetest.DefaultScopes...)},
			stage:   newToken,
			want:    []string{"testSecret", "expires at", "within the required validity of 24h0m0s"},
		},
		{
			name:  "the current token staged again",
			stage: oldToken,
			want:  []string{"createSecret", "already the current token"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.simOpts, tt.opts...)
			_, err := r.rotate(t, tt.stage)
			if err == nil {
				t.Fatal("the rotation succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), tt.stage) || strings.Contains(err.Error(), oldToken) {
				t.Errorf("the error holds a token: %v", err)
			}
			if got := r.value(t, "AWSCURRENT"); got != `{"token":"`+oldToken+`"}` {
				t.Errorf("AWSCURRENT changed to %q", got)
			}
			if !r.valid(t, oldToken) {
				t.Error("the current token was revoked")
			}
			if !strings.Contains(r.logs.String(), `"outcome":"failed"`) {
				t.Errorf("no failed audit line:\n%s", r.logs.String())
			}
		})
	}
}

func TestCreateSecretWithNothingStaged(t *testing.T) {
	r := newRig(t, nil)
	out, err := r.client.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(secretName)})
	if err != nil {
		t.Fatal(err)
	}
	err = r.sm.WaitRotations()[aws.ToString(out.VersionId)]
	if err == nil || !strings.Contains(err.Error(), "nothing is staged") || !strings.Contains(err.Error(), secrets.StageStaged) {
		t.Fatalf("rotation error %v, want a clear 'nothing is staged'", err)
	}
	if got := r.value(t, "AWSCURRENT"); got != `{"token":"`+oldToken+`"}` {
		t.Errorf("AWSCURRENT changed to %q", got)
	}
	// The failed rotation blocks the next one until it is abandoned.
	if _, err := secrets.Stage(context.Background(), r.client, secretName, newToken, secrets.StageOptions{Rotate: true}); err == nil || !strings.Contains(err.Error(), "-clear-pending") {
		t.Fatalf("Stage over a failed rotation: %v", err)
	}
	r.sim.AddToken(newToken, buildkitetest.DefaultScopes...)
	res, err := secrets.Stage(context.Background(), r.client, secretName, newToken, secrets.StageOptions{Rotate: true, ClearPending: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.ClearedPendingVersionID != aws.ToString(out.VersionId) {
		t.Errorf("cleared %q, want %q", res.ClearedPendingVersionID, aws.ToString(out.VersionId))
	}
	if err := r.sm.WaitRotations()[res.RotationVersionID]; err != nil {
		t.Fatalf("rotation after clearing: %v", err)
	}
	if r.valid(t, oldToken) {
		t.Error("old token still valid")
	}
}

func TestTestSecretAloneOnConfigurationTest(t *testing.T) {
	r := newRig(t, nil)
	// Rotation set up without rotating now: only testSecret runs, on a
	// pending version without a value.
	out, err := r.client.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(secretName), RotateImmediately: aws.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.sm.WaitRotations()[aws.ToString(out.VersionId)]; err != nil {
		t.Fatalf("configuration test: %v", err)
	}
	if !strings.Contains(r.logs.String(), `"outcome":"skipped"`) {
		t.Errorf("audit:\n%s", r.logs.String())
	}
}

func TestRevokeGraceIsBoundedByTheDeadline(t *testing.T) {
	r := newRig(t, []buildkitetest.Option{buildkitetest.WithToken(newToken, buildkitetest.DefaultScopes...)},
		func(c *secrets.RotatorConfig) { c.RevokeGrace = time.Hour })
	// Run the steps by hand with a deadline far shorter than the grace.
	if _, err := secrets.Stage(context.Background(), r.client, secretName, newToken, secrets.StageOptions{}); err != nil {
		t.Fatal(err)
	}
	r.sm.SetRotationFunc(func(context.Context, events.SecretsManagerSecretRotationEvent) error { return nil })
	out, err := r.client.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(secretName)})
	if err != nil {
		t.Fatal(err)
	}
	version := aws.ToString(out.VersionId)
	r.sm.WaitRotations()
	// The fake rotation did nothing, so the version is still pending.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		res, err := r.rot.Handle(ctx, events.SecretsManagerSecretRotationEvent{Step: step, SecretID: secretName, ClientRequestToken: version})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if step == "finishSecret" && (!res.Revoked || !strings.Contains(res.Detail, "grace of 0s")) {
			t.Errorf("finishSecret: revoked %v, %q", res.Revoked, res.Detail)
		}
	}
	if r.valid(t, oldToken) {
		t.Error("old token still valid")
	}
	if !strings.Contains(r.logs.String(), "cut short") {
		t.Errorf("no warning about the shortened grace:\n%s", r.logs.String())
	}
}

func TestPolicyScopes(t *testing.T) {
	store := loaderFunc(func(context.Context) (policy.Policy, error) {
		return policy.Policy{Version: 3, Tools: map[string]policy.Tool{
			"list_builds":  {Name: "list_builds", State: policy.StateApproved, Scopes: []string{"read_builds"}},
			"get_build":    {Name: "get_build", State: policy.StateApproved, Scopes: []string{"read_builds"}},
			"create_build": {Name: "create_build", State: policy.StatePendingReview, Scopes: []string{"write_builds"}},
			"get_job_env":  {Name: "get_job_env", State: policy.StateDisabled, Scopes: []string{"read_job_env"}},
			"list_skills":  {Name: "list_skills", State: policy.StateApproved},
		}}, nil
	})
	got, err := secrets.PolicyScopes{Store: store}.RequiredScopes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]string{"read_builds": {"get_build", "list_builds"}}, got); diff != "" {
		t.Errorf("required scopes (-want +got):\n%s", diff)
	}
	empty := loaderFunc(func(context.Context) (policy.Policy, error) { return policy.Policy{}, nil })
	if _, err := (secrets.PolicyScopes{Store: empty}).RequiredScopes(context.Background()); err == nil {
		t.Error("an empty policy gave scopes: must fail closed")
	}
}

type loaderFunc func(context.Context) (policy.Policy, error)

func (f loaderFunc) Load(ctx context.Context) (policy.Policy, error) { return f(ctx) }

var _ secrets.PolicyLoader = loaderFunc(nil)

func TestStageFirstToken(t *testing.T) {
	sm := secretstest.New()
	defer sm.Close()
	sm.Create(secretName)
	res, err := secrets.Stage(context.Background(), sm.Client(), secretName, "  "+newToken+"\n", secrets.StageOptions{Rotate: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Initial || res.RotationVersionID != "" {
		t.Errorf("first token: %+v, want initial without rotation", res)
	}
	src := secrets.SecretsManager(sm.Client(), secretName)
	if tok, err := src.Token(context.Background()); err != nil || tok != newToken {
		t.Errorf("the mcp function would read %q, %v", tok, err)
	}
}

func TestReadToken(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"trimmed", "  bkua_abc\n", "bkua_abc", true},
		{"empty", " \n", "", false},
		{"two words", "bkua_abc bkua_def", "", false},
		{"control character", "bkua\x00abc", "", false},
		{"too large", strings.Repeat("a", 5000), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secrets.ReadToken(strings.NewReader(tt.in))
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ReadToken = %q, %v", got, err)
			}
			if err != nil && len(tt.in) < 100 && strings.TrimSpace(tt.in) != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
				t.Errorf("the error repeats the input: %v", err)
			}
		})
	}
}

func TestRotatorRejectsEventsOutsideARotation(t *testing.T) {
	r := newRig(t, nil)
	for _, ev := range []events.SecretsManagerSecretRotationEvent{
		{Step: "createSecret", SecretID: secretName, ClientRequestToken: "99999999-9999-9999-9999-999999999999"},
		{Step: "bogusStep", SecretID: secretName, ClientRequestToken: oldVersion},
		{Step: "createSecret", SecretID: "", ClientRequestToken: oldVersion},
	} {
		if _, err := r.rot.Handle(context.Background(), ev); err == nil {
			t.Errorf("%+v accepted", ev)
		}
	}
	if !slices.Equal(r.sm.Stages(secretName)[oldVersion], []string{"AWSCURRENT"}) {
		t.Errorf("stages changed: %v", r.sm.Stages(secretName))
	}
}
