package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

const (
	// maxDocumentBytes caps a discovery document or key set.
	maxDocumentBytes = 1 << 20
	// refetchInterval is the least time between two key set fetches caused
	// by tokens, so unknown kids cannot turn us into an amplifier.
	refetchInterval = time.Minute
	// retryInterval is the least time between fetches after a failed one.
	retryInterval = 5 * time.Second
	// maxKeyAge is how long fetched keys are trusted before a refresh.
	maxKeyAge = time.Hour
)

// errKeysUnavailable means the signing keys could not be fetched: the token
// was not judged, so it is not an ErrInvalidToken.
var errKeysUnavailable = errors.New("signing keys unavailable")

// keySet is an oidc.KeySet over the provider's JWKS, fetched lazily and
// cached. ensure fetches (rate-limited); VerifySignature only reads the cache.
type keySet struct {
	client  *http.Client
	issuer  string
	algs    []jose.SignatureAlgorithm
	now     func() time.Time
	fetchMu chan struct{}                                    // a one-slot semaphore: one fetch at a time
	source  func(context.Context) ([]jose.JSONWebKey, error) // in-process keys instead of a fetch

	mu        sync.RWMutex
	jwksURL   string // configured or discovered
	keys      []jose.JSONWebKey
	fetchedAt time.Time // last successful fetch
	nextFetch time.Time // no fetch before this
}

var _ oidc.KeySet = (*keySet)(nil)

func newKeySet(client *http.Client, issuer, jwksURL string, algs []jose.SignatureAlgorithm, now func() time.Time) *keySet {
	return &keySet{
		client:  client,
		issuer:  issuer,
		jwksURL: jwksURL,
		algs:    algs,
		now:     now,
		fetchMu: make(chan struct{}, 1),
	}
}

// ensure makes the key for kid available if it can: it fetches the key set
// when nothing is cached, when the keys are old, or when kid is unknown, but
// never more often than the rate limit allows. An error means the keys could
// not be fetched and none are usable; otherwise whether kid is known is
// reported by known.
func (k *keySet) ensure(ctx context.Context, kid string) error {
	if !k.needFetch(kid) {
		return nil
	}
	select {
	case k.fetchMu <- struct{}{}:
		defer func() { <-k.fetchMu }()
	case <-ctx.Done():
		return ctx.Err()
	}
	if !k.needFetch(kid) { // another request fetched while we waited
		return nil
	}
	k.mu.Lock()
	if k.now().Before(k.nextFetch) {
		k.mu.Unlock()
		return k.usable()
	}
	k.nextFetch = k.now().Add(retryInterval)
	jwksURL := k.jwksURL
	k.mu.Unlock()

	// The fetch outlives a caller that gives up: its result serves everyone,
	// and the client's timeout bounds it.
	fctx := context.WithoutCancel(ctx)
	keys, jwksURL, err := k.fetch(fctx, jwksURL)

	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		if len(k.keys) == 0 {
			return fmt.Errorf("%w: %w", errKeysUnavailable, err)
		}
		return nil // keep serving the keys we have
	}
	k.jwksURL = jwksURL
	k.keys = keys
	k.fetchedAt = k.now()
	k.nextFetch = k.fetchedAt.Add(refetchInterval)
	return nil
}

func (k *keySet) needFetch(kid string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if len(k.keys) == 0 || k.now().Sub(k.fetchedAt) > maxKeyAge {
		return true
	}
	return kid != "" && !k.knownLocked(kid)
}

func (k *keySet) usable() error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if len(k.keys) == 0 {
		return fmt.Errorf("%w: waiting to retry", errKeysUnavailable)
	}
	return nil
}

// known reports whether a key with this kid is cached.
func (k *keySet) known(kid string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.knownLocked(kid)
}

func (k *keySet) knownLocked(kid string) bool {
	for _, key := range k.keys {
		if key.KeyID == kid {
			return true
		}
	}
	return false
}

// VerifySignature implements oidc.KeySet: it verifies jwt with the cached key
// named by its kid (or, without a kid, any cached key) and returns the payload.
func (k *keySet) VerifySignature(_ context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(jwt, k.algs)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	h := jws.Signatures[0].Header
	k.mu.RLock()
	keys := k.keys
	k.mu.RUnlock()
	for _, key := range keys {
		if h.KeyID != "" && key.KeyID != h.KeyID {
			continue
		}
		if key.Algorithm != "" && key.Algorithm != h.Algorithm {
			continue
		}
		if payload, err := jws.Verify(&key); err == nil {
			return payload, nil
		}
	}
	return nil, errors.New("no key verifies the signature")
}

// fetch returns the key set, discovering its URL first when it is not known.
func (k *keySet) fetch(ctx context.Context, jwksURL string) ([]jose.JSONWebKey, string, error) {
	if k.source != nil {
		keys, err := k.source(ctx)
		if err == nil && len(keys) == 0 {
			err = errors.New("no public signing keys")
		}
		return keys, jwksURL, err
	}
	if jwksURL == "" {
		var err error
		if jwksURL, err = k.discover(ctx); err != nil {
			return nil, "", err
		}
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := k.getJSON(ctx, jwksURL, &doc); err != nil {
		return nil, "", fmt.Errorf("key set: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range doc.Keys {
		var key jose.JSONWebKey
		// RFC 7517 §5: ignore keys we do not understand rather than the set.
		if err := key.UnmarshalJSON(raw); err != nil {
			continue
		}
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		switch key.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			keys = append(keys, key)
		} // symmetric or private keys have no place in a public key set
	}
	if len(keys) == 0 {
		return nil, "", errors.New("key set: no usable public signing keys")
	}
	return keys, jwksURL, nil
}

// discover reads jwks_uri from the issuer's OpenID configuration.
func (k *keySet) discover(ctx context.Context) (string, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	u := strings.TrimSuffix(k.issuer, "/") + "/.well-known/openid-configuration"
	if err := k.getJSON(ctx, u, &doc); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	if doc.Issuer != k.issuer {
		return "", &ConfigError{Claim: "iss", Want: k.issuer, Seen: clip(doc.Issuer), Source: "the provider's OpenID configuration"}
	}
	if err := checkFetchURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery: jwks_uri: %w", err)
	}
	return doc.JWKSURI, nil
}

func (k *keySet) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if len(body) > maxDocumentBytes {
		return fmt.Errorf("GET %s: body larger than %d bytes", u, maxDocumentBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// checkFetchURL accepts https URLs, and http ones only on a loopback host
// (local providers and tests): keys fetched in the clear could be swapped.
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("%q must use https", raw)
}
