// Package secretstest is an HTTP server speaking the Secrets Manager JSON
// protocol (X-Amz-Target, application/x-amz-json-1.1) for the operations
// kitegate uses, so the real aws-sdk-go-v2 client can be driven against it.
//
// It keeps the service's rules for versions and staging labels: a label is
// on at most one version; moving AWSCURRENT leaves AWSPREVIOUS on the
// version it left; PutSecretValue is idempotent on its ClientRequestToken
// (same value: no-op, another value: ResourceExistsException) and attaches
// AWSCURRENT when no stages are given or the secret has no version yet;
// UpdateSecretVersionStage must name the version a label is moved off;
// RotateSecret refuses while AWSPENDING sits on a version other than the
// current one, creates the pending version without a value, and runs the
// rotation steps asynchronously through a RotationFunc, as the service
// invokes the rotation Lambda.
package secretstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// The staging labels the service itself manages.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	StagePending  = "AWSPENDING"
)

// The rotation steps, in the order the service invokes them.
var Steps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

// RotationFunc plays the rotation Lambda: it is called once per step.
type RotationFunc func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error

type version struct {
	id       string
	value    string
	hasValue bool // false for the version RotateSecret creates before createSecret fills it
	stages   []string
	created  time.Time
}

type secret struct {
	name            string
	arn             string
	versions        []*version
	created         time.Time
	changed         time.Time
	rotationEnabled bool
	lambdaARN       string
	lastRotated     time.Time
}

// Server is a Secrets Manager on 127.0.0.1.
type Server struct {
	*httptest.Server
	mu        sync.Mutex
	secrets   map[string]*secret
	calls     map[string]int
	down      bool
	rotate    RotationFunc
	rotations sync.WaitGroup
	results   map[string]error // rotation outcome by version id
}

// New starts a server.
func New() *Server {
	s := &Server{secrets: map[string]*secret{}, calls: map[string]int{}, results: map[string]error{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close waits for rotations in flight, then stops the server.
func (s *Server) Close() {
	s.rotations.Wait()
	s.Server.Close()
}

// Client returns a real Secrets Manager client pointed at the server.
func (s *Server) Client() *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      aws.AnonymousCredentials{},
		HTTPClient:       &http.Client{Timeout: 5 * time.Second},
		RetryMaxAttempts: 1,
	})
}

// Put stores value as a new version of name carrying exactly the given
// stages, which are moved off any other version. Unlike PutSecretValue it
// applies no AWSCURRENT/AWSPREVIOUS rules: it sets up a test's starting state.
func (s *Server) Put(name, versionID, value string, stages ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.create(name)
	for _, v := range sec.versions {
		v.stages = slices.DeleteFunc(v.stages, func(st string) bool { return slices.Contains(stages, st) })
	}
	sec.versions = append(sec.versions, &version{id: versionID, value: value, hasValue: true, stages: slices.Clone(stages), created: time.Now()})
	sec.changed = time.Now()
}

// Create makes an empty secret (no version), as CloudFormation does for a
// secret declared without a value.
func (s *Server) Create(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.create(name)
}

func (s *Server) create(name string) *secret {
	sec, ok := s.secrets[name]
	if !ok {
		now := time.Now()
		sec = &secret{name: name, arn: ARN(name), created: now, changed: now}
		s.secrets[name] = sec
	}
	return sec
}

// ARN is the ARN the server gives the secret called name.
func ARN(name string) string {
	return "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf"
}

// ConfigureRotation turns rotation on for name with the given function ARN,
// as an AWS::SecretsManager::RotationSchedule does, without rotating.
func (s *Server) ConfigureRotation(name, lambdaARN string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.create(name)
	sec.rotationEnabled, sec.lambdaARN = true, lambdaARN
}

// SetRotationFunc sets what RotateSecret invokes for each step.
func (s *Server) SetRotationFunc(fn RotationFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate = fn
}

// WaitRotations waits for every rotation started so far and returns the
// outcome of each by its version id (nil for a rotation that completed).
func (s *Server) WaitRotations() map[string]error {
	s.rotations.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]error, len(s.results))
	for k, v := range s.results {
		out[k] = v
	}
	return out
}

