package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// UpstreamConfig is kitegate's registration at the company IdP: one
// confidential OIDC client per deployment.
type UpstreamConfig struct {
	Issuer   string // exact iss of the IdP
	ClientID string
	// ClientSecret returns the client secret (Secrets Manager on Lambda);
	// it is called at each code exchange, so cache in it.
	ClientSecret func(ctx context.Context) (string, error)
	Scopes       []string // default openid email profile
	GroupClaim   string   // default groups; a string array or a space/comma separated string
	// UserInfo also reads the claims at the userinfo endpoint (IdPs that
	// keep groups out of the ID token).
	UserInfo   bool
	HTTPClient *http.Client // must have a timeout
}

// upstream signs users in at the company IdP: authorization code with PKCE
// and a nonce, the ID token verified by go-oidc. Discovery is lazy, so a
// cold start makes no call and an unreachable IdP only fails sign-ins.
type upstream struct {
	cfg         UpstreamConfig
	redirectURL string

	mu       sync.Mutex
	provider *oidc.Provider
	next     time.Time // no discovery retry before this
}

func newUpstream(cfg UpstreamConfig, redirectURL string) (*upstream, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.ClientSecret == nil {
		return nil, errors.New("upstream IdP: issuer, client id and client secret are required")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	if cfg.GroupClaim == "" {
		cfg.GroupClaim = "groups"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &upstream{cfg: cfg, redirectURL: redirectURL}, nil
}

func (u *upstream) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, u.cfg.HTTPClient)
}

func (u *upstream) discover(ctx context.Context) (*oidc.Provider, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.provider != nil {
		return u.provider, nil
	}
	if time.Now().Before(u.next) {
		return nil, errors.New("upstream IdP: discovery failed recently; retrying shortly")
	}
	p, err := oidc.NewProvider(u.ctx(ctx), u.cfg.Issuer)
	if err != nil {
		u.next = time.Now().Add(5 * time.Second)
		// An issuer written differently from the IdP's iss (a trailing
		// slash) is a configuration error, not an outage: say so.
		return nil, fmt.Errorf("upstream IdP discovery at %s (check that the issuer is written exactly as the IdP writes iss): %w", u.cfg.Issuer, err)
	}
	u.provider = p
	return p, nil
}

func (u *upstream) oauth2(p *oidc.Provider, secret string) *oauth2.Config {
	return &oauth2.Config{ClientID: u.cfg.ClientID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: u.redirectURL, Scopes: u.cfg.Scopes}
}

// authURL is where the browser goes to sign in.
func (u *upstream) authURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	p, err := u.discover(ctx)
	if err != nil {
		return "", err
	}
	return u.oauth2(p, "").AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// exchange redeems the IdP's code and returns the verified user.
func (u *upstream) exchange(ctx context.Context, code, verifier, nonce string) (User, error) {
	p, err := u.discover(ctx)
	if err != nil {
		return User{}, err
	}
	secret, err := u.cfg.ClientSecret(ctx)
	if err != nil {
		return User{}, fmt.Errorf("upstream client secret: %w", err)
	}
	ctx = u.ctx(ctx)
	tok, err := u.oauth2(p, secret).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return User{}, fmt.Errorf("upstream code exchange: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return User{}, errors.New("upstream token response has no id_token")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: u.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return User{}, fmt.Errorf("upstream id token: %w", err)
	}
	if idt.Nonce != nonce {
		return User{}, errors.New("upstream id token: nonce does not match")
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return User{}, fmt.Errorf("upstream id token claims: %w", err)
	}
	if u.cfg.UserInfo {
		info, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return User{}, fmt.Errorf("upstream userinfo: %w", err)
		}
		if info.Subject != idt.Subject {
			return User{}, errors.New("upstream userinfo: subject differs from the id token's")
		}
		extra := map[string]any{}
		if err := info.Claims(&extra); err != nil {
			return User{}, fmt.Errorf("upstream userinfo claims: %w", err)
		}
		for k, v := range extra {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	return userFromClaims(idt.Subject, claims, u.cfg.GroupClaim)
}

// userFromClaims reads sub, a verified email and the groups.
func userFromClaims(sub string, claims map[string]any, groupClaim string) (User, error) {
	if sub == "" {
		return User{}, errors.New("upstream id token has no sub")
	}
	u := User{Subject: sub}
	if email, ok := claims["email"].(string); ok {
		// Profiles match on email: one the IdP has not verified must not count.
		if verified, ok := claims["email_verified"].(bool); ok && verified {
			u.Email = email
		}
	}
	switch v := claims[groupClaim].(type) {
	case nil:
	case string:
		u.Groups = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return User{}, fmt.Errorf("upstream claim %s: element %v is not a string", groupClaim, e)
			}
			if s != "" && !slices.Contains(u.Groups, s) {
				u.Groups = append(u.Groups, s)
			}
		}
	default:
		return User{}, fmt.Errorf("upstream claim %s is %T, not a list of group names", groupClaim, v)
	}
	return u, nil
}
