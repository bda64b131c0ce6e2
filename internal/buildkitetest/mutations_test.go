package buildkitetest_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/buildkite/go-buildkite/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/kitegate/kitegate/internal/buildkitetest"
)

func TestRebuild(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	b, err := c.Builds.Rebuild(ctx, "acme", "web-app", strconv.Itoa(buildkitetest.FailedBuild))
	if err != nil {
		t.Fatal(err)
	}
	old := buildkitetest.Seed().Build("acme", "web-app", buildkitetest.FailedBuild)
	if b.Number != buildkitetest.SeedBuildCount+1 || b.State != "scheduled" || b.Commit != old.Commit ||
		b.RebuiltFrom == nil || b.RebuiltFrom.Number != buildkitetest.FailedBuild || b.RebuiltFrom.ID != old.ID {
		t.Errorf("rebuild = %+v (rebuilt_from %+v)", b, b.RebuiltFrom)
	}
}

func TestUnblockJob(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	n := strconv.Itoa(buildkitetest.BlockedBuild)
	gate := buildkitetest.Seed().Build("acme", "web-app", buildkitetest.BlockedBuild).JobByName(":rocket: Deploy to production?")

	j, _, err := c.Jobs.UnblockJob(ctx, "acme", "web-app", n, gate.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != "unblocked" || j.UnblockedBy == nil || j.UnblockedBy.Email != "sam.rivera@acme.example" {
		t.Errorf("unblocked job = %+v", j)
	}
	b, _, err := c.Builds.Get(ctx, "acme", "web-app", n, nil)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, j := range b.Jobs {
		states[j.Type] = j.State
	}
	if b.State != "running" || b.Blocked || states["trigger"] != "scheduled" {
		t.Errorf("after unblock: build %s blocked=%v, job states %v", b.State, b.Blocked, states)
	}

	_, _, err = c.Jobs.UnblockJob(ctx, "acme", "web-app", n, gate.ID, nil)
	if er := errorResponse(t, err); er.Response.StatusCode != 422 {
		t.Errorf("second unblock: %d, want 422", er.Response.StatusCode)
	}
}

func TestRetryJob(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	n := strconv.Itoa(buildkitetest.FailedBuild)
	failed := buildkitetest.Seed().Build("acme", "web-app", buildkitetest.FailedBuild).JobByName(buildkitetest.LongLogJobName)

	j, _, err := c.Jobs.RetryJob(ctx, "acme", "web-app", n, failed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.ID == failed.ID || j.State != "scheduled" || j.RetrySource == nil || j.RetrySource.JobID != failed.ID || j.RetriesCount != 1 {
		t.Errorf("retry = %+v", j)
	}
	b, _, err := c.Builds.Get(ctx, "acme", "web-app", n, &buildkite.BuildGetOptions{BuildsListOptions: buildkite.BuildsListOptions{IncludeRetriedJobs: true}})
	if err != nil {
		t.Fatal(err)
	}
	var rspec2 []string
	for _, bj := range b.Jobs {
		if bj.Name == buildkitetest.LongLogJobName {
			rspec2 = append(rspec2, bj.State+"/"+strconv.FormatBool(bj.Retried))
		}
	}
	if diff := cmp.Diff([]string{"failed/true", "scheduled/false"}, rspec2); diff != "" || b.State != "running" {
		t.Errorf("build %s; RSpec 2/2 attempts (-want +got):\n%s", b.State, diff)
	}
	if _, _, err := c.Jobs.RetryJob(ctx, "acme", "web-app", n, failed.ID); errorResponse(t, err).Response.StatusCode != 422 {
		t.Errorf("retrying a retried job: %v, want 422", err)
	}
}

func TestCreateAnnotation(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		in         buildkite.AnnotationCreate
		wantStatus int
		wantHTML   string
	}{
		{"new", buildkite.AnnotationCreate{Body: "Deploy <b>held</b>", Context: "kitegate", Style: "warning"}, 201, "<p>Deploy &lt;b&gt;held&lt;/b&gt;</p>"},
		{"append", buildkite.AnnotationCreate{Body: "again", Context: "kitegate", Style: "warning", Append: true}, 201, "<p>Deploy &lt;b&gt;held&lt;/b&gt;</p><p>again</p>"},
		{"replace", buildkite.AnnotationCreate{Body: "fresh", Context: "kitegate", Style: "info"}, 201, "<p>fresh</p>"},
		{"empty body", buildkite.AnnotationCreate{Context: "x"}, 422, ""},
		{"bad style", buildkite.AnnotationCreate{Body: "x", Style: "purple"}, 422, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, resp, err := c.Annotations.Create(ctx, "acme", "web-app", "35", tt.in)
			if tt.wantStatus != 201 {
				if er := errorResponse(t, err); er.Response.StatusCode != tt.wantStatus {
					t.Errorf("status %d, want %d", er.Response.StatusCode, tt.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 201 || a.BodyHTML != tt.wantHTML {
				t.Errorf("got %d %q, want 201 %q", resp.StatusCode, a.BodyHTML, tt.wantHTML)
			}
		})
	}
	anns, _, err := c.Annotations.ListByBuild(ctx, "acme", "web-app", "35", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(anns) != 2 {
		t.Errorf("build 35 has %d annotations, want the seeded one plus kitegate's", len(anns))
	}
}
