package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kitegate/kitegate/internal/signing"
)

// storage is the glue between zitadel's op and the Store: op runs the
// protocol (request parsing and validation, PKCE verification, redirect
// rules, token responses, revocation), storage keeps the state and signs.
type storage struct {
	s *Server
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanGetPrivateClaimsFromRequest = (*storage)(nil)
)

// The op.AuthRequest view of a pending authorization.
func (r *authRequest) GetID() string          { return r.ID }
func (r *authRequest) GetACR() string         { return "" }
func (r *authRequest) GetAMR() []string       { return nil }
func (r *authRequest) GetAudience() []string  { return r.Audience }
func (r *authRequest) GetAuthTime() time.Time { return r.AuthTime }
func (r *authRequest) GetClientID() string    { return r.ClientID }
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	return &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: oidc.CodeChallengeMethod(r.CodeChallengeMethod)}
}
func (r *authRequest) GetNonce() string                   { return r.Nonce }
func (r *authRequest) GetRedirectURI() string             { return r.RedirectURI }
func (r *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseType(r.ResponseType) }
func (r *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(r.ResponseMode) }
func (r *authRequest) GetScopes() []string                { return r.Scopes }
func (r *authRequest) GetState() string                   { return r.State }
func (r *authRequest) GetSubject() string {
	if r.User == nil {
		return ""
	}
	return r.User.Subject
}
func (r *authRequest) Done() bool { return r.User != nil && r.Consented }

// refreshRequest is the op view of a refresh token being redeemed.
type refreshRequest struct {
	token string
	rt    refreshToken
}

func (r *refreshRequest) GetAMR() []string             { return nil }
func (r *refreshRequest) GetAudience() []string        { return r.rt.Audience }
func (r *refreshRequest) GetAuthTime() time.Time       { return r.rt.AuthTime }
func (r *refreshRequest) GetClientID() string          { return r.rt.ClientID }
func (r *refreshRequest) GetScopes() []string          { return r.rt.Scopes }
func (r *refreshRequest) GetSubject() string           { return r.rt.User.Subject }
func (r *refreshRequest) SetCurrentScopes(sc []string) { r.rt.Scopes = sc }

func (st *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	r := &authRequest{
		ID:                  randomID(),
		ClientID:            req.ClientID,
		RedirectURI:         req.RedirectURI,
		State:               req.State,
		Nonce:               req.Nonce,
		Scopes:              req.Scopes,
		ResponseType:        string(req.ResponseType),
		ResponseMode:        string(req.ResponseMode),
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod),
		Audience:            []string{st.s.cfg.Resource},
		Created:             st.s.now().UTC(),
	}
	if err := st.s.store.putRequest(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (st *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := st.s.store.request(ctx, id)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// AuthRequestByCode consumes the code: a second exchange finds nothing.
func (st *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	id, err := st.s.store.takeCode(ctx, code)
	if err != nil {
		return nil, err
	}
	r, err := st.s.store.request(ctx, id)
	if err != nil {
		return nil, err
	}
	if !r.Done() {
		return nil, errors.New("authorization not complete")
	}
	return r, nil
}

func (st *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return st.s.store.saveCode(ctx, id, code)
}

func (st *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	return st.s.store.deleteRequest(ctx, id)
}

// CreateAccessToken issues nothing to store: access tokens are JWTs
// checked in memory; their id is random.
func (st *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	if r, ok := req.(*authRequest); ok && r.User != nil {
		if err := st.s.store.clientUsed(ctx, r.ClientID, r.User.Subject); err != nil {
			return "", time.Time{}, err
		}
	}
	return randomID(), st.s.now().Add(st.s.cfg.AccessTokenTTL), nil
}

// CreateAccessAndRefreshTokens starts a refresh family at sign-in and
// rotates the token on every refresh: the old one is marked used first, so
// of two redemptions of one token only one gets a successor.
func (st *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	now := st.s.now()
	next := randomID()
	var rt refreshToken
	switch r := req.(type) {
	case *authRequest:
		if r.User == nil {
			return "", "", time.Time{}, errors.New("authorization has no user")
		}
		familyID := randomID()
		ends := now.Add(st.s.cfg.SignInTTL).Unix()
		if err := st.s.store.putFamily(ctx, familyID, family{ClientID: r.ClientID, Subject: r.User.Subject, ExpiresAt: ends}); err != nil {
			return "", "", time.Time{}, err
		}
		rt = refreshToken{Family: familyID, ClientID: r.ClientID, User: *r.User, Scopes: r.Scopes, Audience: r.Audience, AuthTime: r.AuthTime, ExpiresAt: ends, FamilyEnds: ends}
	case *refreshRequest:
		ok, err := st.s.store.useRefresh(ctx, current)
		if err != nil {
			return "", "", time.Time{}, err
		}
		if !ok {
			st.s.reuse(ctx, r.rt)
			return "", "", time.Time{}, op.ErrInvalidRefreshToken
		}
		rt = r.rt
		rt.Used = false
	default:
		return "", "", time.Time{}, fmt.Errorf("unexpected token request %T", req)
	}
	if err := st.s.store.putRefresh(ctx, next, rt); err != nil {
		return "", "", time.Time{}, err
	}
	if err := st.s.store.clientUsed(ctx, rt.ClientID, rt.User.Subject); err != nil {
		return "", "", time.Time{}, err
	}
	return randomID(), next, now.Add(st.s.cfg.AccessTokenTTL), nil
}

// TokenRequestByRefreshToken finds a refresh token. A used one is a replay:
// its whole family is revoked (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
func (st *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	rt, err := st.s.store.refresh(ctx, token)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, op.ErrInvalidRefreshToken
		}
		return nil, err
	}
	if rt.Used {
		st.s.reuse(ctx, rt)
		return nil, op.ErrInvalidRefreshToken
	}
	f, err := st.s.store.family(ctx, rt.Family)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, op.ErrInvalidRefreshToken
		}
		return nil, err
	}
	if f.Revoked != "" {
		return nil, op.ErrInvalidRefreshToken
	}
	c, err := st.s.store.Client(ctx, rt.ClientID)
	if err != nil || c.State != ClientActive {
		return nil, op.ErrInvalidRefreshToken
	}
	if st.s.userDisabled(ctx, rt.User) || rt.AuthTime.Unix() < c.TokensBefore {
		return nil, op.ErrInvalidRefreshToken
	}
	return &refreshRequest{token: token, rt: rt}, nil
}

