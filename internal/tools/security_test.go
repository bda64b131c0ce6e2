package tools_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/kitegate/kitegate/internal/buildkitetest"
	"github.com/kitegate/kitegate/internal/tools"
)

// Finding M1 (variant): an artifact declared application/octet-stream but
// named report.json was fetched and inlined. Content is inlined by its
// declared type only; the file name, which the build chooses, counts for
// nothing, and the store is not even asked.
func TestSecurityM1ArtifactInlinedByDeclaredTypeNotName(t *testing.T) {
	d := buildkitetest.Seed()
	b := d.Build(buildkitetest.SeedOrg, buildkitetest.SeedPipeline, buildkitetest.FailedBuild)
	job := b.Jobs[0]
	for i, c := range []struct{ path, mime string }{
		{"report.json", "application/octet-stream"},
		{"notes.txt", ""},
		{"out.log", "binary/octet-stream"},
	} {
		job.Artifacts = append(job.Artifacts, &buildkitetest.Artifact{
			ID: "01890f3a-0000-4000-8000-0000000000b" + strconv.Itoa(i), Path: c.path, State: "finished",
			MimeType: c.mime, Content: []byte(`{"secret":"looks like text"}`),
		})
	}
	e := newMCP(t, buildkitetest.WithData(d))
	for _, a := range job.Artifacts[len(job.Artifacts)-3:] {
		e.sim.ResetRequests()
		var out artifactItem
		e.ok("get_artifact", args("pipeline_slug", buildkitetest.SeedPipeline, "build_number", strconv.Itoa(buildkitetest.FailedBuild),
			"job_id", job.ID, "artifact_id", a.ID), &out)
		if out.Inline || out.Content != "" || out.Reason != "binary" {
			t.Errorf("%s (%q): inline %v, reason %q, content %q; want not inlined as binary", a.Path, a.MimeType, out.Inline, out.Reason, out.Content)
		}
		for _, r := range e.sim.Requests() {
			if r.ArtifactStore {
				t.Errorf("%s: the store was fetched", a.Path)
			}
		}
	}
}

// Finding L5: argument errors named Go types and struct fields
// ("cannot unmarshal number 9223372036854775808 into Go struct field
// listBuildsArgs.page of type int") and echoed argument names whole.
func TestSecurityL5ArgumentErrorsNameNoGoTypesAndEchoLittle(t *testing.T) {
	e := newMCP(t)
	for name, a := range map[string]map[string]any{
		"page past int64": args("pipeline_slug", buildkitetest.SeedPipeline, "page", json.Number("9223372036854775808")),
		"huge name":       args(strings.Repeat("n", 100_000), 1),
	} {
		res := e.call("list_builds", a)
		text := tools.Text(res)
		if !res.IsError || len(text) > 600 {
			t.Errorf("%s: error %v, %d-byte answer", name, res.IsError, len(text))
		}
		for _, leak := range []string{"Go struct", "listBuildsArgs", "of type int", "json:", "unmarshal"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s: answer %q reveals %q", name, text, leak)
			}
		}
	}
}