// Stages returns the staging labels of every version of name that has any,
// by version id (DescribeSecret's VersionIdsToStages).
func (s *Server) Stages(name string) map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookup(name)
	if sec == nil {
		return nil
	}
	return sec.versionStages()
}

// SetDown makes every call fail with a 500, as an outage would.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Calls counts the calls of one operation.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// apiError is an error answer of the service: 400 with its type and message.
type apiError struct {
	typ, msg string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func notFound(msg string) error     { return &apiError{"ResourceNotFoundException", msg} }
func invalidParam(msg string) error { return &apiError{"InvalidParameterException", msg} }
func invalidReq(msg string) error   { return &apiError{"InvalidRequestException", msg} }

const msgNoSecret = "Secrets Manager can't find the specified secret."

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	if s.down {
		writeError(w, http.StatusInternalServerError, "InternalServiceError", "service unavailable")
		return
	}
	var (
		out any
		err error
	)
	dec := json.NewDecoder(r.Body)
	switch op {
	case "GetSecretValue":
		out, err = s.getSecretValue(dec)
	case "PutSecretValue":
		out, err = s.putSecretValue(dec)
	case "UpdateSecretVersionStage":
		out, err = s.updateSecretVersionStage(dec)
	case "DescribeSecret":
		out, err = s.describeSecret(dec)
	case "RotateSecret":
		out, err = s.rotateSecret(dec)
	default:
		err = invalidReq(fmt.Sprintf("operation %q not simulated", op))
	}
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		writeError(w, http.StatusBadRequest, ae.typ, ae.msg)
	case err != nil:
		writeError(w, http.StatusBadRequest, "SerializationException", err.Error())
	default:
		writeJSON(w, out)
	}
}

func decode(dec *json.Decoder, v any) error {
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed body: %v", err)
	}
	return nil
}

func (s *Server) secretFor(id string) (*secret, error) {
	if id == "" {
		return nil, invalidParam("SecretId is required.")
	}
	sec := s.lookup(id)
	if sec == nil {
		return nil, notFound(msgNoSecret)
	}
	return sec, nil
}

func (s *Server) getSecretValue(dec *json.Decoder) (any, error) {
	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	if err := decode(dec, &in); err != nil {
		return nil, err
	}
	sec, err := s.secretFor(in.SecretID)
	if err != nil {
		return nil, err
	}
	var v *version
	switch {
	case in.VersionID != "":
		v = sec.version(in.VersionID)
		if v == nil || (in.VersionStage != "" && !slices.Contains(v.stages, in.VersionStage)) {
			return nil, notFound("Secrets Manager can't find the specified secret value for VersionId: " + in.VersionID)
		}
	default:
		stage := in.VersionStage
		if stage == "" {
			stage = StageCurrent
		}
		v = sec.holder(stage)
		if v == nil {
			return nil, notFound("Secrets Manager can't find the specified secret value for staging label: " + stage)
		}
	}
	if !v.hasValue {
		return nil, notFound("Secrets Manager can't find the specified secret value for VersionId: " + v.id)
	}
	return map[string]any{
		"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "SecretString": v.value,
		"VersionStages": v.stages, "CreatedDate": epoch(v.created),
	}, nil
}

