package identity

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetadataURL(t *testing.T) {
	tests := []struct {
		name, resource, want string
	}{
		{"path", "https://abc.execute-api.eu-west-1.amazonaws.com/mcp", "https://abc.execute-api.eu-west-1.amazonaws.com/.well-known/oauth-protected-resource/mcp"},
		{"no path", "https://mcp.example.com", "https://mcp.example.com/.well-known/oauth-protected-resource"},
		{"root slash", "https://mcp.example.com/", "https://mcp.example.com/.well-known/oauth-protected-resource"},
		{"trailing slash kept", "https://mcp.example.com/prod/mcp/", "https://mcp.example.com/.well-known/oauth-protected-resource/prod/mcp/"},
		{"port and query", "http://127.0.0.1:8080/mcp?tenant=a", "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp?tenant=a"},
		{"escaped path", "https://mcp.example.com/a%2Fb", "https://mcp.example.com/.well-known/oauth-protected-resource/a%2Fb"},
		{"not absolute", "/mcp", ""},
		{"garbage", "://", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MetadataURL(tt.resource); got != tt.want {
				t.Errorf("MetadataURL(%q) = %q, want %q", tt.resource, got, tt.want)
			}
		})
	}
}

func TestProtectedResourceMetadata(t *testing.T) {
	const resource = "https://mcp.example.com/mcp"
	tests := []struct {
		name   string
		scopes []string
		want   map[string]any
	}{
		{
			name:   "with scopes",
			scopes: []string{"openid", "kitegate"},
			want: map[string]any{
				"resource":                 resource,
				"authorization_servers":    []any{"https://idp.example.com"},
				"bearer_methods_supported": []any{"header"},
				"scopes_supported":         []any{"openid", "kitegate"},
				"resource_name":            resourceName,
			},
		},
		{
			name: "without scopes",
			want: map[string]any{
				"resource":                 resource,
				"authorization_servers":    []any{"https://idp.example.com"},
				"bearer_methods_supported": []any{"header"},
				"resource_name":            resourceName,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := ProtectedResourceMetadata(resource, []string{"https://idp.example.com"}, tt.scopes)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/.well-known/oauth-protected-resource/mcp", nil))
			if w.Code != http.StatusOK {
				t.Fatalf("status = %d", w.Code)
			}
			wantHeaders := map[string]string{
				"Content-Type":                "application/json",
				"Cache-Control":               "public, max-age=3600",
				"Access-Control-Allow-Origin": "*",
			}
			for k, v := range wantHeaders {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("POST is refused", func(t *testing.T) {
		w := httptest.NewRecorder()
		ProtectedResourceMetadata(resource, nil, nil).ServeHTTP(w, httptest.NewRequest("POST", "/.well-known/oauth-protected-resource", nil))
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("status = %d, want 405", w.Code)
		}
	})
}
