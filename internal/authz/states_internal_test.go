package authz

import "testing"

func TestParseAllowList(t *testing.T) {
	good := []string{"software_id:claude-code", " client_name:Cursor* ", "metadata_host:*.example.com"}
	rules, err := parseAllowList(good)
	if err != nil || len(rules) != 3 || rules[1] != (allowRule{allowName, "cursor*"}) {
		t.Errorf("parseAllowList(%q) = %v, %v", good, rules, err)
	}
	for _, bad := range []string{"claude-code", "vendor:x", "software_id:", "client_name:[", ":x"} {
		if _, err := parseAllowList([]string{bad}); err == nil {
			t.Errorf("parseAllowList(%q) accepted it", bad)
		}
	}
}
