package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Staging labels. Secrets Manager manages the AWS ones; StageStaged is
// kitegate's own: the new token waits under it, put there by an admin or a
// scheduled job (Stage), until a rotation copies it into AWSPENDING. It is
// not AWSPENDING itself because Secrets Manager refuses to start a rotation
// while AWSPENDING sits on a version other than the current one.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	StagePending  = "AWSPENDING"
	StageStaged   = "KITEGATE_STAGED"
)

// The rotation steps Secrets Manager invokes, in order.
const (
	StepCreate = "createSecret"
	StepSet    = "setSecret"
	StepTest   = "testSecret"
	StepFinish = "finishSecret"
)

// Outcomes of a step.
const (
	OutcomeDone        = "done"         // the step changed something
	OutcomeAlreadyDone = "already_done" // a re-run: nothing left to change
	OutcomeSkipped     = "skipped"      // nothing to do for this step
	OutcomeFailed      = "failed"
)

// RotationSecrets is the Secrets Manager API the rotation calls.
type RotationSecrets interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

var _ RotationSecrets = (*secretsmanager.Client)(nil)

// RotatorConfig configures a Rotator.
type RotatorConfig struct {
	Secrets RotationSecrets
	Tokens  TokenAPI
	Scopes  RequiredScopes
	// MinValidity is how long the new token must stay valid at least:
	// testSecret refuses a token expiring sooner.
	MinValidity time.Duration
	// RevokeGrace delays revoking the old token in finishSecret, bounded by
	// the invocation's deadline (see Rotator.finish).
	RevokeGrace time.Duration
	// Logger receives one audit line per step (nil discards).
	Logger *slog.Logger
	// Now replaces time.Now, for tests.
	Now func() time.Time
}

// Rotator runs the four steps of a Secrets Manager rotation of the
// Buildkite token. Every step may be re-run for the same ClientRequestToken
// and then changes nothing.
type Rotator struct {
	cfg    RotatorConfig
	logger *slog.Logger
}

// revokeMargin is kept free before the deadline for the revoke itself.
const revokeMargin = 15 * time.Second

// NewRotator checks cfg and makes a Rotator.
func NewRotator(cfg RotatorConfig) (*Rotator, error) {
	if cfg.Secrets == nil || cfg.Tokens == nil || cfg.Scopes == nil {
		return nil, errors.New("rotator: secrets, tokens and scopes are required")
	}
	if cfg.MinValidity < 0 || cfg.RevokeGrace < 0 {
		return nil, errors.New("rotator: durations must not be negative")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := cfg.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Rotator{cfg: cfg, logger: l}, nil
}

// StepResult is what one step did: the Lambda's answer and the audit line.
// It never holds a token.
type StepResult struct {
	Step      string `json:"step"`
	SecretARN string `json:"secret"`
	VersionID string `json:"version_id"`
	Outcome   string `json:"outcome"`
	Detail    string `json:"detail,omitempty"`
	// TokenUUID is the new token's uuid (testSecret), PreviousTokenUUID the
	// one it replaces.
	TokenUUID         string   `json:"token_uuid,omitempty"`
	PreviousTokenUUID string   `json:"previous_token_uuid,omitempty"`
	MissingScopes     []string `json:"missing_scopes,omitempty"`
	// Revoked is set by the finishSecret that revoked the old token.
	Revoked bool `json:"revoked,omitempty"`
}

// rotation is what every step knows about the secret.
type rotation struct {
	arn, version string
	stages       map[string][]string // VersionIdsToStages
	isCurrent    bool                // the version already carries AWSCURRENT
}

// holder returns the version carrying stage, "" if none.
func (r rotation) holder(stage string) string {
	for id, st := range r.stages {
		if slices.Contains(st, stage) {
			return id
		}
	}
	return ""
}

// Handle runs one step. Its signature is the one lambda.StartHandlerFunc
// takes for events.SecretsManagerSecretRotationEvent.
func (r *Rotator) Handle(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) (StepResult, error) {
	res := StepResult{Step: ev.Step, SecretARN: ev.SecretID, VersionID: ev.ClientRequestToken}
	err := r.handle(ctx, ev, &res)
	if err != nil {
		res.Outcome = OutcomeFailed
		res.Detail = err.Error()
	}
	r.audit(ctx, res)
	if err != nil {
		return res, fmt.Errorf("%s for version %s: %w", ev.Step, ev.ClientRequestToken, err)
	}
	return res, nil
}

func (r *Rotator) handle(ctx context.Context, ev events.SecretsManagerSecretRotationEvent, res *StepResult) error {
	if ev.SecretID == "" || ev.ClientRequestToken == "" {
		return errors.New("the event names no secret or no ClientRequestToken")
	}
	d, err := r.cfg.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretID)})
	if err != nil {
		return fmt.Errorf("describe secret: %w", err)
	}
	if !aws.ToBool(d.RotationEnabled) {
		return errors.New("rotation is not enabled on the secret")
	}
	rot := rotation{arn: aws.ToString(d.ARN), version: ev.ClientRequestToken, stages: d.VersionIdsToStages}
	if rot.arn == "" {
		rot.arn = ev.SecretID
	}
	stages, ok := rot.stages[rot.version]
	if !ok {
		return fmt.Errorf("version %s has no staging label: it is not part of a rotation", rot.version)
	}
	rot.isCurrent = slices.Contains(stages, StageCurrent)
	if !rot.isCurrent && !slices.Contains(stages, StagePending) {
		return fmt.Errorf("version %s is neither AWSPENDING nor AWSCURRENT", rot.version)
	}
	switch ev.Step {
	case StepCreate:
		return r.create(ctx, rot, ev.RotationToken, res)
	case StepSet:
		// Buildkite tokens are created in Buildkite, by a person: there is
		// nothing to set on Buildkite's side.
		res.Outcome, res.Detail = OutcomeSkipped, "nothing to set: Buildkite tokens are created in Buildkite"
		if rot.isCurrent {
			res.Outcome = OutcomeAlreadyDone
		}
		return nil
	case StepTest:
		return r.test(ctx, rot, res)
	case StepFinish:
		return r.finish(ctx, rot, res)
	}
	return fmt.Errorf("unknown step %q", ev.Step)
}

