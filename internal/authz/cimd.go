package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/kitegate/kitegate/internal/egress"
)

// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
// adopted by the MCP authorization spec 2025-11-25): a client_id that is an
// https URL names a JSON document of RFC 7591 client metadata, which
// kitegate fetches instead of a registration.
const (
	// MaxMetadataBytes caps a metadata document: 5 KB, the figure the
	// draft suggests. A larger document is refused, not truncated.
	MaxMetadataBytes = 5 << 10
	// A fetched document is trusted for its Cache-Control max-age, held
	// within these bounds (an hour when it gives none).
	metadataMinTTL     = 5 * time.Minute
	metadataMaxTTL     = 24 * time.Hour
	metadataDefaultTTL = time.Hour
	metadataTimeout    = 5 * time.Second
	// A document that failed (unreachable, refused, invalid) is refused
	// again without a fetch for a minute; the most recent failures are
	// kept, a bounded number per instance.
	metadataFailureTTL     = time.Minute
	metadataFailureEntries = 1024
)

// failedDoc is a metadata document's last failure: why, and until when it
// is refused without a fetch.
type failedDoc struct {
	why   string
	until time.Time
}

// MetadataFetcher fetches a client's metadata document. *egress.Client made
// by NewMetadataFetcher is the one kitegate uses.
type MetadataFetcher interface {
	Get(ctx context.Context, rawURL string) (*egress.Response, error)
}

// NewMetadataFetcher returns the egress client for metadata documents: any
// host, but https only and public addresses only (checked when connecting,
// after DNS), no redirects (the draft forbids following them), at most
// MaxMetadataBytes in 5 seconds. Tests pass egress.ResolveForTesting to
// reach a loopback server; production passes nothing.
func NewMetadataFetcher(opts ...egress.Option) (*egress.Client, error) {
	return egress.New(egress.Config{
		AnyPublicHost: true, MaxBytes: MaxMetadataBytes, Timeout: metadataTimeout, MaxRedirects: -1,
	}, opts...)
}

// isMetadataURL says whether a client_id names a metadata document.
func isMetadataURL(id string) bool { return strings.HasPrefix(id, "https://") }

// checkMetadataURL applies the draft's rules for a client identifier URL:
// https, a path other than "/", no dot segments, fragment, user
// information or query.
func checkMetadataURL(id string) error {
	u, err := url.Parse(id)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "":
		return errors.New("it is not an https URL")
	case u.User != nil:
		return errors.New("it carries user information")
	case u.Fragment != "" || strings.Contains(id, "#"):
		return errors.New("it has a fragment")
	case u.RawQuery != "" || strings.Contains(id, "?"):
		return errors.New("it has a query")
	case u.Path == "" || u.Path == "/":
		return errors.New("it has no path")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return errors.New("its path has dot segments")
		}
	}
	return nil
}

// metadataDocument is a client's metadata document: RFC 7591 metadata and
// the client_id it must state.
type metadataDocument struct {
	ClientID string `json:"client_id"`
	registration
}

// metadataClient returns the client a metadata URL names: the registry's
// copy while it is fresh, otherwise the document fetched and validated
// again (and the registry's copy updated). A switched-off client is
// returned as it is, without a fetch.
func (s *Server) metadataClient(ctx context.Context, id string) (Client, error) {
	c, err := s.store.Client(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Client{}, err
	}
	known := err == nil
	if known && (c.State != ClientActive || s.now().Unix() < c.MetadataUntil) {
		return c, nil
	}
	if err := checkMetadataURL(id); err != nil {
		return Client{}, oidc.ErrInvalidClient().WithDescription("client_id %q is not a usable metadata document URL: %v", id, err)
	}
	if s.hostOnlyRefused(id) {
		return Client{}, errNotAllowed()
	}
	if f, ok := s.failedDocs.Get(id); ok && s.now().Before(f.until) {
		return Client{}, oidc.ErrInvalidClient().WithDescription("the client's metadata document %s cannot be used: %s (it failed less than %s ago)", id, f.why, metadataFailureTTL)
	}
	doc, ttl, err := s.fetchMetadata(ctx, id)
	if err != nil {
		s.log.InfoContext(ctx, "authz: client metadata document refused", "client_id", id, "err", err)
		s.failedDocs.Add(id, failedDoc{why: err.Error(), until: s.now().Add(metadataFailureTTL)})
		return Client{}, oidc.ErrInvalidClient().WithDescription("the client's metadata document %s cannot be used: %v", id, err)
	}
	s.failedDocs.Remove(id)
	now := s.now().UTC()
	fresh := Client{
		ID: id, Name: doc.ClientName, URI: doc.ClientURI, SoftwareID: doc.SoftwareID, SoftwareVersion: doc.SoftwareVersion,
		RedirectURIs: doc.RedirectURIs, Source: SourceMetadata, State: ClientActive, Created: now,
		MetadataUntil: now.Add(ttl).Unix(),
	}
	if !known {
		fresh.ExpiresAt = now.Add(unusedClientLifetime).Unix()
	}
	c, err = s.store.putMetadataClient(ctx, fresh, !known)
	if err != nil {
		return Client{}, err
	}
	s.log.InfoContext(ctx, "authz: client metadata document fetched", "client_id", id, "client_name", c.Name, "ttl", ttl)
	return c, nil
}

// fetchMetadata fetches and validates a metadata document, and says how
// long it may be trusted.
func (s *Server) fetchMetadata(ctx context.Context, id string) (metadataDocument, time.Duration, error) {
	var doc metadataDocument
	resp, err := s.cfg.ClientMetadata.Get(ctx, id)
	if errors.Is(err, egress.ErrTooLarge) {
		return doc, 0, fmt.Errorf("it is larger than %d bytes", MaxMetadataBytes)
	}
	if err != nil {
		return doc, 0, err
	}
	if resp.Status != http.StatusOK {
		return doc, 0, fmt.Errorf("it answered HTTP %d, not 200", resp.Status)
	}
	if err := json.Unmarshal(resp.Body, &doc); err != nil {
		return doc, 0, errors.New("it is not a JSON object of client metadata")
	}
	if doc.ClientID != id {
		return doc, 0, fmt.Errorf("its client_id %q is not the URL it was fetched from", clip(doc.ClientID, 200))
	}
	if err := doc.check(); err != nil {
		return doc, 0, err
	}
	return doc, cacheTTL(resp.Header.Get("Cache-Control")), nil
}

// cacheTTL is a document's max-age held within the bounds; no-store and
// no-cache get the least.
func cacheTTL(cc string) time.Duration {
	ttl := metadataDefaultTTL
	for _, d := range strings.Split(cc, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return metadataMinTTL
		case strings.HasPrefix(d, "max-age="):
			if n, err := strconv.Atoi(strings.TrimPrefix(d, "max-age=")); err == nil && n >= 0 {
				ttl = time.Duration(n) * time.Second
			}
		}
	}
	return min(max(ttl, metadataMinTTL), metadataMaxTTL)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
