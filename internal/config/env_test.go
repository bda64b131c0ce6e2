package config

import (
	"strings"
	"testing"
	"time"
)

func TestEnv(t *testing.T) {
	e := NewEnv(env(map[string]string{
		"A": "  x ", "BLANK": "  ", "D": "90s", "BAD_D": "soon", "NEG_D": "-1s", "N": "7", "BAD_N": "0",
	}))
	if got := e.String("A", "def"); got != "x" {
		t.Errorf("String(A) = %q", got)
	}
	if got := e.String("BLANK", "def"); got != "def" {
		t.Errorf("String(BLANK) = %q, want the default", got)
	}
	if got := e.Duration("D", time.Second); got != 90*time.Second {
		t.Errorf("Duration(D) = %v", got)
	}
	if got := e.Duration("UNSET", time.Second); got != time.Second {
		t.Errorf("Duration(UNSET) = %v", got)
	}
	if e.Err() != nil {
		t.Fatalf("no problem yet, got %v", e.Err())
	}
	e.Duration("BAD_D", 0)
	e.Duration("NEG_D", 0)
	if got := e.Int("N", 1, 1); got != 7 {
		t.Errorf("Int(N) = %d", got)
	}
	e.Int("BAD_N", 1, 1)
	e.Require("MISSING", " on Lambda")
	if e.OnLambda() {
		t.Error("OnLambda without the runtime API")
	}
	err := e.Err()
	for _, want := range []string{"BAD_D", "NEG_D", "BAD_N", "MISSING is required on Lambda"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
