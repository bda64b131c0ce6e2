package buildkite

import (
	"context"

	gobuildkite "github.com/buildkite/go-buildkite/v4"
)

// CurrentUser is the user the token belongs to (GET /v2/user).
func (c *Client) CurrentUser(ctx context.Context) (User, error) {
	u, _, err := c.bk.User.CurrentUser(ctx)
	return u, mapError(err, "the current user")
}

// Organizations lists the organizations the token can see
// (GET /v2/organizations).
func (c *Client) Organizations(ctx context.Context, opt ListOptions) ([]Organization, Pagination, error) {
	lo, err := opt.check()
	if err != nil {
		return nil, Pagination{}, err
	}
	orgs, resp, err := c.bk.Organizations.List(ctx, &gobuildkite.OrganizationListOptions{ListOptions: lo})
	if err != nil {
		return nil, Pagination{}, mapError(err, "the organizations list")
	}
	return orgs, pagination(resp), nil
}

// AccessToken describes the token itself (GET /v2/access-token): its uuid,
// scopes, description, creation and expiry, and user. Never the token value.
func (c *Client) AccessToken(ctx context.Context) (AccessToken, error) {
	t, _, err := c.bk.AccessTokens.Get(ctx)
	return t, mapError(err, "the access token")
}
