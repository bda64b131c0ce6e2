package tools

import (
	"testing"

	"github.com/kitegate/kitegate/internal/buildkite"
)

// BenchmarkDefaultCatalog is the catalog as a cold start builds it.
func BenchmarkDefaultCatalog(b *testing.B) {
	bk, _ := buildkite.New(buildkite.Config{Tokens: simTokens{}})
	b.ReportAllocs()
	for range b.N {
		if _, err := Default(bk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCatalogReady builds every tool's definition: the work a cold
// start no longer does, spread over first uses.
func BenchmarkCatalogReady(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		cat, err := Default(nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range cat.Tools() {
			if err := t.Ready(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
