package signing_test

import (
	"context"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kitegate/kitegate/internal/signing"
	"github.com/kitegate/kitegate/internal/signing/signingtest"
)

func TestSignAndVerifyWithLocalKMS(t *testing.T) {
	client, calls := signingtest.Server(t)
	oldKey := signingtest.SigningKey(t, client)
	newKey := signingtest.SigningKey(t, client)
	keys, err := signing.New(client, []string{newKey, oldKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pubs, err := keys.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 2 || pubs[0].KeyID == pubs[1].KeyID || pubs[0].KeyID == "" {
		t.Fatalf("want two published keys with distinct kids, got %+v", pubs)
	}
	opaque, kid, err := keys.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kid != pubs[0].KeyID {
		t.Errorf("signing kid %q, want the first key's %q", kid, pubs[0].KeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: signing.Algorithm, Key: &jose.JSONWebKey{Key: opaque, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte(`{"sub":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{signing.Algorithm})
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.Signatures[0].Header.KeyID; got != kid {
		t.Errorf("header kid %q, want %q", got, kid)
	}
	if _, err := parsed.Verify(&pubs[0]); err != nil {
		t.Errorf("the new key's public key does not verify: %v", err)
	}
	if _, err := parsed.Verify(&pubs[1]); err == nil {
		t.Error("the old key verified a signature of the new key")
	}
	// Public keys are read once; a second Signer costs no GetPublicKey.
	if _, _, err := keys.Signer(ctx); err != nil {
		t.Fatal(err)
	}
	if got := calls.Count("GetPublicKey"); got != 2 {
		t.Errorf("GetPublicKey calls = %d, want 2 (one per key, cached)", got)
	}
	if got := calls.Count("Sign"); got != 1 {
		t.Errorf("Sign calls = %d, want 1", got)
	}
}

func TestRefusesUnusableKeys(t *testing.T) {
	client, _ := signingtest.Server(t)
	if _, err := signing.New(client, nil); err == nil {
		t.Error("no key ids accepted")
	}
	keys, err := signing.New(client, []string{"no-such-key"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.PublicKeys(context.Background()); err == nil {
		t.Error("an unknown key gave public keys")
	}
}
