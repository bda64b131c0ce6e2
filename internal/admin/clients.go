package admin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kitegate/kitegate/internal/authz"
	"github.com/kitegate/kitegate/internal/policy"
)

// ClientRegistry is the AI-client registry of gateway mode (the
// authorization table), as far as the client commands use it.
type ClientRegistry interface {
	Clients(ctx context.Context) ([]authz.Client, error)
	SetClientState(ctx context.Context, id, state string) (authz.Client, error)
	AddClient(ctx context.Context, c authz.Client) error
	RevokeUser(ctx context.Context, who string) (int, error)
	RemoveClient(ctx context.Context, id string) (authz.Client, error)
}

// SetUserDisabled is the user kill switch, by OIDC sub or email. Disabling
// puts a USER item into the policy (every call of theirs is denied within
// the policy TTL, through the snapshot every call already reads, and they
// cannot sign in or refresh; the change is audited like any policy change)
// and, in gateway mode, revokes all their refresh tokens at once. Enabling
// removes the item; revoked tokens stay revoked.
func (a *Admin) SetUserDisabled(ctx context.Context, who string, disabled bool, note string) error {
	who = strings.TrimSpace(who)
	if who == "" {
		return errors.New("name one user: their sub, or their email")
	}
	if a.Store == nil {
		return errors.New("the user kill switch needs the policy table (KITEGATE_POLICY_TABLE)")
	}
	if strings.Contains(who, "@") {
		who = strings.ToLower(who)
	}
	verb := map[bool]string{true: "disabled", false: "enabled"}[disabled]
	changed := false
	version, err := a.changePolicy(ctx, func(p *policy.Policy) bool {
		cur, listed := p.Users[who]
		if cur.Disabled == disabled {
			return false
		}
		if p.Users == nil {
			p.Users = map[string]policy.User{}
		}
		if disabled {
			p.Users[who] = policy.User{Disabled: true, Note: note, ChangedBy: a.Actor, ChangedAt: time.Now().UTC()}
		} else if listed {
			delete(p.Users, who)
		}
		changed = true
		return true
	})
	if err != nil {
		return err
	}
	if changed {
		fmt.Fprintf(a.Out, "user %s is now %s (policy version %d, by %s)\n", who, verb, version, a.Actor)
	} else {
		fmt.Fprintf(a.Out, "user %s is already %s in the policy\n", who, verb)
	}
	if !disabled {
		return nil
	}
	if a.Clients == nil {
		fmt.Fprintln(a.Out, "KITEGATE_AUTH_TABLE is not set: no refresh tokens revoked (gateway mode keeps them there)")
		return nil
	}
	n, err := a.Clients.RevokeUser(ctx, who)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Out, "revoked %d refresh token families of %s\n", n, who)
	return nil
}

// AddClient declares a pre-registered client: an id the administrator
// chooses, its name and its redirect URIs, for AI clients configured with a
// fixed client id. It goes into the registry, and into the policy as an
// enabled CLIENT item, so the addition is a policy change the audit
// function records (by whom); make client-disable switches it off like any
// other client.
func (a *Admin) AddClient(ctx context.Context, id, name string, redirectURIs []string) error {
	if a.Clients == nil || a.Store == nil {
		return errors.New("client-add: needs KITEGATE_AUTH_TABLE and KITEGATE_POLICY_TABLE (the stack's AuthTableName and PolicyTableName outputs)")
	}
	c, err := authz.Preregistered(id, name, redirectURIs, time.Now())
	if err != nil {
		return fmt.Errorf("client-add: %w", err)
	}
	if err := a.Clients.AddClient(ctx, c); err != nil {
		return fmt.Errorf("client-add %s: %w", id, err)
	}
	note := "pre-registered, redirects to " + strings.Join(redirectURIs, " ")
	if _, err := a.changePolicy(ctx, func(p *policy.Policy) bool {
		p.Clients[id] = policy.Client{Name: name, Note: note, ChangedBy: a.Actor, ChangedAt: time.Now().UTC()}
		return true
	}); err != nil {
		return err
	}
	fmt.Fprintf(a.Out, "client %s (%s) is pre-registered by %s; redirect URIs: %s\n", id, name, a.Actor, strings.Join(redirectURIs, " "))
	return nil
}

// RemoveClient removes a pre-registered client: out of the registry (its
// refresh tokens stop working at once) and, in the policy, its CLIENT item
// becomes a disabled one marked removed (its access tokens stop working
// within the policy TTL; the change is audited as client_removed). make
// client-add may add the id again, with new redirect URIs; the old
// refresh tokens stay dead. A registered or metadata client is disabled
// instead (it could come back by registering or being presented again).
func (a *Admin) RemoveClient(ctx context.Context, id, note string) error {
	if a.Clients == nil || a.Store == nil {
		return errors.New("client-remove: needs KITEGATE_AUTH_TABLE and KITEGATE_POLICY_TABLE (the stack's AuthTableName and PolicyTableName outputs)")
	}
	if id == "" {
		return errors.New("client-remove: name one client (make clients lists them)")
	}
	c, err := a.Clients.RemoveClient(ctx, id)
	if err != nil {
		return fmt.Errorf("client-remove %s: %w", id, err)
	}
	if note == "" {
		note = "removed"
	}
	version, err := a.changePolicy(ctx, func(p *policy.Policy) bool {
		p.Clients[id] = policy.Client{Name: c.Name, Disabled: true, Removed: true, Note: note, ChangedBy: a.Actor, ChangedAt: time.Now().UTC()}
		return true
	})
	if err != nil {
		return fmt.Errorf("client-remove %s: out of the registry, but the policy was not changed (its access tokens work until they expire): %w", id, err)
	}
	fmt.Fprintf(a.Out, "client %s (%s) is removed (policy version %d, by %s); its refresh tokens are revoked\n", id, orDash(c.Name), version, a.Actor)
	return nil
}

