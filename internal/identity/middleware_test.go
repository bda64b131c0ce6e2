package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeAuth answers every request with the same result.
type fakeAuth struct {
	caller Caller
	err    error
}

var _ Authenticator = (*fakeAuth)(nil)

func (f *fakeAuth) Authenticate(context.Context, *http.Request) (Caller, error) {
	return f.caller, f.err
}

// serveMiddleware runs one request through Middleware and returns the
// response, the caller the next handler saw (nil if it was not called), and
// everything logged.
func serveMiddleware(t *testing.T, a Authenticator, authorization string) (*httptest.ResponseRecorder, *Caller, string) {
	t.Helper()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var seen *Caller
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := FromContext(r.Context())
		if !ok {
			t.Error("next handler: no caller in context")
		}
		seen = &c
		w.WriteHeader(http.StatusNoContent)
	})
	r := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{}`))
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	w := httptest.NewRecorder()
	Middleware(a, testMetadataURL, nil, logger, next).ServeHTTP(w, r)
	return w, seen, logs.String()
}

const testMetadataURL = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"

func TestMiddleware(t *testing.T) {
	alice := Caller{Subject: "alice", Email: "alice@example.com", Groups: []string{"admins"}, Source: "oidc"}
	tests := []struct {
		name          string
		auth          Authenticator
		wantStatus    int
		wantChallenge string
		wantBody      map[string]string
		wantCaller    *Caller
	}{
		{
			name:       "authenticated",
			auth:       &fakeAuth{caller: alice},
			wantStatus: http.StatusNoContent,
			wantCaller: &alice,
		},
		{
			name:          "missing token",
			auth:          &fakeAuth{err: ErrMissingToken},
			wantStatus:    http.StatusUnauthorized,
			wantChallenge: `Bearer resource_metadata="` + testMetadataURL + `"`,
			wantBody:      map[string]string{"error": "unauthorized", "error_description": "a bearer token is required"},
		},
		{
			name:          "invalid token with description",
			auth:          &fakeAuth{err: invalid("token expired", errors.New("detail for the log"))},
			wantStatus:    http.StatusUnauthorized,
			wantChallenge: `Bearer resource_metadata="` + testMetadataURL + `", error="invalid_token", error_description="token expired"`,
			wantBody:      map[string]string{"error": "invalid_token", "error_description": "token expired"},
		},
		{
			name:          "bare ErrInvalidToken",
			auth:          &fakeAuth{err: ErrInvalidToken},
			wantStatus:    http.StatusUnauthorized,
			wantChallenge: `Bearer resource_metadata="` + testMetadataURL + `", error="invalid_token", error_description="the access token is invalid"`,
			wantBody:      map[string]string{"error": "invalid_token", "error_description": "the access token is invalid"},
		},
		{
			name:       "cannot check",
			auth:       &fakeAuth{err: errors.New("fetch signing keys: connection refused")},
			wantStatus: http.StatusServiceUnavailable,
			wantBody:   map[string]string{"error": "temporarily_unavailable", "error_description": "the access token cannot be checked right now"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, seen, _ := serveMiddleware(t, tt.auth, "Bearer some.token.value")
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
			if diff := cmp.Diff(tt.wantCaller, seen); diff != "" {
				t.Errorf("caller seen by next (-want +got):\n%s", diff)
			}
			if tt.wantBody == nil {
				return
			}
			if got := w.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if diff := cmp.Diff(tt.wantBody, body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	if got, want := quote(`a"b\c`), `a\"b\\c`; got != want {
		t.Errorf("quote = %q, want %q", got, want)
	}
}
