package authz

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/signing"
)

// kitegate's access tokens are RFC 9068 JWT access tokens: typ at+jwt, so a
// resource server (kitegate's own verifier first) tells them from ID tokens
// and other signed JWTs by their header. op (zitadel/oidc) signs every JWT
// with typ "JWT" and has no option to change it; so op signs with a key of
// this process's own that is published nowhere, and serveToken signs the
// same claims again with the KMS key before the answer leaves. A token that
// left with op's signature would verify nowhere: the arrangement fails
// closed, and a token still costs one kms:Sign.

// scratchKey is the key op signs with: made per process, never published.
type scratchKey struct{ key *ecdsa.PrivateKey }

func newScratchKey() (scratchKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return scratchKey{}, fmt.Errorf("scratch signing key: %w", err)
	}
	return scratchKey{k}, nil
}

func (k scratchKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k scratchKey) Key() any                                    { return k.key }
func (k scratchKey) ID() string                                  { return "unpublished" }

// tokenTypes are the JWTs of a token response and the typ each leaves with.
var tokenTypes = map[string]string{"access_token": identity.TypeAccessToken, "id_token": "JWT"}

// serveToken runs op's token endpoint and signs the JWTs of a successful
// answer with the KMS key.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	var held heldResponse
	held.header = http.Header{}
	s.op.ServeHTTP(&held, r)
	body := held.body.Bytes()
	if held.status == http.StatusOK {
		signed, err := s.signTokens(r, body)
		if err != nil {
			s.log.ErrorContext(r.Context(), "authz: sign tokens", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, registrationError{"temporarily_unavailable", "the token could not be signed right now; try again"})
			return
		}
		body = signed
	}
	for k, v := range held.header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(held.status)
	_, _ = w.Write(body)
}

func (s *Server) signTokens(r *http.Request, body []byte) ([]byte, error) {
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	signer, kid, err := s.cfg.Keys.Signer(r.Context())
	if err != nil {
		return nil, err
	}
	for field, typ := range tokenTypes {
		raw, ok := resp[field]
		if !ok {
			continue
		}
		var token string
		if err := json.Unmarshal(raw, &token); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s is not a compact JWS", field)
		}
		claims, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		js, err := jose.NewSigner(jose.SigningKey{Algorithm: signing.Algorithm, Key: &jose.JSONWebKey{Key: signer, KeyID: kid}},
			(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
		if err != nil {
			return nil, err
		}
		obj, err := js.Sign(claims)
		if err != nil {
			return nil, err
		}
		if token, err = obj.CompactSerialize(); err != nil {
			return nil, err
		}
		if resp[field], err = json.Marshal(token); err != nil {
			return nil, err
		}
	}
	return json.Marshal(resp)
}

// heldResponse keeps an answer until it may be rewritten.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *heldResponse) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(p)
}