// create copies the staged token into the pending version.
func (r *Rotator) create(ctx context.Context, rot rotation, rotationToken string, res *StepResult) error {
	if rot.isCurrent {
		res.Outcome, res.Detail = OutcomeAlreadyDone, "the version is already current"
		return nil
	}
	if _, err := r.value(ctx, rot.arn, rot.version, StagePending); err == nil {
		res.Outcome, res.Detail = OutcomeAlreadyDone, "the pending version already holds a token"
		return nil
	} else if !isNotFound(err) {
		return err
	}
	current, err := r.token(ctx, rot.arn, "", StageCurrent)
	if err != nil {
		return fmt.Errorf("read the current token: %w", err)
	}
	staged, err := r.value(ctx, rot.arn, "", StageStaged)
	if isNotFound(err) {
		return fmt.Errorf("nothing is staged: put the new token under the staging label %s first (make rotate-token)", StageStaged)
	} else if err != nil {
		return fmt.Errorf("read the staged token: %w", err)
	}
	stagedToken, err := parseSecret(staged.raw)
	if err != nil {
		return fmt.Errorf("staged version %s: %w", staged.id, err)
	}
	if stagedToken == current.tok {
		return fmt.Errorf("the staged token (version %s) is already the current token: stage a new one", staged.id)
	}
	in := &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(rot.arn),
		ClientRequestToken: aws.String(rot.version),
		SecretString:       aws.String(staged.raw),
		VersionStages:      []string{StagePending},
	}
	if rotationToken != "" {
		in.RotationToken = aws.String(rotationToken)
	}
	if _, err := r.cfg.Secrets.PutSecretValue(ctx, in); err != nil {
		return fmt.Errorf("put the pending version: %w", err)
	}
	res.Outcome, res.Detail = OutcomeDone, "copied staged version "+staged.id+" into the pending version"
	return nil
}

