package discovery

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kitegate/kitegate/internal/buildkite"
	"github.com/kitegate/kitegate/internal/policy"
)

// TokenReader is what discovery asks Buildkite about the shared token.
// *buildkite.Client is one.
type TokenReader interface {
	AccessToken(ctx context.Context) (buildkite.AccessToken, error)
	Organizations(ctx context.Context, opt buildkite.ListOptions) ([]buildkite.Organization, buildkite.Pagination, error)
}

var _ TokenReader = (*buildkite.Client)(nil)

// maxOrgPages bounds the organizations listed (100 a page).
const maxOrgPages = 10

// checkToken reads the token's uuid, scopes and expiry and the
// organizations it can see, and says what is wrong with it for this
// catalog. It never fails: a token that cannot be read is a failed health,
// and ok is false (its scopes are unknown).
func checkToken(ctx context.Context, r TokenReader, catalog []policy.Tool, window time.Duration, now time.Time) (h TokenHealth, ok bool) {
	at, err := r.AccessToken(ctx)
	if err != nil {
		return TokenHealth{
			Status:   TokenFailed,
			Problems: []string{"GET /v2/access-token: " + err.Error()},
		}, false
	}
	h = TokenHealth{UUID: at.UUID, Scopes: slices.Sorted(slices.Values(at.Scopes))}
	if at.ExpiresAt != nil {
		h.ExpiresAt = at.ExpiresAt.UTC()
		if h.ExpiresAt.Sub(now) < window {
			h.ExpiringSoon = true
			h.Problems = append(h.Problems, fmt.Sprintf("the token expires at %s, within %s: stage a new one (make rotate-token)", h.ExpiresAt.Format(time.RFC3339), window))
		}
	}

	have := newTokenScopes(at.Scopes)
	needers := map[string][]string{}
	for _, t := range catalog {
		for _, s := range t.Scopes {
			if !have[s] {
				needers[s] = append(needers[s], t.Name)
			}
		}
	}
	h.MissingScopes = sortedNames(needers)
	for _, s := range h.MissingScopes {
		tools := needers[s]
		slices.Sort(tools)
		h.Problems = append(h.Problems, fmt.Sprintf("the token lacks %s, so these tools are unavailable: %s", s, strings.Join(tools, ", ")))
	}

	for page := 1; page <= maxOrgPages; page++ {
		orgs, pg, err := r.Organizations(ctx, buildkite.ListOptions{Page: page, PerPage: 100})
		if err != nil {
			h.Organizations = nil
			h.Problems = append(h.Problems, "GET /v2/organizations: "+err.Error())
			break
		}
		for _, o := range orgs {
			h.Organizations = append(h.Organizations, o.Slug)
		}
		if pg.NextPage == 0 {
			break
		}
	}
	slices.Sort(h.Organizations)

	h.Status = TokenOK
	if len(h.Problems) > 0 {
		h.Status = TokenDegraded
	}
	return h, true
}
