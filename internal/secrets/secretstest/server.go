// Package secretstest is an HTTP server speaking the Secrets Manager JSON
// protocol (X-Amz-Target, application/x-amz-json-1.1) for the operations
// kitegate uses, so the real aws-sdk-go-v2 client can be driven against it.
package secretstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

type version struct {
	id     string
	value  string
	stages []string
	date   time.Time
}

type secret struct {
	name     string
	arn      string
	versions []*version
}

// Server is a Secrets Manager on 127.0.0.1.
type Server struct {
	*httptest.Server
	mu      sync.Mutex
	secrets map[string]*secret
	calls   map[string]int
	down    bool
}

// New starts a server.
func New() *Server {
	s := &Server{secrets: map[string]*secret{}, calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
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

// Put stores value as a new version of name carrying the given stages, which
// are moved off any other version, as the service does.
func (s *Server) Put(name, versionID, value string, stages ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		sec = &secret{name: name, arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf"}
		s.secrets[name] = sec
	}
	for _, v := range sec.versions {
		v.stages = slices.DeleteFunc(v.stages, func(st string) bool { return slices.Contains(stages, st) })
	}
	sec.versions = append(sec.versions, &version{id: versionID, value: value, stages: stages, date: time.Now()})
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

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	if s.down {
		writeError(w, http.StatusInternalServerError, "InternalServiceError", "service unavailable")
		return
	}
	switch op {
	case "GetSecretValue":
		s.getSecretValue(w, r)
	default:
		writeError(w, http.StatusBadRequest, "InvalidRequestException", fmt.Sprintf("operation %q not simulated", op))
	}
}

func (s *Server) getSecretValue(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequestException", "malformed body")
		return
	}
	sec := s.lookup(in.SecretID)
	if sec == nil {
		writeError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	stage := in.VersionStage
	if stage == "" && in.VersionID == "" {
		stage = "AWSCURRENT"
	}
	for _, v := range sec.versions {
		if (in.VersionID == "" || v.id == in.VersionID) && (stage == "" || slices.Contains(v.stages, stage)) {
			writeJSON(w, map[string]any{
				"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "SecretString": v.value,
				"VersionStages": v.stages, "CreatedDate": float64(v.date.Unix()),
			})
			return
		}
	}
	writeError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: "+stage)
}

func (s *Server) lookup(id string) *secret {
	for _, sec := range s.secrets {
		if sec.name == id || sec.arn == id {
			return sec
		}
	}
	return nil
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