// test proves the pending token with Buildkite. Every reason it is refused
// is named, and nothing is changed: the current token stays current.
func (r *Rotator) test(ctx context.Context, rot rotation, res *StepResult) error {
	if rot.isCurrent {
		res.Outcome, res.Detail = OutcomeAlreadyDone, "the version is already current"
		return nil
	}
	pending, err := r.token(ctx, rot.arn, rot.version, StagePending)
	if isNotFound(err) {
		// Secrets Manager tests a new rotation configuration (rotation set
		// up without rotating now) by running testSecret alone on a
		// pending version it created without a value.
		res.Outcome, res.Detail = OutcomeSkipped, "the pending version holds no token (a rotation configuration test): nothing to prove"
		return nil
	} else if err != nil {
		return fmt.Errorf("read the pending token: %w", err)
	}
	current, err := r.token(ctx, rot.arn, "", StageCurrent)
	if err != nil {
		return fmt.Errorf("read the current token: %w", err)
	}
	if pending.tok == current.tok {
		return errors.New("the pending token is the current token")
	}
	info, err := r.cfg.Tokens.Describe(ctx, pending.tok)
	if errors.Is(err, ErrTokenRejected) {
		return errors.New("the pending token is not valid: Buildkite answered 401 (wrong, expired or revoked)")
	} else if err != nil {
		return fmt.Errorf("describe the pending token: %w", err)
	}
	res.TokenUUID = info.UUID
	var problems []string
	switch old, err := r.cfg.Tokens.Describe(ctx, current.tok); {
	case errors.Is(err, ErrTokenRejected):
		res.Detail = "the current token is already rejected by Buildkite; "
	case err != nil:
		return fmt.Errorf("describe the current token: %w", err)
	default:
		res.PreviousTokenUUID = old.UUID
		if old.UUID == info.UUID {
			problems = append(problems, "the pending token has the same uuid as the current one ("+info.UUID+"): it is the same Buildkite token")
		}
	}
	if !info.ExpiresAt.IsZero() && info.ExpiresAt.Before(r.cfg.Now().Add(r.cfg.MinValidity)) {
		problems = append(problems, fmt.Sprintf("the pending token expires at %s, within the required validity of %s",
			info.ExpiresAt.UTC().Format(time.RFC3339), r.cfg.MinValidity))
	}
	required, err := r.cfg.Scopes.RequiredScopes(ctx)
	if err != nil {
		return fmt.Errorf("read the scopes the approved tools need: %w", err)
	}
	if names, described := missingScopes(required, info.Scopes); len(names) > 0 {
		res.MissingScopes = names
		problems = append(problems, "the pending token lacks scopes approved tools need: "+described)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	res.Outcome = OutcomeDone
	res.Detail += fmt.Sprintf("the pending token is valid, has every scope the approved tools need (%d) and does not expire within %s", len(required), r.cfg.MinValidity)
	return nil
}

// finish promotes the pending version to AWSCURRENT (AWSPREVIOUS follows
// the old one), clears the staging label if it still holds the promoted
// token, and revokes the old token with a DELETE made with that token.
//
// RevokeGrace delays the revoke, inside this invocation: the wait is cut
// short to leave revokeMargin before the invocation's deadline (the Lambda
// timeout), so a grace longer than the function's timeout allows cannot
// leave the old token alive. kitegate's own readers need no grace (they
// refresh on a 401); it is for other holders of the token.
func (r *Rotator) finish(ctx context.Context, rot rotation, res *StepResult) error {
	changed := false
	previous := rot.holder(StagePrevious)
	if !rot.isCurrent {
		if _, err := r.value(ctx, rot.arn, rot.version, StagePending); err != nil {
			return fmt.Errorf("read the pending version (has createSecret run?): %w", err)
		}
		previous = rot.holder(StageCurrent)
		in := &secretsmanager.UpdateSecretVersionStageInput{
			SecretId:        aws.String(rot.arn),
			VersionStage:    aws.String(StageCurrent),
			MoveToVersionId: aws.String(rot.version),
		}
		if previous != "" {
			in.RemoveFromVersionId = aws.String(previous)
		}
		if _, err := r.cfg.Secrets.UpdateSecretVersionStage(ctx, in); err != nil {
			return fmt.Errorf("move AWSCURRENT: %w", err)
		}
		changed = true
		res.Detail = "AWSCURRENT moved to the new version; "
	}
	promoted, err := r.token(ctx, rot.arn, rot.version, "")
	if err != nil {
		return fmt.Errorf("read the new current token: %w", err)
	}
	switch staged, err := r.token(ctx, rot.arn, "", StageStaged); {
	case err == nil && staged.tok == promoted.tok:
		if _, err := r.cfg.Secrets.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(rot.arn), VersionStage: aws.String(StageStaged), RemoveFromVersionId: aws.String(staged.id),
		}); err != nil {
			return fmt.Errorf("clear the staging label: %w", err)
		}
		changed = true
		res.Detail += "staging label cleared; "
	case err != nil && !isNotFound(err):
		return fmt.Errorf("read the staged token: %w", err)
	}

	if previous == "" || previous == rot.version {
		res.Detail += "no previous token to revoke"
	} else {
		old, err := r.token(ctx, rot.arn, previous, "")
		if err != nil {
			return fmt.Errorf("read the previous token: %w", err)
		}
		if old.tok == promoted.tok {
			res.Detail += "the previous version holds the same token: not revoked"
		} else {
			revoked, note, err := r.revoke(ctx, old.tok)
			if err != nil {
				return fmt.Errorf("revoke the previous token (version %s): %w", previous, err)
			}
			res.Revoked = revoked
			changed = changed || revoked
			res.Detail += note
		}
	}
	res.Outcome = OutcomeAlreadyDone
	if changed {
		res.Outcome = OutcomeDone
	}
	return nil
}

