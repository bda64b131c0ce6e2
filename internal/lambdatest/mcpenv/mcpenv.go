// Package mcpenv stands up, on 127.0.0.1, what the mcp function needs when
// it runs on Lambda: an OpenID Connect issuer (discovery document and JWKS)
// that mints RS256 access tokens, a Secrets Manager holding the Buildkite
// token, and the Buildkite simulator. Env is the function's environment
// pointing at them, for running the real bootstrap under the Lambda
// emulator in tests and in the cold-start measurement.
package mcpenv

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/secrets/secretstest"
)

// ResourceURL is the function's MCP URL (the token audience), on the host
// the API Gateway events in functions/mcp/testdata are addressed to.
const ResourceURL = "https://abc123.execute-api.eu-west-1.amazonaws.com/mcp"

// SecretName names the secret that holds the Buildkite token.
const SecretName = "kitegate/test/buildkite-token"

// Stack is the running servers.
type Stack struct {
	Issuer    *Issuer
	Secrets   *secretstest.Server
	Buildkite *buildkitetest.Server
	stateDir  string
}

// New starts the servers. stateDir is where the function keeps its
// embedded policy store (a fresh directory per run keeps runs apart).
func New(stateDir string) (*Stack, error) {
	iss, err := NewIssuer()
	if err != nil {
		return nil, err
	}
	sm := secretstest.New()
	sm.Put(SecretName, "v1", fmt.Sprintf(`{"token":%q}`, buildkitetest.DefaultToken), secretstest.StageCurrent)
	return &Stack{Issuer: iss, Secrets: sm, Buildkite: buildkitetest.New(), stateDir: stateDir}, nil
}

// Close stops the servers.
func (s *Stack) Close() {
	s.Issuer.Close()
	s.Secrets.Close()
	s.Buildkite.Close()
}

// Env is the mcp function's environment on Lambda, as template.yaml sets it,
// with the AWS SDK pointed at the Secrets Manager fake (a service-specific
// endpoint variable) and dummy credentials. The policy and audit tables are
// left unset: the function then uses its built-in policy and writes audit
// lines to standard output.
func (s *Stack) Env() map[string]string {
	return map[string]string{
		"KITEGATE_RESOURCE_URL":            ResourceURL,
		"KITEGATE_OIDC_ISSUER":             s.Issuer.URL,
		"KITEGATE_BUILDKITE_SECRET_ID":     secretstest.ARN(SecretName),
		"KITEGATE_STATE_DIR":               s.stateDir,
		"KITEGATE_POLICY_TTL":              "5s",
		"BUILDKITE_API_URL":                s.Buildkite.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": s.Secrets.URL,
		"AWS_REGION":                       "us-east-1",
		"AWS_DEFAULT_REGION":               "us-east-1",
		"AWS_ACCESS_KEY_ID":                "AKIAIOSFODNN7EXAMPLE",
		"AWS_SECRET_ACCESS_KEY":            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_SESSION_TOKEN":                "test-session",
		"AWS_EC2_METADATA_DISABLED":        "true",
	}
}

// Issuer is an OpenID Connect provider on 127.0.0.1: it serves its
// discovery document and JWKS, and signs tokens with its RSA key.
type Issuer struct {
	// URL is the issuer (iss), with no trailing slash.
	URL    string
	srv    *httptest.Server
	signer jose.Signer
}

// NewIssuer starts an issuer with a fresh 2048-bit RSA key.
func NewIssuer() (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	iss := &Issuer{signer: signer}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]string{"issuer": iss.URL, "jwks_uri": iss.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, jwks) })
	iss.srv = httptest.NewServer(mux)
	iss.URL = iss.srv.URL
	return iss, nil
}

// Close stops the issuer.
func (i *Issuer) Close() { i.srv.Close() }

// Claims describe the caller a token is minted for.
type Claims struct {
	Subject string
	Email   string
	Groups  []string
	// Audience defaults to ResourceURL, Expiry to an hour from now.
	Audience string
	Expiry   time.Time
}

// Token mints a signed access token.
func (i *Issuer) Token(c Claims) (string, error) {
	if c.Audience == "" {
		c.Audience = ResourceURL
	}
	if c.Expiry.IsZero() {
		c.Expiry = time.Now().Add(time.Hour)
	}
	claims := map[string]any{
		"iss": i.URL, "sub": c.Subject, "aud": c.Audience, "email": c.Email, "email_verified": true,
		"iat": time.Now().Add(-time.Minute).Unix(), "exp": c.Expiry.Unix(), "groups": c.Groups,
	}
	return josejwt.Signed(i.signer).Claims(claims).Serialize()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
