package lambdatest

import (
	"strings"
	"testing"
)

// The checked-in go.sum must vouch for the pinned emulator, or a clean
// machine cannot build it (-mod=readonly): bump both together.
func TestRIEGoSumPinsTheVersion(t *testing.T) {
	want := RIEModule + " " + RIEVersion + " h1:"
	if !strings.Contains(string(rieGoSum), want) {
		t.Errorf("rie.go.sum has no %q line: regenerate it for %s", want, RIEVersion)
	}
}
