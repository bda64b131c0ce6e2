package buildkite

import "context"

// RevokeAccessToken revokes the token the request is made with
// (DELETE /v2/access-token, 204). Buildkite answers a token that is already
// revoked with 401, which comes back as an *Error of Kind Unauthorized.
func (c *Client) RevokeAccessToken(ctx context.Context) error {
	_, err := c.bk.AccessTokens.Revoke(ctx)
	return mapError(err, "the access token")
}
