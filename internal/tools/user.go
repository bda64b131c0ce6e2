package tools

import (
	"context"

	"github.com/kitegate/kitegate/internal/buildkite"
)

type noArgs struct{}

type userOut struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Email     string  `json:"email"`
	CreatedAt *string `json:"created_at,omitempty"`
}

type organizationOut struct {
	Slug      string  `json:"slug"`
	Name      string  `json:"name"`
	ID        string  `json:"id"`
	WebURL    string  `json:"web_url,omitempty"`
	CreatedAt *string `json:"created_at,omitempty"`
}

type accessTokenOut struct {
	UUID        string   `json:"uuid"`
	Scopes      []string `json:"scopes"`
	Description string   `json:"description,omitempty"`
	CreatedAt   *string  `json:"created_at,omitempty"`
	ExpiresAt   *string  `json:"expires_at"`
	User        struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"user"`
}

// userAPI is what the user tools call.
type userAPI interface {
	CurrentUser(ctx context.Context) (buildkite.User, error)
	Organizations(ctx context.Context, opt buildkite.ListOptions) ([]buildkite.Organization, buildkite.Pagination, error)
	AccessToken(ctx context.Context) (buildkite.AccessToken, error)
}

func userTools(bk userAPI) ([]*Tool, error) {
	var d definer
	add(&d, Spec{
		Name:  "current_user",
		Title: "Current Buildkite user",
		Description: "Returns the Buildkite user (id, name, email, created_at) that kitegate's shared API token belongs to. " +
			"Every Buildkite call is made as this one user, whoever asks; it is not the person calling the tool.",
		Area: "user", Kind: Read, Scopes: []string{"read_user"},
	}, func(ctx context.Context, _ noArgs) (userOut, error) {
		u, err := bk.CurrentUser(ctx)
		if err != nil {
			return userOut{}, err
		}
		return userOut{ID: u.ID, Name: u.Name, Email: u.Email, CreatedAt: timestamp(u.CreatedAt)}, nil
	})
	add(&d, Spec{
		Name:  "user_token_organization",
		Title: "Organization of the Buildkite token",
		Description: "Returns the Buildkite organization (slug, name, id, web_url) the shared API token belongs to. " +
			"Call it first when you do not know the org_slug the other tools need.",
		Area: "user", Kind: Read, Scopes: []string{"read_organizations"},
	}, func(ctx context.Context, _ noArgs) (organizationOut, error) {
		orgs, _, err := bk.Organizations(ctx, buildkite.ListOptions{})
		if err != nil {
			return organizationOut{}, err
		}
		if len(orgs) == 0 {
			return organizationOut{}, safeError("the shared Buildkite token can see no organization")
		}
		o := orgs[0]
		return organizationOut{Slug: o.Slug, Name: o.Name, ID: o.ID, WebURL: o.WebURL, CreatedAt: timestamp(o.CreatedAt)}, nil
	})
	add(&d, Spec{
		Name:  "access_token",
		Title: "Buildkite access token details",
		Description: "Describes the shared Buildkite API token kitegate calls with, without revealing it: uuid, scopes, description, " +
			"created_at, expires_at (absent: it never expires) and its user. Use it to explain a forbidden tool (a missing " +
			"scope) or to check expiry.",
		Area: "user", Kind: Read,
	}, func(ctx context.Context, _ noArgs) (accessTokenOut, error) {
		t, err := bk.AccessToken(ctx)
		if err != nil {
			return accessTokenOut{}, err
		}
		out := accessTokenOut{UUID: t.UUID, Scopes: t.Scopes, Description: t.Description,
			CreatedAt: timestamp(t.CreatedAt), ExpiresAt: timestamp(t.ExpiresAt)}
		if out.Scopes == nil {
			out.Scopes = []string{}
		}
		out.User.Name, out.User.Email = t.User.Name, t.User.Email
		return out, nil
	})
	return d.done()
}
