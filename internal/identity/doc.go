// Package identity answers "who is calling the MCP server?".
//
// An [Authenticator] turns the bearer token of an HTTP request into a
// verified [Caller]; [Middleware] runs it on every request, puts the Caller in
// the request context ([FromContext]) and answers failures with 401 and an
// RFC 9728 WWW-Authenticate challenge pointing at the metadata served by
// [ProtectedResourceMetadata].
//
// Two authenticators exist. [OIDC] verifies JWT access tokens from an OpenID
// Connect provider; [Dev] is the local-mode identity from a token file.
//
// # Why go-oidc, with our own key set
//
// Token verification is done by github.com/coreos/go-oidc/v3: its verifier
// enforces the algorithm allow-list while parsing (go-jose refuses any other
// "alg", so "none" and the HS256 key-confusion attack never reach a key),
// accepts exactly one signature, and checks iss, aud (a string or an array
// that must contain our resource URL) and exp. It is written for ID tokens, so
// this package adds what an access-token resource server needs on top:
//   - exp is checked with a configurable leeway (go-oidc has none), by handing
//     the verifier a clock that runs Leeway behind;
//   - nbf is checked with that same leeway (go-oidc hard-codes 5 minutes);
//   - the "typ" header, when present, must be JWT or at+jwt (RFC 9068), so
//     logout tokens, DPoP proofs and other signed JWTs are not accepted; with
//     TokenType at+jwt (kitegate's own tokens, and IdPs that follow RFC 9068)
//     it must be at+jwt;
//   - a token carrying what only ID tokens carry (nonce, at_hash, c_hash,
//     Cognito's token_use "id", Keycloak's typ claim "ID") is refused: an ID
//     token is for its client, even when its aud names this resource;
//   - sub must be present, and email is dropped when email_verified is false.
//
// iat is not checked (exp bounds a token's life) and aud is compared exactly,
// as RFC 9728 §3.3 asks: configure Audience as the provider writes it.
//
// go-oidc's RemoteKeySet is not used: it refetches the JWKS on every unknown
// kid and on every bad signature without any rate limit (a free amplifier
// against the identity provider) and reads the response without a size
// limit; oidc.NewProvider would also put discovery on the cold start. Our
// keySet implements the same
// oidc.KeySet interface with go-jose's key parsing, fetches lazily (and does
// the OpenID discovery lazily too, so a cold start makes no network call),
// caps the body, refetches on an unknown kid at most once a minute, and
// refreshes keys older than an hour so a key the provider withdrew stops
// being trusted.
package identity
