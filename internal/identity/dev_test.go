package identity

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDev(t *testing.T) {
	tokens := map[string]Caller{
		"alice-token": {Subject: "alice", Email: "alice@example.com", Groups: []string{"admins", "builders"}},
		"bob-token":   {Subject: "bob", Groups: []string{"readers"}},
	}
	def := Caller{Subject: "dev", Email: "dev@localhost", Groups: []string{"dev"}}
	wantDef := Caller{Subject: "dev", Email: "dev@localhost", Groups: []string{"dev"}, Source: "dev"}

	tests := []struct {
		name    string
		cfg     DevConfig
		auth    string // Authorization header; "" sends none
		want    Caller
		wantErr error
	}{
		{name: "no token file gives the default caller", cfg: DevConfig{Default: def}, want: wantDef},
		{name: "no token file ignores a presented token", cfg: DevConfig{Default: def}, auth: "Bearer whatever", want: wantDef},
		{name: "token file maps alice", cfg: DevConfig{Default: def, Tokens: tokens}, auth: "Bearer alice-token",
			want: Caller{Subject: "alice", Email: "alice@example.com", Groups: []string{"admins", "builders"}, Source: "dev"}},
		{name: "token file maps bob", cfg: DevConfig{Tokens: tokens}, auth: "bearer bob-token",
			want: Caller{Subject: "bob", Groups: []string{"readers"}, Source: "dev"}},
		{name: "unknown token", cfg: DevConfig{Default: def, Tokens: tokens, AllowAnonymous: true}, auth: "Bearer mallory-token", wantErr: ErrInvalidToken},
		{name: "missing token without anonymous", cfg: DevConfig{Default: def, Tokens: tokens}, wantErr: ErrMissingToken},
		{name: "missing token with anonymous", cfg: DevConfig{Default: def, Tokens: tokens, AllowAnonymous: true}, want: wantDef},
		{name: "other scheme is no token", cfg: DevConfig{Default: def, Tokens: tokens}, auth: "Basic YWxpY2U6eA==", wantErr: ErrMissingToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDev(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("POST", "/mcp", nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			got, err := d.Authenticate(t.Context(), r)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("caller (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDevCallersAreCopies(t *testing.T) {
	d, err := NewDev(DevConfig{Default: Caller{Subject: "dev", Groups: []string{"dev"}}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := d.Authenticate(t.Context(), httptest.NewRequest("GET", "/", nil))
	c.Groups[0] = "admins"
	c, _ = d.Authenticate(t.Context(), httptest.NewRequest("GET", "/", nil))
	if diff := cmp.Diff([]string{"dev"}, c.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
}

func TestNewDevErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  DevConfig
	}{
		{name: "default without subject", cfg: DevConfig{}},
		{name: "entry without sub", cfg: DevConfig{Source: "tokens.yaml", Tokens: map[string]Caller{"s3cret": {Email: "a@b"}}}},
		{name: "empty token", cfg: DevConfig{Source: "tokens.yaml", Tokens: map[string]Caller{"": {Subject: "a"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDev(tt.cfg)
			if err == nil {
				t.Fatal("NewDev succeeded, want an error")
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q reveals a token", err)
			}
		})
	}
}