func (st *storage) TerminateSession(context.Context, string, string) error { return nil }

// RevokeToken revokes a refresh token's family (RFC 7009). Access tokens
// are short-lived JWTs that are not looked up per call, so revoking one is
// accepted and takes effect at its expiry.
func (st *storage) RevokeToken(ctx context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	rt, err := st.s.store.refresh(ctx, tokenOrID)
	if errors.Is(err, ErrNotFound) {
		return nil // RFC 7009 §2.2: an unknown token is not an error
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if rt.ClientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("the token was not issued to this client")
	}
	if err := st.s.store.revokeFamily(ctx, rt.Family, "revoked by the client"); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	st.s.log.InfoContext(ctx, "authz: refresh family revoked by its client", "client_id", clientID, "sub", rt.User.Subject)
	return nil
}

// GetRefreshTokenInfo lets op's revocation endpoint recognise a refresh
// token; the "token id" handed back to RevokeToken is the token itself.
func (st *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	rt, err := st.s.store.refresh(ctx, token)
	if err != nil {
		return "", "", op.ErrInvalidRefreshToken
	}
	if rt.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.User.Subject, token, nil
}

// SigningKey is the key op signs with: not KMS's, but a scratch key no one
// trusts; the token endpoint signs op's tokens again with KMS (attoken.go).
func (st *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return st.s.scratch, nil
}

func (st *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{signing.Algorithm}, nil
}

// publicKey is the op view of a published key.
type publicKey struct{ jwk jose.JSONWebKey }

func (k publicKey) ID() string                         { return k.jwk.KeyID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return signing.Algorithm }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.jwk.Key }

func (st *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	pubs, err := st.s.cfg.Keys.PublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]op.Key, len(pubs))
	for i, p := range pubs {
		keys[i] = publicKey{p}
	}
	return keys, nil
}

func (st *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := st.s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	return &opClient{c: c, s: st.s}, nil
}

// AuthorizeClientIDSecret: every client is public (PKCE, no secret).
func (st *storage) AuthorizeClientIDSecret(context.Context, string, string) error {
	return oidc.ErrInvalidClient().WithDescription("clients of kitegate are public: use PKCE, not a secret")
}

func (st *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (st *storage) SetUserinfoFromToken(context.Context, *oidc.UserInfo, string, string, string) error {
	return errors.New("userinfo is not offered")
}

func (st *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("introspection is not offered")
}

func (st *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, errors.New("claims come from the request")
}

// GetPrivateClaimsFromRequest puts the signed-in user's verified email and
// groups, and the client's registry name, into the access token.
func (st *storage) GetPrivateClaimsFromRequest(ctx context.Context, req op.TokenRequest, _ []string) (map[string]any, error) {
	var u User
	var clientID string
	switch r := req.(type) {
	case *authRequest:
		if r.User == nil {
			return nil, errors.New("authorization has no user")
		}
		u, clientID = *r.User, r.ClientID
	case *refreshRequest:
		u, clientID = r.rt.User, r.rt.ClientID
	default:
		return nil, fmt.Errorf("unexpected token request %T", req)
	}
	claims := map[string]any{}
	if u.Email != "" {
		claims["email"] = u.Email
		claims["email_verified"] = true
	}
	if len(u.Groups) > 0 {
		claims[groupsClaim] = slices.Clone(u.Groups)
	}
	if c, err := st.s.client(ctx, clientID); err == nil && c.Name != "" {
		claims["client_name"] = c.Name
	}
	return claims, nil
}

func (st *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT client authentication is not offered")
}

func (st *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not offered")
}

func (st *storage) Health(context.Context) error { return nil }
