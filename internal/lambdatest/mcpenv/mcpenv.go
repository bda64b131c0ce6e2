// Package mcpenv stands up, on 127.0.0.1, what the mcp function needs when
// it runs on Lambda: an OpenID Connect issuer (discovery document and JWKS)
// that mints RS256 access tokens, a Secrets Manager holding the Buildkite
// token, and the Buildkite simulator. Env is the function's environment
// pointing at them, for running the real bootstrap under the Lambda
// emulator in tests and in the cold-start measurement.
package mcpenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/kitegate/kitegate/infra"
	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/policy/policyfile"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/secrets"
	"github.com/kitegate/kitegate/internal/secrets/secretstest"
	"github.com/kitegate/kitegate/internal/tables"
	"github.com/kitegate/kitegate/internal/tools"
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
	// Tables are the policy and audit tables in DynamoDB Local, once
	// CreateTables made them.
	Tables struct{ Endpoint, Policy, Audit string }
	db     *dynamodb.Client
}

// CreateTables makes the policy and audit tables in the DynamoDB Local at
// endpoint (infra/local/dynamodb.sh sets KITEGATE_TEST_DYNAMODB_ENDPOINT) and
// seeds the policy with the one built into kitegate, reconciled with its
// catalog, as `make policy-apply` and discovery would. On Lambda the
// function refuses to start without them. Close deletes them.
func (s *Stack) CreateTables(ctx context.Context, endpoint string) error {
	if endpoint == "" {
		return errors.New("mcpenv: no DynamoDB endpoint: run under infra/local/dynamodb.sh")
	}
	// The function's own credentials and region: DynamoDB Local keeps one
	// database per access key and region.
	env := s.Env()
	s.db = dynamodb.NewFromConfig(aws.Config{
		Region:       env["AWS_REGION"],
		Credentials:  credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]),
		BaseEndpoint: aws.String(endpoint),
	})
	var b [6]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	s.Tables.Endpoint, s.Tables.Policy, s.Tables.Audit = endpoint, "mcpenv-policy-"+suffix, "mcpenv-audit-"+suffix
	for _, in := range []*dynamodb.CreateTableInput{tables.Policy(s.Tables.Policy), tables.Audit(s.Tables.Audit)} {
		if _, err := s.db.CreateTable(ctx, in); err != nil {
			return fmt.Errorf("mcpenv: create table %s: %w", aws.ToString(in.TableName), err)
		}
	}
	bk, err := buildkite.New(buildkite.Config{BaseURL: s.Buildkite.URL, Tokens: secrets.Static(buildkitetest.DefaultToken)})
	if err != nil {
		return err
	}
	catalog, err := tools.Default(bk)
	if err != nil {
		return err
	}
	p, err := policyfile.Parse(infra.DefaultPolicy)
	if err != nil {
		return err
	}
	p, _ = discovery.Reconcile(p, discovery.Catalog(catalog), "", time.Now())
	if _, err := policystore.NewDynamoDB(s.db, s.Tables.Policy).Apply(ctx, p, "mcpenv"); err != nil {
		return fmt.Errorf("mcpenv: seed policy: %w", err)
	}
	return nil
}

// AuditEvents reads every item of the audit table.
func (s *Stack) AuditEvents(ctx context.Context) ([]audit.Event, error) {
	var out []audit.Event
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{TableName: aws.String(s.Tables.Audit), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			e, err := audit.EventFromItem(it)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	return out, nil
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

// Close stops the servers and deletes the tables.
func (s *Stack) Close() {
	s.Issuer.Close()
	s.Secrets.Close()
	s.Buildkite.Close()
	if s.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, t := range []string{s.Tables.Policy, s.Tables.Audit} {
			_, _ = s.db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(t)})
		}
	}
}

// Env is the mcp function's environment on Lambda, as template.yaml sets it,
// with the AWS SDK pointed at the Secrets Manager fake (a service-specific
// endpoint variable) and dummy credentials, and the policy and audit tables
// of CreateTables (without which the function refuses to start on Lambda).
func (s *Stack) Env() map[string]string {
	env := map[string]string{
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
	if s.Tables.Policy != "" {
		env["KITEGATE_POLICY_TABLE"] = s.Tables.Policy
		env["KITEGATE_AUDIT_TABLE"] = s.Tables.Audit
		env["AWS_ENDPOINT_URL_DYNAMODB"] = s.Tables.Endpoint
	}
	return env
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
