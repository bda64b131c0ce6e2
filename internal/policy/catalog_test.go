package policy

// testCatalog is the tool catalog of buildkite-tools.md (54 tools, 38 read).
func testCatalog() []Tool {
	defs := []struct {
		name   string
		class  Class
		scopes []string
	}{
		{"current_user", ClassRead, []string{"read_user"}},
		{"user_token_organization", ClassRead, []string{"read_organizations"}},
		{"access_token", ClassRead, nil},
		{"list_clusters", ClassRead, []string{"read_clusters"}},
		{"get_cluster", ClassRead, []string{"read_clusters"}},
		{"create_cluster", ClassWrite, []string{"write_clusters"}},
		{"update_cluster", ClassDestructive, []string{"write_clusters"}},
		{"list_cluster_queues", ClassRead, []string{"read_clusters"}},
		{"get_cluster_queue", ClassRead, []string{"read_clusters"}},
		{"create_cluster_queue", ClassWrite, []string{"write_clusters"}},
		{"update_cluster_queue", ClassDestructive, []string{"write_clusters"}},
		{"pause_cluster_queue_dispatch", ClassDestructive, []string{"write_clusters"}},
		{"resume_cluster_queue_dispatch", ClassDestructive, []string{"write_clusters"}},
		{"list_agents", ClassRead, []string{"read_agents"}},
		{"get_agent", ClassRead, []string{"read_agents"}},
		{"list_pipelines", ClassRead, []string{"read_pipelines"}},
		{"get_pipeline", ClassRead, []string{"read_pipelines"}},
		{"create_pipeline", ClassWrite, []string{"write_pipelines"}},
		{"update_pipeline", ClassDestructive, []string{"write_pipelines"}},
		{"list_pipeline_schedules", ClassRead, []string{"read_pipelines"}},
		{"get_pipeline_schedule", ClassRead, []string{"read_pipelines"}},
		{"create_pipeline_schedule", ClassWrite, []string{"write_pipelines"}},
		{"update_pipeline_schedule", ClassDestructive, []string{"write_pipelines"}},
		{"list_builds", ClassRead, []string{"read_builds"}},
		{"get_build", ClassRead, []string{"read_builds"}},
		{"get_build_test_engine_runs", ClassRead, []string{"read_builds"}},
		{"wait_for_build", ClassRead, []string{"read_builds"}},
		{"list_step_uploads", ClassRead, []string{"read_builds"}},
		{"get_step_upload", ClassRead, []string{"read_builds"}},
		{"create_build", ClassWrite, []string{"write_builds"}},
		{"cancel_build", ClassDestructive, []string{"write_builds"}},
		{"rebuild_build", ClassDestructive, []string{"write_builds"}},
		{"list_jobs", ClassRead, []string{"read_builds"}},
		{"get_job", ClassRead, []string{"read_builds"}},
		{"unblock_job", ClassDestructive, []string{"write_builds"}},
		{"retry_job", ClassDestructive, []string{"write_builds"}},
		{"get_job_env", ClassSensitive, []string{"read_job_env"}},
		{"list_artifacts_for_build", ClassRead, []string{"read_artifacts"}},
		{"list_artifacts_for_job", ClassRead, []string{"read_artifacts"}},
		{"get_artifact", ClassRead, []string{"read_artifacts"}},
		{"search_logs", ClassRead, []string{"read_build_logs"}},
		{"tail_logs", ClassRead, []string{"read_build_logs"}},
		{"read_logs", ClassRead, []string{"read_build_logs"}},
		{"list_tests", ClassRead, []string{"read_suites"}},
		{"get_test", ClassRead, []string{"read_suites"}},
		{"list_tests_for_build", ClassRead, []string{"read_suites"}},
		{"list_test_runs", ClassRead, []string{"read_suites"}},
		{"get_test_run", ClassRead, []string{"read_suites"}},
		{"get_failed_executions", ClassRead, []string{"read_suites"}},
		{"list_annotations", ClassRead, []string{"read_builds"}},
		{"create_annotation", ClassDestructive, []string{"write_builds"}},
		{"get_build_failure_summary", ClassRead, []string{"read_builds", "read_build_logs", "read_suites"}},
		{"list_skills", ClassRead, nil},
		{"load_skill", ClassRead, nil},
	}
	out := make([]Tool, 0, len(defs))
	for _, d := range defs {
		out = append(out, Tool{Name: d.name, Hash: "h-" + d.name, Class: d.class, Scopes: d.scopes})
	}
	return out
}

// withCatalog gives p the test catalog: each tool's hash, class and
// scopes, and the tools p lacks in state def (a sensitive one pending
// review). It stands in for discovery's reconciliation, which this package
// cannot import, in the tests of Decide over a whole catalog.
func withCatalog(p Policy, def State) Policy {
	p = p.Clone()
	if p.Tools == nil {
		p.Tools = map[string]Tool{}
	}
	for _, c := range testCatalog() {
		t, ok := p.Tools[c.Name]
		if !ok {
			t = Tool{Name: c.Name, State: def}
			if c.Class == ClassSensitive {
				t.State = StatePendingReview
			}
		}
		t.Hash, t.Class, t.Scopes = c.Hash, c.Class, c.Scopes
		p.Tools[c.Name] = t
	}
	return p
}
