package policy

import (
	"context"
	"fmt"
	"reflect"
)

// SyncCatalog reconciles the stored policy with catalog (see Reconcile) and
// applies the result when anything differs, so a local server picks up the
// tools of a newer build without losing the states admins set. It reports
// whether it wrote.
func SyncCatalog(ctx context.Context, store Store, catalog []Tool, actor string) (bool, error) {
	p, err := store.Load(ctx)
	if err != nil {
		return false, fmt.Errorf("sync catalog: %w", err)
	}
	r := Reconcile(p, catalog, p.Settings.DefaultState)
	if reflect.DeepEqual(p, r) {
		return false, nil
	}
	if _, err := store.Apply(ctx, r, actor); err != nil {
		return false, fmt.Errorf("sync catalog: %w", err)
	}
	return true, nil
}