// changePolicy applies change to the policy (its clients or users) as the
// administrator and returns the new policy version.
func (a *Admin) changePolicy(ctx context.Context, change func(p *policy.Policy) bool) (int64, error) {
	return policy.Modify(ctx, a.Store, a.Actor, change)
}

// ListClients prints the registry: each client with its software, where it
// redirects, who signed in through it, when, and its state (the policy's
// kill switch included).
func (a *Admin) ListClients(ctx context.Context) error {
	if a.Clients == nil {
		return errors.New("clients: KITEGATE_AUTH_TABLE is not set (the AuthTableName output of the stack)")
	}
	cs, err := a.Clients.Clients(ctx)
	if err != nil {
		return err
	}
	var p policy.Policy
	if a.Store != nil {
		if p, err = a.Store.Load(ctx); err != nil {
			return err
		}
	}
	slices.SortFunc(cs, func(x, y authz.Client) int { return y.Created.Compare(x.Created) })
	tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "CLIENT\tNAME\tSOFTWARE\tSOURCE\tSTATE\tUSERS\tCREATED\tLAST USED\tREDIRECTS TO\n")
	now := time.Now()
	for _, c := range cs {
		state := c.State
		switch pc, ok := p.Clients[c.ID]; {
		case c.State == authz.ClientClosed:
		case ok && pc.Closed:
			state = authz.ClientClosed
		case ok && pc.Disabled:
			state = authz.ClientDisabled
		case authz.Idle(c, a.ClientIdleClose, now):
			state = clientIdle
		}
		software := strings.TrimSpace(c.SoftwareID + " " + c.SoftwareVersion)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", c.ID, orDash(c.Name), orDash(software), c.Source, state,
			len(c.Users), day(c.Created), day(c.LastUsed), strings.Join(redirectHosts(c.RedirectURIs), ","))
	}
	fmt.Fprintf(tw, "(%d clients)\n", len(cs))
	return tw.Flush()
}

// clientIdle is the state make clients shows for an active client unused
// for longer than KITEGATE_CLIENT_IDLE_CLOSE: the authorization server
// closes it (and revokes its refresh tokens) when it is next presented.
const clientIdle = "idle (closes when next presented)"

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func redirectHosts(uris []string) []string {
	var out []string
	for _, u := range uris {
		if p, err := url.Parse(u); err == nil {
			h := p.Scheme + "://" + p.Hostname()
			if !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
	}
	return out
}

// SetClientDisabled is the client kill switch. Disabling marks the client
// disabled in the registry (its refresh tokens and new sign-ins are
// refused at once) and in the policy (its access tokens are refused within
// the policy TTL, through the snapshot every call already reads; the change
// is audited like any policy change). Enabling undoes both (a
// pre-registered client keeps its enabled policy item).
func (a *Admin) SetClientDisabled(ctx context.Context, id string, disabled bool, note string) error {
	if id == "" {
		return errors.New("name one client (make clients lists them)")
	}
	if a.Store == nil {
		return errors.New("the client kill switch needs the policy table (KITEGATE_POLICY_TABLE)")
	}
	state, verb := authz.ClientActive, "enabled"
	if disabled {
		state, verb = authz.ClientDisabled, "disabled"
	}
	var name string
	var preregistered bool
	if a.Clients != nil {
		c, err := a.Clients.SetClientState(ctx, id, state)
		switch {
		case err == nil:
			name, preregistered = c.Name, c.Source == authz.SourcePreregistered
		case errors.Is(err, authz.ErrNotFound):
			fmt.Fprintf(a.Out, "client %s is not in the registry; switching it %s in the policy only\n", id, map[bool]string{true: "off", false: "on"}[disabled])
		default:
			return err
		}
	} else {
		fmt.Fprintln(a.Out, "KITEGATE_AUTH_TABLE is not set: only the policy's kill switch is changed")
	}
	changed := false
	version, err := a.changePolicy(ctx, func(p *policy.Policy) bool {
		cur, listed := p.Clients[id]
		if (disabled && cur.Disabled) || (!disabled && !cur.Disabled) {
			return false
		}
		if disabled {
			p.Clients[id] = policy.Client{Name: name, Disabled: true, Note: note, ChangedBy: a.Actor, ChangedAt: time.Now().UTC()}
		} else if preregistered {
			// A pre-registered client stays listed, enabled.
			cur.Disabled, cur.Closed, cur.Note, cur.ChangedBy, cur.ChangedAt = false, false, "pre-registered, enabled again", a.Actor, time.Now().UTC()
			p.Clients[id] = cur
		} else if listed {
			delete(p.Clients, id)
		}
		changed = true
		return true
	})
	if err != nil {
		return err
	}
	if !changed {
		fmt.Fprintf(a.Out, "client %s is already %s in the policy\n", id, verb)
		return nil
	}
	fmt.Fprintf(a.Out, "client %s (%s) is now %s (policy version %d, by %s)\n", id, orDash(name), verb, version, a.Actor)
	return nil
}
