package identity

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// IntrospectionConfig turns on RFC 7662 token introspection for tokens that
// are not JWTs (opaque access tokens): kitegate asks the IdP about each one,
// authenticating as a client of its own.
type IntrospectionConfig struct {
	URL      string // the IdP's introspection endpoint
	ClientID string
	// ClientSecret is read when first needed (Secrets Manager or the
	// environment) and may be called again.
	ClientSecret func(context.Context) (string, error)
	// MaxTTL caps how long an answer is kept (default 1 minute): a revoked
	// token is refused at most this long after its revocation. An answer
	// is never kept past the token's exp.
	MaxTTL time.Duration
	// MaxEntries caps the answers kept (default 10000).
	MaxEntries int
}

// Defaults of IntrospectionConfig.
const (
	DefaultIntrospectionTTL = time.Minute
	defaultIntrospectionMax = 10000
	maxIntrospectionBytes   = 64 << 10
)

// introspector asks the IdP about opaque tokens and keeps its answers.
type introspector struct {
	cfg    IntrospectionConfig
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	answers map[[32]byte]introspection // by the token's SHA-256: the token itself is not kept
}

// introspection is one kept answer: the claims of an active token, or
// inactive (claims nil).
type introspection struct {
	claims map[string]any
	until  time.Time
}

func newIntrospector(cfg IntrospectionConfig, client *http.Client, now func() time.Time) (*introspector, error) {
	if err := checkFetchURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("introspection url: %w", err)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == nil {
		return nil, errors.New("introspection needs a client id and secret")
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = DefaultIntrospectionTTL
	} else if cfg.MaxTTL < 0 {
		return nil, errors.New("introspection: max TTL must not be negative")
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = defaultIntrospectionMax
	}
	return &introspector{cfg: cfg, client: client, now: now, answers: map[[32]byte]introspection{}}, nil
}

// claims returns the claims of an active token, as the IdP's introspection
// endpoint gives them, or an ErrInvalidToken.
func (in *introspector) claims(ctx context.Context, token string) (map[string]any, error) {
	key := sha256.Sum256([]byte(token))
	now := in.now()
	in.mu.Lock()
	a, ok := in.answers[key]
	in.mu.Unlock()
	if !ok || !now.Before(a.until) {
		var err error
		if a, err = in.ask(ctx, token, now); err != nil {
			return nil, err
		}
		in.keep(key, a, now)
	}
	if a.claims == nil {
		return nil, invalid("token is not active", nil)
	}
	return a.claims, nil
}

// ask makes one introspection request (RFC 7662 §2.1, client_secret_basic).
func (in *introspector) ask(ctx context.Context, token string, now time.Time) (introspection, error) {
	secret, err := in.cfg.ClientSecret(ctx)
	if err != nil {
		return introspection{}, fmt.Errorf("introspection client secret: %w", err)
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return introspection{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(in.cfg.ClientID), url.QueryEscape(secret))
	resp, err := in.client.Do(req)
	if err != nil {
		return introspection{}, fmt.Errorf("introspection: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBytes+1))
	if err != nil {
		return introspection{}, fmt.Errorf("introspection: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// The token was not judged: a 401 here is kitegate's own client
		// credentials, not the caller's token.
		return introspection{}, fmt.Errorf("introspection: HTTP %d", resp.StatusCode)
	}
	if len(body) > maxIntrospectionBytes {
		return introspection{}, errors.New("introspection: answer too large")
	}
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil {
		return introspection{}, fmt.Errorf("introspection: %w", err)
	}
	until := now.Add(in.cfg.MaxTTL)
	if active, _ := claims["active"].(bool); !active {
		return introspection{until: until}, nil
	}
	if exp, ok := claims["exp"].(float64); ok {
		if e := time.Unix(int64(exp), 0); e.Before(until) {
			until = e
		}
	}
	delete(claims, "active")
	return introspection{claims: claims, until: until}, nil
}

// keep stores an answer, making room when the cache is full: answers past
// their time go first, then all of them (an attacker's stream of made-up
// tokens costs kitegate its cache, never its memory).
func (in *introspector) keep(key [32]byte, a introspection, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.answers) >= in.cfg.MaxEntries {
		for k, v := range in.answers {
			if !now.Before(v.until) {
				delete(in.answers, k)
			}
		}
		if len(in.answers) >= in.cfg.MaxEntries {
			clear(in.answers)
		}
	}
	in.answers[key] = a
}

// introspected checks what the IdP said about an active opaque token as a
// JWT's claims are checked: the issuer and audience when it names them,
// that it is an access token, then the claims themselves.
func (o *OIDC) introspected(ctx context.Context, token string) (Caller, error) {
	claims, err := o.introspect.claims(ctx, token)
	if err != nil {
		return Caller{}, err
	}
	if tt, ok := claims["token_type"].(string); ok && !strings.EqualFold(tt, "bearer") && !strings.EqualFold(tt, "access_token") {
		return Caller{}, invalid("not an access token", fmt.Errorf("introspection token_type %q", tt))
	}
	if iss, ok := claims["iss"]; ok {
		s, _ := iss.(string)
		if err := o.checkIssuerAndAudience(ctx, s, []string{o.cfg.Audience}); err != nil {
			return Caller{}, err
		}
	}
	aud, ok := claims["aud"]
	if !ok {
		// RFC 7662 lets the answer leave aud out (oidc-provider does for
		// a token requested without a resource): then only a token issued
		// to kitegate's own client at the IdP is kitegate's. Any other
		// application's token is not for this resource (no token
		// passthrough), whoever it names.
		if cid, _ := claims["client_id"].(string); cid == "" || cid != o.introspect.cfg.ClientID {
			return Caller{}, invalid("token not issued for this resource", fmt.Errorf("introspection: no aud, client_id %q", clip(cid)))
		}
	} else {
		var auds []string
		switch v := aud.(type) {
		case string:
			auds = []string{v}
		case []any:
			for _, a := range v {
				if s, ok := a.(string); ok {
					auds = append(auds, s)
				}
			}
		}
		if err := o.checkIssuerAndAudience(ctx, o.cfg.Issuer, auds); err != nil {
			return Caller{}, err
		}
	}
	sub, _ := claims["sub"].(string)
	c, err := o.caller(sub, claims)
	if err == nil {
		o.mismatch.reset()
	}
	return c, err
}