func (s *Server) putSecretValue(dec *json.Decoder) (any, error) {
	var in struct {
		SecretID           string   `json:"SecretId"`
		ClientRequestToken string   `json:"ClientRequestToken"`
		SecretString       *string  `json:"SecretString"`
		SecretBinary       []byte   `json:"SecretBinary"`
		VersionStages      []string `json:"VersionStages"`
		RotationToken      string   `json:"RotationToken"`
	}
	if err := decode(dec, &in); err != nil {
		return nil, err
	}
	sec, err := s.secretFor(in.SecretID)
	if err != nil {
		return nil, err
	}
	switch {
	case in.SecretString == nil && in.SecretBinary == nil:
		return nil, invalidParam("You must provide either SecretString or SecretBinary.")
	case in.SecretString != nil && in.SecretBinary != nil:
		return nil, invalidParam("You can't specify both SecretString and SecretBinary.")
	case in.SecretBinary != nil:
		return nil, invalidReq("SecretBinary is not simulated")
	}
	if n := len(in.ClientRequestToken); n < 32 || n > 64 {
		return nil, invalidParam("ClientRequestToken must be 32 to 64 characters long.")
	}
	value := *in.SecretString
	answer := func(v *version) any {
		return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": v.stages}
	}
	v := sec.version(in.ClientRequestToken)
	if v != nil && v.hasValue {
		if v.value != value {
			return nil, &apiError{"ResourceExistsException", "You can't modify an existing version, you can only create new versions."}
		}
		return answer(v), nil // the same request again: nothing to do
	}
	stages := slices.Compact(slices.Sorted(slices.Values(in.VersionStages)))
	if len(stages) == 0 || sec.holder(StageCurrent) == nil {
		stages = appendOnce(stages, StageCurrent)
	}
	if v == nil {
		v = &version{id: in.ClientRequestToken, created: time.Now()}
		sec.versions = append(sec.versions, v)
	}
	v.value, v.hasValue = value, true
	for _, st := range stages {
		sec.attach(st, v)
	}
	sec.changed = time.Now()
	return answer(v), nil
}

func (s *Server) updateSecretVersionStage(dec *json.Decoder) (any, error) {
	var in struct {
		SecretID            string `json:"SecretId"`
		VersionStage        string `json:"VersionStage"`
		MoveToVersionID     string `json:"MoveToVersionId"`
		RemoveFromVersionID string `json:"RemoveFromVersionId"`
	}
	if err := decode(dec, &in); err != nil {
		return nil, err
	}
	sec, err := s.secretFor(in.SecretID)
	if err != nil {
		return nil, err
	}
	if in.VersionStage == "" {
		return nil, invalidParam("VersionStage is required.")
	}
	if in.MoveToVersionID == "" && in.RemoveFromVersionID == "" {
		return nil, invalidParam("You must specify MoveToVersionId, RemoveFromVersionId or both.")
	}
	var to, from *version
	if in.MoveToVersionID != "" {
		if to = sec.version(in.MoveToVersionID); to == nil {
			return nil, invalidParam("Not a valid version: " + in.MoveToVersionID)
		}
	}
	if in.RemoveFromVersionID != "" {
		if from = sec.version(in.RemoveFromVersionID); from == nil {
			return nil, invalidParam("Not a valid version: " + in.RemoveFromVersionID)
		}
		if !slices.Contains(from.stages, in.VersionStage) {
			return nil, invalidParam(fmt.Sprintf("The staging label %s is not attached to version %s.", in.VersionStage, from.id))
		}
	}
	holder := sec.holder(in.VersionStage)
	if to != nil && holder != nil && holder != to && holder != from {
		return nil, invalidParam(fmt.Sprintf("The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.", in.VersionStage, holder.id))
	}
	if to == nil && in.VersionStage == StageCurrent {
		return nil, invalidParam("You can't remove the staging label AWSCURRENT from a version; move it to another version instead.")
	}
	switch {
	case to != nil && to != holder:
		sec.attach(in.VersionStage, to)
	case to == nil:
		from.stages = slices.DeleteFunc(from.stages, func(st string) bool { return st == in.VersionStage })
	}
	sec.changed = time.Now()
	return map[string]any{"ARN": sec.arn, "Name": sec.name}, nil
}

func (s *Server) describeSecret(dec *json.Decoder) (any, error) {
	var in struct {
		SecretID string `json:"SecretId"`
	}
	if err := decode(dec, &in); err != nil {
		return nil, err
	}
	sec, err := s.secretFor(in.SecretID)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"ARN": sec.arn, "Name": sec.name, "CreatedDate": epoch(sec.created), "LastChangedDate": epoch(sec.changed),
		"VersionIdsToStages": sec.versionStages(),
	}
	if sec.rotationEnabled {
		out["RotationEnabled"] = true
	}
	if sec.lambdaARN != "" {
		out["RotationLambdaARN"] = sec.lambdaARN
	}
	if !sec.lastRotated.IsZero() {
		out["LastRotatedDate"] = epoch(sec.lastRotated)
	}
	return out, nil
}

