package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// StageSecrets is the Secrets Manager API Stage calls.
type StageSecrets interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
}

var _ StageSecrets = (*secretsmanager.Client)(nil)

// StageOptions says what Stage does besides staging.
type StageOptions struct {
	// Rotate starts the rotation (RotateSecret) once the token is staged.
	Rotate bool
	// ClearPending abandons an unfinished rotation (AWSPENDING on a version
	// that is not current) by removing its AWSPENDING label; without it
	// Stage refuses, since Secrets Manager would refuse to rotate.
	ClearPending bool
}

// StageResult says what Stage did. It never holds the token.
type StageResult struct {
	// StagedVersionID is the version now labelled StageStaged (or, for the
	// first token of the secret, AWSCURRENT).
	StagedVersionID string
	// Initial is set when the secret had no current token: the token was
	// stored as AWSCURRENT directly and no rotation was started.
	Initial bool
	// ClearedPendingVersionID is the abandoned rotation's version, if any.
	ClearedPendingVersionID string
	// RotationVersionID is the version RotateSecret created, if started.
	RotationVersionID string
}

// maxTokenBytes caps what ReadToken accepts.
const maxTokenBytes = 4 << 10

// ReadToken reads a token from r (standard input or a file): surrounding
// whitespace is dropped; anything else that is not a single printable word
// is refused, so that a wrong file is not stored as a token.
func ReadToken(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	if len(b) > maxTokenBytes {
		return "", errors.New("the token input is larger than 4 KiB: not a token")
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", errors.New("the token input is empty")
	}
	if strings.IndexFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return "", errors.New("the token input holds more than one word or control characters: not a token")
	}
	return tok, nil
}

// Stage puts token into secretID as a new version labelled StageStaged and,
// with opts.Rotate, starts a rotation that the rotation function completes.
// A secret with no current token yet gets the token as AWSCURRENT instead:
// there is nothing to rotate from.
func Stage(ctx context.Context, sm StageSecrets, secretID, token string, opts StageOptions) (StageResult, error) {
	var res StageResult
	if strings.TrimSpace(token) == "" {
		return res, ErrNoToken
	}
	value, err := json.Marshal(map[string]string{"token": strings.TrimSpace(token)})
	if err != nil {
		return res, err
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return res, fmt.Errorf("describe secret %s: %w", secretID, err)
	}
	rot := rotation{stages: d.VersionIdsToStages}
	current, pending := rot.holder(StageCurrent), rot.holder(StagePending)
	if current == "" {
		out, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(secretID), SecretString: aws.String(string(value)), VersionStages: []string{StageCurrent},
		})
		if err != nil {
			return res, fmt.Errorf("put the first token: %w", err)
		}
		res.StagedVersionID, res.Initial = aws.ToString(out.VersionId), true
		return res, nil
	}
	if pending != "" && pending != current {
		if !opts.ClearPending {
			return res, fmt.Errorf("a rotation is in progress or has failed (AWSPENDING is on version %s): wait for it to finish, or abandon it with -clear-pending", pending)
		}
		if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(secretID), VersionStage: aws.String(StagePending), RemoveFromVersionId: aws.String(pending),
		}); err != nil {
			return res, fmt.Errorf("abandon the unfinished rotation: %w", err)
		}
		res.ClearedPendingVersionID = pending
	}
	out, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(secretID), SecretString: aws.String(string(value)), VersionStages: []string{StageStaged},
	})
	if err != nil {
		return res, fmt.Errorf("stage the token: %w", err)
	}
	res.StagedVersionID = aws.ToString(out.VersionId)
	if !opts.Rotate {
		return res, nil
	}
	rs, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return res, fmt.Errorf("start the rotation (the token stays staged): %w", err)
	}
	res.RotationVersionID = aws.ToString(rs.VersionId)
	return res, nil
}
