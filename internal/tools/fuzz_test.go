package tools

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kitegate/kitegate/internal/buildkitetest"
)

// FuzzToolArguments sends arbitrary argument objects to every tool of the
// catalog, running against the simulator: a call may succeed or fail with a
// tool error, but never panics, never returns an invalid result, and never
// lets the token through.
func FuzzToolArguments(f *testing.F) {
	cat, _ := SimCatalog(f)
	tools := cat.Tools()
	for i, args := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"org_slug":"acme"}`,
		`{"org_slug":"acme","pipeline_slug":"web-app","build_number":"37"}`,
		`{"org_slug":"../x","pipeline_slug":"%2F","build_number":"-1"}`,
		`{"org_slug":"acme","per_page":1e309}`, `{"org_slug":"acme","page":-5,"per_page":100000}`,
		`{"org_slug":"acme","tail":99999999}`, `{"org_slug":"acme","detail_level":"everything"}`,
	} {
		f.Add(uint8(i), args)
	}
	f.Fuzz(func(t *testing.T, which uint8, args string) {
		tool := tools[int(which)%len(tools)]
		if tool.Spec().Kind != Read {
			return // writes would pile up state in the simulator; their decoding is the same code
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := tool.Call(ctx, ReadArguments(json.RawMessage(args)))
		if res == nil {
			t.Fatalf("%s(%s): nil result", tool.Name(), args)
		}
		if (err != nil) != res.IsError {
			t.Fatalf("%s(%s): err %v but IsError %v", tool.Name(), args, err, res.IsError)
		}
		var ae *ArgumentError
		if args != "" && !json.Valid([]byte(args)) && !errors.As(err, &ae) {
			t.Fatalf("%s(%s): invalid JSON accepted: %v", tool.Name(), args, err)
		}
		b, _ := json.Marshal(res)
		if strings.Contains(string(b), buildkitetest.DefaultToken) {
			t.Fatalf("%s(%s): token in result", tool.Name(), args)
		}
	})
}
