package authz

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/kitegate/kitegate/internal/tables"
)

// idle says whether an active client has gone unused for longer than the
// deployment allows.
func (s *Server) idle(c Client) bool {
	return Idle(c, s.cfg.ClientIdleClose, s.now())
}

// Idle says whether an active client has gone unused for longer than
// idleClose (0: never) at now: since its last sign-in or refresh, its
// creation, or an administrator's last change of its state, whichever is
// latest. Such a client is closed when it is next presented.
func Idle(c Client, idleClose time.Duration, now time.Time) bool {
	if idleClose <= 0 || c.State != ClientActive {
		return false
	}
	since := c.Created
	for _, t := range []time.Time{c.LastUsed, c.StateChanged} {
		if t.After(since) {
			since = t
		}
	}
	return now.Sub(since) > idleClose
}

// closeIdle closes a client found idle: its state becomes closed and every
// refresh token issued before now stops working (TokensBefore), even if an
// administrator opens it again. Closing happens when the client is next
// presented, which is the only time its tokens could be used.
func (s *Server) closeIdle(ctx context.Context, c Client) error {
	now := s.now().UTC()
	_, err := s.store.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.store.table),
		Key:                      key(kindClient, c.ID),
		UpdateExpression:         aws.String("SET #s = :closed, tokens_before = :now, state_changed = :at"),
		ConditionExpression:      aws.String("attribute_exists(#k) AND #s = :active"),
		ExpressionAttributeNames: map[string]string{"#s": "state", "#k": tables.AuthKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":closed": &types.AttributeValueMemberS{Value: ClientClosed},
			":active": &types.AttributeValueMemberS{Value: ClientActive},
			":now":    &types.AttributeValueMemberN{Value: fmt.Sprint(now.Unix())},
			":at":     &types.AttributeValueMemberS{Value: now.Format(time.RFC3339Nano)},
		},
	})
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		return nil // someone changed its state meanwhile
	}
	if err != nil {
		return fmt.Errorf("close idle client: %w", err)
	}
	s.log.WarnContext(ctx, "authz: client closed after going unused; its refresh tokens are revoked", "client_id", c.ID, "client_name", c.Name, "idle_close", s.cfg.ClientIdleClose)
	if s.cfg.ClientClosed != nil {
		if err := s.cfg.ClientClosed(ctx, c); err != nil {
			s.log.ErrorContext(ctx, "authz: a closed client could not be recorded in the policy (not audited)", "client_id", c.ID, "err", err)
		}
	}
	return nil
}

// allowRule is one entry of the software allow-list.
type allowRule struct{ field, pattern string }

// Fields an allow-list entry may name.
const (
	allowSoftwareID   = "software_id"
	allowName         = "client_name"
	allowMetadataHost = "metadata_host"
)

// parseAllowList reads the software allow-list: entries "field:pattern",
// field one of software_id, client_name (both as the client states them
// about itself) and metadata_host (the host of a Client ID Metadata
// Document's URL, which kitegate fetched it from); pattern a path.Match
// pattern, matched ignoring case.
func parseAllowList(entries []string) ([]allowRule, error) {
	var out []allowRule
	for _, e := range entries {
		field, pattern, ok := strings.Cut(strings.TrimSpace(e), ":")
		pattern = strings.ToLower(strings.TrimSpace(pattern))
		switch {
		case !ok || pattern == "":
			return nil, fmt.Errorf("allow-list entry %q: want field:pattern", e)
		case field != allowSoftwareID && field != allowName && field != allowMetadataHost:
			return nil, fmt.Errorf("allow-list entry %q: the field must be software_id, client_name or metadata_host", e)
		}
		if _, err := path.Match(pattern, ""); err != nil {
			return nil, fmt.Errorf("allow-list entry %q: bad pattern", e)
		}
		out = append(out, allowRule{field, pattern})
	}
	return out, nil
}

// allowed says whether the deployment's allow-list admits a client. No
// list admits every client; a pre-registered client was admitted by an
// administrator and always is.
func (s *Server) allowed(c Client) bool {
	if len(s.allow) == 0 || c.Source == SourcePreregistered {
		return true
	}
	host := ""
	if c.Source == SourceMetadata {
		if u, err := url.Parse(c.ID); err == nil {
			host = u.Hostname()
		}
	}
	for _, r := range s.allow {
		var v string
		switch r.field {
		case allowSoftwareID:
			v = c.SoftwareID
		case allowName:
			v = c.Name
		case allowMetadataHost:
			v = host
		}
		if ok, _ := path.Match(r.pattern, strings.ToLower(v)); ok && v != "" {
			return true
		}
	}
	return false
}

// hostOnlyRefused says, before fetching a metadata document, that no entry
// could admit it: every entry names a metadata host and none matches.
func (s *Server) hostOnlyRefused(id string) bool {
	if len(s.allow) == 0 {
		return false
	}
	u, err := url.Parse(id)
	if err != nil {
		return true
	}
	for _, r := range s.allow {
		if r.field != allowMetadataHost {
			return false
		}
		if ok, _ := path.Match(r.pattern, strings.ToLower(u.Hostname())); ok {
			return false
		}
	}
	return true
}

func errNotAllowed() error {
	return oidc.ErrInvalidClient().WithDescription("this client software is not on this deployment's allow-list; ask an administrator")
}