func (s *Server) rotateSecret(dec *json.Decoder) (any, error) {
	var in struct {
		SecretID           string `json:"SecretId"`
		ClientRequestToken string `json:"ClientRequestToken"`
		RotationLambdaARN  string `json:"RotationLambdaARN"`
		RotateImmediately  *bool  `json:"RotateImmediately"`
	}
	if err := decode(dec, &in); err != nil {
		return nil, err
	}
	sec, err := s.secretFor(in.SecretID)
	if err != nil {
		return nil, err
	}
	if in.RotationLambdaARN != "" {
		sec.lambdaARN = in.RotationLambdaARN
	}
	if sec.lambdaARN == "" || s.rotate == nil {
		return nil, invalidReq("No Lambda rotation function ARN is associated with this secret.")
	}
	if p := sec.holder(StagePending); p != nil && p != sec.holder(StageCurrent) {
		return nil, invalidReq("A previous rotation isn't complete. That rotation will be reattempted.")
	}
	token := in.ClientRequestToken
	if token == "" {
		token = newVersionID()
	}
	if sec.version(token) != nil {
		return nil, invalidReq("A version with ClientRequestToken " + token + " already exists.")
	}
	sec.rotationEnabled = true
	// The service creates the pending version, without a value, before it
	// invokes the function; createSecret then puts the value into it.
	v := &version{id: token, created: time.Now()}
	sec.versions = append(sec.versions, v)
	sec.attach(StagePending, v)
	steps := Steps
	if in.RotateImmediately != nil && !*in.RotateImmediately {
		steps = []string{"testSecret"} // the configuration test
	}
	ev := events.SecretsManagerSecretRotationEvent{SecretID: sec.arn, ClientRequestToken: token}
	fn := s.rotate
	s.rotations.Add(1)
	go s.runRotation(fn, sec, v, ev, steps)
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": token}, nil
}

// runRotation invokes fn for each step, stopping at the first failure (the
// pending version then keeps AWSPENDING, so a new RotateSecret is refused
// until the rotation is completed or the label removed).
func (s *Server) runRotation(fn RotationFunc, sec *secret, v *version, ev events.SecretsManagerSecretRotationEvent, steps []string) {
	defer s.rotations.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var err error
	for _, step := range steps {
		ev.Step = step
		if err = fn(ctx, ev); err != nil {
			err = fmt.Errorf("%s: %w", step, err)
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results[v.id] = err
	if err == nil {
		if len(steps) == 1 || slices.Contains(v.stages, StageCurrent) {
			v.stages = slices.DeleteFunc(v.stages, func(st string) bool { return st == StagePending })
		}
		if len(steps) > 1 {
			sec.lastRotated = time.Now()
		}
	}
}

func (s *Server) lookup(id string) *secret {
	for _, sec := range s.secrets {
		if sec.name == id || sec.arn == id {
			return sec
		}
	}
	return nil
}

func (sec *secret) version(id string) *version {
	for _, v := range sec.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

func (sec *secret) holder(stage string) *version {
	for _, v := range sec.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// attach puts stage on v, taking it off the version that had it; moving
// AWSCURRENT leaves AWSPREVIOUS on the version it left.
func (sec *secret) attach(stage string, v *version) {
	old := sec.holder(stage)
	if old == v {
		return
	}
	if old != nil {
		old.stages = slices.DeleteFunc(old.stages, func(st string) bool { return st == stage })
	}
	v.stages = appendOnce(v.stages, stage)
	if stage == StageCurrent && old != nil {
		sec.attach(StagePrevious, old)
	}
}

func (sec *secret) versionStages() map[string][]string {
	out := map[string][]string{}
	for _, v := range sec.versions {
		if len(v.stages) > 0 {
			out[v.id] = slices.Clone(v.stages)
		}
	}
	return out
}

func appendOnce(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func newVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}
