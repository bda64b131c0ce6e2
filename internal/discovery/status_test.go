package discovery

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/tables"
)

// The one contract both status stores keep.
func TestStatusStores(t *testing.T) {
	stores := map[string]func(t *testing.T) StatusStore{
		"file": func(t *testing.T) StatusStore { return NewFileStatus(t.TempDir()) },
		"table": func(t *testing.T) StatusStore {
			c := dynamotest.Client(t)
			return NewTableStatus(c, dynamotest.NewTable(t, c, tables.Policy))
		},
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Run("written only when it differs", func(t *testing.T) {
				ctx := t.Context()
				ss := open(t)
				if got, err := ss.LoadStatus(ctx); err != nil || !cmp.Equal(Status{}, got) {
					t.Fatalf("empty store: %+v, %v", got, err)
				}
				st := Status{
					Token: TokenHealth{Status: TokenDegraded, UUID: "u1", Scopes: []string{"read_builds"}, ExpiresAt: t0.Add(48 * time.Hour), ExpiringSoon: true,
						Organizations: []string{"acme"}, MissingScopes: []string{"read_build_logs"}, Problems: []string{"missing scopes"}, Since: t0},
					Discovery: DiscoveryRun{At: t0, PolicyVersion: 3, Added: []string{"a"}, Changed: []string{"b"}, Demoted: []string{"b"},
						Removed: []string{"c"}, Unavailable: []string{"d"}, Restored: []string{"e"}, Token: TokenDegraded},
				}
				if n, err := ss.SaveStatus(ctx, st); err != nil || n != 2 {
					t.Fatalf("first save: %d writes, %v; want 2", n, err)
				}
				got, err := ss.LoadStatus(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(st, got); diff != "" {
					t.Errorf("LoadStatus (-want +got):\n%s", diff)
				}
				if n, err := ss.SaveStatus(ctx, got); err != nil || n != 0 {
					t.Errorf("same status again: %d writes, %v; want 0", n, err)
				}
				got.Token.Status, got.Token.Problems = TokenOK, nil
				if n, err := ss.SaveStatus(ctx, Status{Token: got.Token}); err != nil || n != 1 {
					t.Errorf("new token health: %d writes, %v; want 1", n, err)
				}
				// A zero part is left as stored.
				if again, err := ss.LoadStatus(ctx); err != nil || !cmp.Equal(st.Discovery, again.Discovery) || again.Token.Status != TokenOK {
					t.Errorf("after saving the token health alone: %+v, %v", again, err)
				}
			})
		})
	}
}

// The status items are what docs/tables.md documents.
func TestDynamoDBStatusItemShapes(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := Status{
		Token: TokenHealth{Status: TokenDegraded, UUID: "u1", Scopes: []string{"read_builds"}, ExpiresAt: at.Add(24 * time.Hour), ExpiringSoon: true,
			Organizations: []string{"acme"}, MissingScopes: []string{"read_build_logs"}, Problems: []string{"p"}, Since: at},
		Discovery: DiscoveryRun{At: at, PolicyVersion: 7, Added: []string{"a"}, Demoted: []string{"b"}, Changed: []string{"b"}, Token: TokenDegraded},
	}
	items, err := encodeStatus(st)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for sk, it := range items {
		got[sk] = plain(it)
	}
	want := map[string]map[string]any{
		"TOKEN#health": {"pk": "STATUS", "sk": "TOKEN#health", "status": "degraded", "uuid": "u1", "scopes": []any{"read_builds"},
			"expires_at": "2026-03-02T12:00:00Z", "expiring_soon": true, "organizations": []any{"acme"}, "missing_scopes": []any{"read_build_logs"},
			"problems": []any{"p"}, "since": "2026-03-01T12:00:00Z"},
		"DISCOVERY#last": {"pk": "STATUS", "sk": "DISCOVERY#last", "at": "2026-03-01T12:00:00Z", "policy_version": 7.0, "added": []any{"a"},
			"changed": []any{"b"}, "demoted": []any{"b"}, "token": "degraded"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	back, err := decodeStatus(items)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, back); diff != "" {
		t.Errorf("decode(encode) (-want +got):\n%s", diff)
	}
}
