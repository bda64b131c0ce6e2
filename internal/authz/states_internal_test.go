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

func TestRedirectSource(t *testing.T) {
	tests := map[string]string{
		"http://127.0.0.1:43210/callback": "http://127.0.0.1:43210",
		"http://[::1]:8080/cb":            "http://[::1]:8080",
		"https://app.example.com/cb?x=1":  "https://app.example.com",
		"cursor://anysphere.cursor/cb":    "cursor:",
		"com.example.app:/oauth":          "com.example.app:",
		"https://a b/cb":                  "",
		"":                                "",
	}
	for in, want := range tests {
		if got := redirectSource(in); got != want {
			t.Errorf("redirectSource(%q) = %q, want %q", in, got, want)
		}
	}
}
