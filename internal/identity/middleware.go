package identity

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Middleware authenticates every request with a, puts the Caller in the
// request context for next, and answers failures itself: 401 with an RFC 6750
// / RFC 9728 challenge naming metadataURL and, when there are any, the
// scopes a client should ask for (MCP authorization 2025-11-25), or 503 when
// the token could not be checked at all. A nil logger discards. The token is
// never logged.
func Middleware(a Authenticator, metadataURL string, scopes []string, logger *slog.Logger, next http.Handler) http.Handler {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := a.Authenticate(r.Context(), r)
		if err == nil {
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), c)))
			return
		}
		var (
			challenge   = `Bearer resource_metadata="` + quote(metadataURL) + `"`
			status      = http.StatusUnauthorized
			code        = "invalid_token"
			description = "the access token is invalid"
		)
		if len(scopes) > 0 {
			challenge += `, scope="` + quote(strings.Join(scopes, " ")) + `"`
		}
		switch {
		case errors.Is(err, ErrMissingToken):
			// RFC 6750 §3.1: no error code when no credentials were sent.
			code, description = "unauthorized", "a bearer token is required"
			logger.DebugContext(r.Context(), "identity: no bearer token", "method", r.Method, "path", r.URL.Path)
		case errors.Is(err, ErrInvalidToken):
			if e, ok := errors.AsType[*invalidTokenError](err); ok {
				description = e.description
			}
			challenge += `, error="invalid_token", error_description="` + quote(description) + `"`
			logger.InfoContext(r.Context(), "identity: bearer token rejected", "method", r.Method, "path", r.URL.Path, "err", err)
		default:
			status, code, description = http.StatusServiceUnavailable, "temporarily_unavailable", "the access token cannot be checked right now"
			challenge = ""
			logger.ErrorContext(r.Context(), "identity: cannot authenticate", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		h := w.Header()
		if challenge != "" {
			h.Set("WWW-Authenticate", challenge)
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}{code, description})
	})
}

// quote escapes s for an RFC 9110 quoted-string.
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
