// Package signing signs kitegate's access tokens with asymmetric AWS KMS keys
// (kms:Sign, RSASSA_PKCS1_V1_5_SHA_256, published as RS256) and publishes
// their public keys, so tokens are verified in memory and the private key
// never leaves KMS.
//
// Keys lists KMS key ids (or ARNs, or aliases): the first signs, every one is
// published, so a rotation adds the new key first and keeps the old one
// listed until the tokens it signed have expired. Public keys are read once
// per process (kms:GetPublicKey) and cached: a KMS key's key material never
// changes. The key id (kid) of each is its RFC 7638 thumbprint, so no ARN
// reaches a token.
package signing

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	jose "github.com/go-jose/go-jose/v4"
)

// Algorithm is the JWS algorithm of every token kitegate signs.
const Algorithm = jose.RS256

// signTimeout bounds one kms:Sign; go-jose's signer interface carries no context.
const signTimeout = 5 * time.Second

// KMSAPI is the part of the KMS client Keys uses.
type KMSAPI interface {
	Sign(ctx context.Context, in *kms.SignInput, opts ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

// Keys signs with the first of its KMS keys and publishes all of them.
type Keys struct {
	api KMSAPI
	ids []string

	mu   sync.Mutex
	pubs []jose.JSONWebKey // in ids order, once every key was read
}

// New returns the key set of keyIDs (at least one); it makes no AWS call.
func New(api KMSAPI, keyIDs []string) (*Keys, error) {
	if api == nil {
		return nil, errors.New("signing: a KMS client is required")
	}
	if len(keyIDs) == 0 {
		return nil, errors.New("signing: at least one KMS key id is required")
	}
	for _, id := range keyIDs {
		if id == "" {
			return nil, errors.New("signing: empty KMS key id")
		}
	}
	return &Keys{api: api, ids: append([]string(nil), keyIDs...)}, nil
}

// PublicKeys returns the public keys to publish (the signing key first),
// reading them from KMS on first use.
func (k *Keys) PublicKeys(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pubs != nil {
		return k.pubs, nil
	}
	pubs := make([]jose.JSONWebKey, 0, len(k.ids))
	for _, id := range k.ids {
		out, err := k.api.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
		if err != nil {
			return nil, fmt.Errorf("signing: public key of %s: %w", id, err)
		}
		if out.KeyUsage != types.KeyUsageTypeSignVerify {
			return nil, fmt.Errorf("signing: key %s is not a SIGN_VERIFY key", id)
		}
		pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("signing: public key of %s: %w", id, err)
		}
		rsaPub, ok := pub.(*rsa.PublicKey)
		if !ok || rsaPub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("signing: key %s is not an RSA key of 2048 bits or more (want KeySpec RSA_2048 or larger)", id)
		}
		jwk := jose.JSONWebKey{Key: rsaPub, Algorithm: string(Algorithm), Use: "sig"}
		thumb, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("signing: thumbprint of %s: %w", id, err)
		}
		jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
		pubs = append(pubs, jwk)
	}
	k.pubs = pubs
	return pubs, nil
}

// Signer returns a go-jose opaque signer over the first key, bound to ctx
// for its KMS calls, and that key's id.
func (k *Keys) Signer(ctx context.Context) (jose.OpaqueSigner, string, error) {
	pubs, err := k.PublicKeys(ctx)
	if err != nil {
		return nil, "", err
	}
	return &kmsSigner{ctx: ctx, api: k.api, keyID: k.ids[0], pub: pubs[0]}, pubs[0].KeyID, nil
}

type kmsSigner struct {
	ctx   context.Context
	api   KMSAPI
	keyID string
	pub   jose.JSONWebKey
}

var _ jose.OpaqueSigner = (*kmsSigner)(nil)

func (s *kmsSigner) Public() *jose.JSONWebKey { pub := s.pub; return &pub }

func (s *kmsSigner) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{Algorithm} }

// SignPayload signs the SHA-256 digest (MessageType DIGEST): a JWT with many
// groups may pass KMS's 4 KB limit on raw messages.
func (s *kmsSigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != Algorithm {
		return nil, fmt.Errorf("signing: algorithm %s is not %s", alg, Algorithm)
	}
	digest := sha256.Sum256(payload)
	ctx, cancel := context.WithTimeout(s.ctx, signTimeout)
	defer cancel()
	out, err := s.api.Sign(ctx, &kms.SignInput{
		KeyId:            aws.String(s.keyID),
		Message:          digest[:],
		MessageType:      types.MessageTypeDigest,
		SigningAlgorithm: types.SigningAlgorithmSpecRsassaPkcs1V15Sha256,
	})
	if err != nil {
		return nil, fmt.Errorf("signing: kms sign: %w", err)
	}
	return out.Signature, nil
}
