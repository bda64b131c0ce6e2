package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// hs256 signs header.claims with HMAC-SHA256 under secret, as an attacker
// who knows only public material would.
func hs256(t *testing.T, header, claims map[string]any, secret []byte) string {
	t.Helper()
	input := b64JSON(t, header) + "." + b64JSON(t, claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + b64(mac.Sum(nil))
}

func with(claims map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(claims, kv[i].(string))
			continue
		}
		claims[kv[i].(string)] = kv[i+1]
	}
	return claims
}

func TestOIDCAuthenticate(t *testing.T) {
	p := newProvider(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(p.rsa.Public())
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	alice := Caller{Subject: "alice", Email: "alice@example.com", Groups: []string{"admins", "builders"}, Source: "oidc"}
	now := testNow.Unix()

	tests := []struct {
		name     string
		auth     func() string // the Authorization header; "" sends none
		cfg      func(*OIDCConfig)
		want     Caller
		wantErr  error
		wantDesc string // description of an invalid token: which check refused it
	}{
		{
			name: "RS256 with groups array",
			auth: func() string { return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", p.claims()) },
			want: alice,
		},
		{
			name: "ES256 with groups string and custom claims",
			auth: func() string {
				return "Bearer " + sign(t, jose.ES256, p.ec, "ec-1", "at+jwt",
					with(p.claims(), "groups", nil, "email", nil, "mail", "a@example.com", "roles", "admins builders,  readers,admins"))
			},
			cfg:  func(c *OIDCConfig) { c.GroupClaim, c.EmailClaim = "roles", "mail" },
			want: Caller{Subject: "alice", Email: "a@example.com", Groups: []string{"admins", "builders", "readers"}, Source: "oidc"},
		},
		{
			name: "audience array containing ours",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "", with(p.claims(), "aud", []string{"https://other.example.com", testAudience}))
			},
			want: alice,
		},
		{
			name: "no groups, unverified email dropped",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), "groups", nil, "email_verified", false))
			},
			want: Caller{Subject: "alice", Source: "oidc"},
		},
		{
			name: "expired within leeway",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), "exp", now-20))
			},
			want: alice,
		},
		{
			name: "nbf within leeway",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), "nbf", now+20))
			},
			want: alice,
		},
		{
			name: "expired",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), "exp", now-60))
			},
			wantErr: ErrInvalidToken, wantDesc: "token expired",
		},
		{
			name: "no exp",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), "exp", nil))
			},
			wantErr: ErrInvalidToken, wantDesc: "token expired",
		},
		{
			name: "not yet valid",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), "nbf", now+60))
			},
			wantErr: ErrInvalidToken, wantDesc: "token not yet valid",
		},
		{
			name: "wrong audience",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), "aud", "https://other.example.com/mcp"))
			},
			wantErr: ErrInvalidToken, wantDesc: "token verification failed",
		},
		{
			name: "audience with an extra trailing slash",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), "aud", testAudience+"/"))
			},
			wantErr: ErrInvalidToken, wantDesc: "token verification failed",
		},
		{
			name: "wrong issuer",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), "iss", "https://evil.example.com"))
			},
			wantErr: ErrInvalidToken, wantDesc: "token verification failed",
		},
		{
			name: "no subject",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), "sub", nil))
			},
			wantErr: ErrInvalidToken, wantDesc: "token has no subject",
		},
		{
			name: "groups of the wrong type",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), "groups", map[string]any{"admins": true}))
			},
			wantErr: ErrInvalidToken, wantDesc: "malformed claims",
		},
		{
			name:    "bad signature: another RSA key with the same kid",
			auth:    func() string { return "Bearer " + sign(t, jose.RS256, other, "rsa-1", "JWT", p.claims()) },
			wantErr: ErrInvalidToken, wantDesc: "token verification failed",
		},
		{
			name:    "bad signature: another EC key with the same kid",
			auth:    func() string { return "Bearer " + sign(t, jose.ES256, otherEC, "ec-1", "JWT", p.claims()) },
			wantErr: ErrInvalidToken, wantDesc: "token verification failed",
		},
		{
			name:    "bad signature: no kid",
			auth:    func() string { return "Bearer " + sign(t, jose.RS256, other, "", "JWT", p.claims()) },
			wantErr: ErrInvalidToken, wantDesc: "token has no key id",
		},
		{
			name:    "EC kid with an RS256 signature",
			auth:    func() string { return "Bearer " + sign(t, jose.RS256, p.rsa, "ec-1", "JWT", p.claims()) },
			wantErr: ErrInvalidToken, wantDesc: "token verification failed",
		},
		{
			name: "tampered payload",
			auth: func() string {
				parts := strings.Split(sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", p.claims()), ".")
				parts[1] = b64JSON(t, with(p.claims(), "sub", "root"))
				return "Bearer " + strings.Join(parts, ".")
			},
			wantErr: ErrInvalidToken, wantDesc: "token verification failed",
		},
		{
			name:    "unknown kid",
			auth:    func() string { return "Bearer " + sign(t, jose.RS256, other, "rsa-9", "JWT", p.claims()) },
			wantErr: ErrInvalidToken, wantDesc: "unknown signing key",
		},
		{
			name: "alg none without signature",
			auth: func() string {
				return "Bearer " + b64JSON(t, map[string]any{"alg": "none", "typ": "JWT"}) + "." + b64JSON(t, p.claims()) + "."
			},
			wantErr: ErrInvalidToken, wantDesc: "malformed token",
		},
		{
			name: "alg none with a signature",
			auth: func() string {
				return "Bearer " + b64JSON(t, map[string]any{"alg": "none", "kid": "rsa-1"}) + "." + b64JSON(t, p.claims()) + "." + b64([]byte("sig"))
			},
			wantErr: ErrInvalidToken, wantDesc: "malformed token or unsupported algorithm",
		},
		{
			name: "alg none even when configured",
			auth: func() string {
				return "Bearer " + b64JSON(t, map[string]any{"alg": "none"}) + "." + b64JSON(t, p.claims()) + "." + b64([]byte("sig"))
			},
			cfg:     func(c *OIDCConfig) { c.Algorithms = []string{"RS256", "ES256", "PS256"} },
			wantErr: ErrInvalidToken, wantDesc: "malformed token or unsupported algorithm",
		},
		{
			name: "HS256 keyed with the RSA public key PEM",
			auth: func() string {
				return "Bearer " + hs256(t, map[string]any{"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, p.claims(), rsaPEM)
			},
			wantErr: ErrInvalidToken, wantDesc: "malformed token or unsupported algorithm",
		},
		{
			name: "HS256 keyed with the RSA public key DER",
			auth: func() string {
				return "Bearer " + hs256(t, map[string]any{"alg": "HS256", "kid": "rsa-1"}, p.claims(), der)
			},
			wantErr: ErrInvalidToken, wantDesc: "malformed token or unsupported algorithm",
		},
		{
			name:    "RS384 not configured",
			auth:    func() string { return "Bearer " + sign(t, jose.RS384, p.rsa, "rsa-1", "JWT", p.claims()) },
			wantErr: ErrInvalidToken, wantDesc: "malformed token or unsupported algorithm",
		},
		{
			name: "logout token type",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "logout+jwt", p.claims())
			},
			wantErr: ErrInvalidToken, wantDesc: "unexpected token type",
		},
		{name: "garbage", auth: func() string { return "Bearer not-a-jwt!" }, wantErr: ErrInvalidToken, wantDesc: "malformed token"},
		{name: "two parts", auth: func() string { return "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0" }, wantErr: ErrInvalidToken, wantDesc: "malformed token"},
		{name: "four parts", auth: func() string { return "Bearer a.b.c.d" }, wantErr: ErrInvalidToken, wantDesc: "malformed token"},
		{name: "three junk parts", auth: func() string { return "Bearer aaaa.bbbb.cccc" }, wantErr: ErrInvalidToken, wantDesc: "malformed token or unsupported algorithm"},
		{
			name:    "JWS JSON serialization",
			auth:    func() string { return `Bearer {"payload":"e30","signatures":[]}` },
			wantErr: ErrInvalidToken, wantDesc: "malformed token",
		},
		{
			name: "huge",
			auth: func() string {
				return "Bearer " + sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", with(p.claims(), "pad", strings.Repeat("x", 20<<10)))
			},
			wantErr: ErrInvalidToken, wantDesc: "token too large",
		},
		{name: "empty bearer", auth: func() string { return "Bearer " }, wantErr: ErrInvalidToken, wantDesc: "empty bearer token"},
		{name: "missing Authorization header", auth: func() string { return "" }, wantErr: ErrMissingToken},
		{
			name:    "Basic scheme",
			auth:    func() string { return "Basic YWxpY2U6cGFzc3dvcmQ=" },
			wantErr: ErrMissingToken,
		},
		{
			name:    "token without scheme",
			auth:    func() string { return sign(t, jose.RS256, p.rsa, "rsa-1", "JWT", p.claims()) },
			wantErr: ErrMissingToken,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _ := newTestOIDC(t, p, tt.cfg)
			authorization := tt.auth()
			r := httptest.NewRequest("POST", "/mcp", nil)
			if authorization != "" {
				r.Header.Set("Authorization", authorization)
			}
			got, err := o.Authenticate(t.Context(), r)
			if !errors.Is(err, tt.wantErr) || (err != nil && tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("caller (-want +got):\n%s", diff)
			}
			var desc string
			if e, ok := errors.AsType[*invalidTokenError](err); ok {
				desc = e.description
			}
			if desc != tt.wantDesc {
				t.Errorf("description = %q, want %q (err %v)", desc, tt.wantDesc, err)
			}

			// The same request through the middleware: the token must
			// appear in neither the logs nor the response.
			w, seen, logs := serveMiddleware(t, o, authorization)
			if tt.wantErr == nil {
				if seen == nil || w.Code != http.StatusNoContent {
					t.Errorf("middleware: status %d, next handler called: %v", w.Code, seen != nil)
				}
			} else if w.Code != http.StatusUnauthorized {
				t.Errorf("middleware status = %d, want 401", w.Code)
			}
			_, token, _ := strings.Cut(authorization, " ")
			for _, secret := range secretParts(token) {
				if strings.Contains(logs, secret) || strings.Contains(w.Body.String(), secret) || strings.Contains(w.Header().Get("WWW-Authenticate"), secret) {
					t.Errorf("token material %.20q… leaked; logs:\n%s", secret, logs)
				}
			}
		})
	}
}

// secretParts returns the pieces of a token that must never be logged: the
// token itself and, for a JWT, its signature.
func secretParts(token string) []string {
	var parts []string
	if len(token) >= 8 {
		parts = append(parts, token)
	}
	if i := strings.LastIndexByte(token, '.'); i >= 0 && len(token)-i > 8 {
		parts = append(parts, token[i+1:])
	}
	return parts
}