// revoke revokes token after the grace, unless Buildkite already rejects it.
func (r *Rotator) revoke(ctx context.Context, token string) (revoked bool, note string, err error) {
	info, err := r.cfg.Tokens.Describe(ctx, token)
	if errors.Is(err, ErrTokenRejected) {
		return false, "the previous token was already revoked", nil
	} else if err != nil {
		return false, "", fmt.Errorf("describe: %w", err)
	}
	if r.cfg.RevokeGrace > 0 {
		wait := r.grace(ctx)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false, "", ctx.Err()
		}
		note = "revoked after a grace of " + wait.String() + ": "
	}
	switch err := r.cfg.Tokens.Revoke(ctx, token); {
	case errors.Is(err, ErrTokenRejected):
		return false, note + "the previous token was already revoked", nil
	case err != nil:
		return false, "", err
	}
	return true, note + "previous token " + info.UUID + " revoked", nil
}

// grace is RevokeGrace, cut to leave revokeMargin before ctx's deadline.
func (r *Rotator) grace(ctx context.Context) time.Duration {
	wait := r.cfg.RevokeGrace
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline) - revokeMargin; left < wait {
			r.logger.WarnContext(ctx, "rotation: revoke grace cut short by the function timeout", "grace", wait.String(), "waiting", max(left, 0).String())
			wait = max(left, 0)
		}
	}
	return wait
}

func (r *Rotator) audit(ctx context.Context, res StepResult) {
	level := slog.LevelInfo
	if res.Outcome == OutcomeFailed {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("audit", "token_rotation"),
		slog.String("step", res.Step),
		slog.String("secret", res.SecretARN),
		slog.String("version_id", res.VersionID),
		slog.String("outcome", res.Outcome),
	}
	if res.Detail != "" {
		attrs = append(attrs, slog.String("detail", res.Detail))
	}
	if res.TokenUUID != "" {
		attrs = append(attrs, slog.String("token_uuid", res.TokenUUID))
	}
	if res.PreviousTokenUUID != "" {
		attrs = append(attrs, slog.String("previous_token_uuid", res.PreviousTokenUUID))
	}
	if len(res.MissingScopes) > 0 {
		attrs = append(attrs, slog.Any("missing_scopes", res.MissingScopes))
	}
	if res.Revoked {
		attrs = append(attrs, slog.Bool("revoked", true))
	}
	r.logger.LogAttrs(ctx, level, "token rotation step", attrs...)
}

// secretValue is one version's raw value.
type secretValue struct {
	id, raw string
}

// value reads a version by id and/or stage.
func (r *Rotator) value(ctx context.Context, arn, versionID, stage string) (secretValue, error) {
	return readValue(ctx, r.cfg.Secrets, arn, versionID, stage)
}

func readValue(ctx context.Context, sm interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}, arn, versionID, stage string) (secretValue, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	out, err := sm.GetSecretValue(ctx, in)
	if err != nil {
		return secretValue{}, err
	}
	return secretValue{id: aws.ToString(out.VersionId), raw: aws.ToString(out.SecretString)}, nil
}

// tokenValue is one version's parsed token.
type tokenValue struct {
	id, tok string
}

// token reads and parses a version by id and/or stage.
func (r *Rotator) token(ctx context.Context, arn, versionID, stage string) (tokenValue, error) {
	v, err := r.value(ctx, arn, versionID, stage)
	if err != nil {
		return tokenValue{}, err
	}
	tok, err := parseSecret(v.raw)
	if err != nil {
		return tokenValue{}, fmt.Errorf("version %s: %w", v.id, err)
	}
	return tokenValue{id: v.id, tok: tok}, nil
}

func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}
