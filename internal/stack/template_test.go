package stack

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kitegate/kitegate/internal/metrics"
)

// apiGatewayTimeout is API Gateway's integration timeout: a function behind
// it must finish first.
const apiGatewayTimeout = 30

// checkFunctions: every function is built by the Makefile for SAM
// (BuildMethod makefile, a build-<LogicalId> target building its package),
// runs the Go bootstrap on provided.al2023 arm64 from the repository root,
// logs JSON to a log group of its own with a retention, and has a timeout
// (under API Gateway's for one behind the HTTP API).
func checkFunctions(tm *Template, makefile string) []string {
	var problems []string
	targets := makeTargets(makefile)
	for _, id := range tm.FunctionIDs() {
		f, _ := tm.Function(id)
		p := f.Properties
		bad := func(format string, args ...any) {
			problems = append(problems, id+": "+fmt.Sprintf(format, args...))
		}
		if String(f.Metadata["BuildMethod"]) != "makefile" {
			bad("Metadata.BuildMethod %s, want makefile", Describe(f.Metadata["BuildMethod"]))
		}
		recipe, ok := targets["build-"+id]
		if !ok {
			bad("no build-%s target in the Makefile", id)
		} else if spec, ok := functions[id]; ok && !strings.Contains(recipe, spec.pkg) {
			bad("build-%s does not build %s", id, spec.pkg)
		} else if !strings.Contains(recipe, "$(ARTIFACTS_DIR)/bootstrap") {
			bad("build-%s does not write $(ARTIFACTS_DIR)/bootstrap", id)
		}
		for prop, want := range map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "CodeUri": "."} {
			if p[prop] != want {
				bad("%s %s, want %v", prop, Describe(p[prop]), want)
			}
		}
		if a := List(p["Architectures"]); len(a) != 1 || a[0] != "arm64" {
			bad("Architectures %s, want [arm64]", Describe(p["Architectures"]))
		}
		timeout, ok := p["Timeout"].(int)
		if !ok || timeout <= 0 || timeout > 900 {
			bad("Timeout %s, want 1..900 seconds", Describe(p["Timeout"]))
		}
		for name, ev := range Map(p["Events"]) {
			if String(Map(ev)["Type"]) == "HttpApi" && timeout >= apiGatewayTimeout {
				bad("Timeout %d behind the HTTP API (event %s), want under API Gateway's %d s", timeout, name, apiGatewayTimeout)
			}
		}
		if tm.behindHTTPAPI(id) && timeout >= apiGatewayTimeout {
			bad("Timeout %d behind the HTTP API, want under API Gateway's %d s", timeout, apiGatewayTimeout)
		}
		logging := Map(p["LoggingConfig"])
		if String(logging["LogFormat"]) != "JSON" {
			bad("LoggingConfig.LogFormat %s, want JSON", Describe(logging["LogFormat"]))
		}
		lg, _ := Ref(logging["LogGroup"])
		group, ok := tm.Resource(lg)
		switch {
		case !ok || group.Type != "AWS::Logs::LogGroup":
			bad("LoggingConfig.LogGroup %s is not a log group of the template", Describe(logging["LogGroup"]))
		case group.Properties["RetentionInDays"] == nil:
			bad("log group %s has no RetentionInDays", lg)
		}
	}
	return problems
}

// behindHTTPAPI reports whether an API Gateway v2 integration invokes the
// function (routes declared outside SAM's events).
func (t *Template) behindHTTPAPI(fn string) bool {
	for _, in := range t.Resources("AWS::ApiGatewayV2::Integration") {
		if strings.Contains(Describe(in.Properties["IntegrationUri"]), fn) {
			return true
		}
	}
	return false
}

var target = regexp.MustCompile(`(?m)^([A-Za-z0-9_.%-]+(?:\s+[A-Za-z0-9_.%-]+)*)\s*:([^=]|$)`)

// makeTargets maps each Makefile target to its recipe.
func makeTargets(makefile string) map[string]string {
	out := map[string]string{}
	lines := strings.Split(makefile, "\n")
	for i, line := range lines {
		m := target.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(line, "\t") {
			continue
		}
		var recipe []string
		for _, l := range lines[i+1:] {
			if !strings.HasPrefix(l, "\t") {
				break
			}
			recipe = append(recipe, l)
		}
		for _, name := range strings.Fields(m[1]) {
			out[name] = strings.Join(recipe, "\n")
		}
	}
	return out
}

// checkTables: every table is encrypted, recoverable to a point in time and
// protected from deletion in prod; the policy and audit tables stream their
// changes to the audit function; items with a lifetime have TTL on.
func checkTables(tm *Template) []string {
	var problems []string
	ttl := map[string]bool{"AuditTable": true, "RateLimitTable": true, "AuthTable": true}
	streams := map[string]string{"PolicyTable": "NEW_AND_OLD_IMAGES", "AuditTable": "NEW_IMAGE"}
	tables := tm.Resources("AWS::DynamoDB::Table")
	for _, want := range []string{"PolicyTable", "AuditTable", "RateLimitTable", "AuthTable"} {
		if !slices.ContainsFunc(tables, func(r Resource) bool { return r.ID == want }) {
			problems = append(problems, "no table "+want)
		}
	}
	for _, r := range tables {
		p := r.Properties
		bad := func(format string, args ...any) {
			problems = append(problems, r.ID+": "+fmt.Sprintf(format, args...))
		}
		if Map(p["SSESpecification"])["SSEEnabled"] != true {
			bad("SSESpecification.SSEEnabled is not true")
		}
		if Map(p["PointInTimeRecoverySpecification"])["PointInTimeRecoveryEnabled"] != true {
			bad("PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled is not true")
		}
		if d := Describe(p["DeletionProtectionEnabled"]); d != "!If [IsProd, true, false]" && d != "true" {
			bad("DeletionProtectionEnabled %s, want !If [IsProd, true, false]", d)
		}
		if String(p["BillingMode"]) != "PAY_PER_REQUEST" {
			bad("BillingMode %s, want PAY_PER_REQUEST", Describe(p["BillingMode"]))
		}
		if got, want := String(Map(p["StreamSpecification"])["StreamViewType"]), streams[r.ID]; got != want {
			bad("stream view %q, want %q", got, want)
		}
		if t := Map(p["TimeToLiveSpecification"]); ttl[r.ID] && (t["Enabled"] != true || t["AttributeName"] != "expires_at") {
			bad("no TTL on expires_at")
		}
	}
	// Each stream feeds the audit function through a mapping that reports
	// partial batch failures, retries boundedly, bisects, and sends what
	// still fails to a queue.
	for table := range streams {
		var found bool
		for _, m := range tm.Resources("AWS::Lambda::EventSourceMapping") {
			p := m.Properties
			if Describe(p["EventSourceArn"]) != "!GetAtt "+table+".StreamArn" {
				continue
			}
			found = true
			bad := func(format string, args ...any) {
				problems = append(problems, m.ID+": "+fmt.Sprintf(format, args...))
			}
			if fn, _ := Ref(p["FunctionName"]); fn != "AuditFunction" {
				bad("feeds %s, want AuditFunction", Describe(p["FunctionName"]))
			}
			if !slices.Contains(List(p["FunctionResponseTypes"]), any("ReportBatchItemFailures")) {
				bad("FunctionResponseTypes lacks ReportBatchItemFailures")
			}
			if n, ok := p["MaximumRetryAttempts"].(int); !ok || n < 0 || n > 10 {
				bad("MaximumRetryAttempts %s, want 0..10", Describe(p["MaximumRetryAttempts"]))
			}
			if p["BisectBatchOnFunctionError"] != true {
				bad("BisectBatchOnFunctionError is not true")
			}
			dest, _, _ := GetAtt(Map(Map(p["DestinationConfig"])["OnFailure"])["Destination"])
			if q, ok := tm.Resource(dest); !ok || q.Type != "AWS::SQS::Queue" {
				bad("no SQS on-failure destination")
			}
		}
		if !found {
			problems = append(problems, "no event source mapping for "+table+"'s stream")
		}
	}
	return problems
}

// checkAlarms: errors and throttles of every function, the audit
// fallback (replay) lines, the stream mappings' iterator age and the depth
// of every queue.
func checkAlarms(tm *Template) []string {
	type key struct{ namespace, metric, dimension string }
	have := map[key]bool{}
	for _, a := range tm.Resources("AWS::CloudWatch::Alarm") {
		p := a.Properties
		dims := List(p["Dimensions"])
		if len(dims) == 0 {
			have[key{String(p["Namespace"]), Describe(p["MetricName"]), ""}] = true
		}
		for _, d := range dims {
			have[key{String(p["Namespace"]), Describe(p["MetricName"]), Describe(Map(d)["Value"])}] = true
		}
	}
	var problems []string
	need := func(k key, why string) {
		if !have[k] {
			problems = append(problems, fmt.Sprintf("no alarm on %s %s %s (%s)", k.namespace, k.metric, k.dimension, why))
		}
	}
	for _, fn := range tm.FunctionIDs() {
		need(key{"AWS/Lambda", "Errors", "!Ref " + fn}, "function errors")
		need(key{"AWS/Lambda", "Throttles", "!Ref " + fn}, "function throttles")
	}
	for _, m := range tm.Resources("AWS::Lambda::EventSourceMapping") {
		need(key{"AWS/Lambda", "IteratorAge", Describe(m.Properties["FunctionName"])}, "stream processing falling behind")
	}
	for _, q := range tm.Resources("AWS::SQS::Queue") {
		need(key{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "!GetAtt " + q.ID + ".QueueName"}, "messages in "+q.ID)
	}
	// kitegate's own metrics (EMF, internal/metrics) that page: an audit
	// event logged for replay, Buildkite refusing the token, and the
	// token's health as discovery found it.
	for metric, fn := range map[string]string{
		metrics.AuditReplay:       "McpFunction",
		metrics.Buildkite401:      "McpFunction",
		metrics.TokenFailed:       "DiscoveryFunction",
		metrics.TokenDegraded:     "DiscoveryFunction",
		metrics.TokenExpiringSoon: "DiscoveryFunction",
	} {
		need(key{metrics.Namespace, metric, "!Ref " + fn}, "published by "+fn)
	}
	for _, a := range tm.Resources("AWS::CloudWatch::Alarm") {
		if String(a.Properties["Namespace"]) == metrics.Namespace && !slices.Contains(metrics.Names, String(a.Properties["MetricName"])) {
			problems = append(problems, fmt.Sprintf("alarm %s watches %s, which kitegate does not publish", a.ID, Describe(a.Properties["MetricName"])))
		}
	}
	return problems
}

// checkInterface: the parameters an operator sets and the outputs they
// read, each parameter used.
func checkInterface(tm *Template) []string {
	var problems []string
	params := Map(tm.Raw["Parameters"])
	for _, p := range []string{"Environment", "McpResourceUrl", "OidcIssuer", "OidcAudience", "GroupClaim", "DefaultClassification", "PolicyTtl", "AllowedOrigins", "UseGatewayAuthorizer"} {
		if _, ok := params[p]; !ok {
			problems = append(problems, "no parameter "+p)
		}
	}
	outputs := Map(tm.Raw["Outputs"])
	for _, o := range []string{"McpUrl", "PolicyTableName", "AuditTableName", "RateLimitTableName", "BuildkiteTokenSecretArn"} {
		if _, ok := outputs[o]; !ok {
			problems = append(problems, "no output "+o)
		}
	}
	used := map[string]bool{}
	for _, section := range []string{"Resources", "Conditions", "Outputs"} {
		references(tm.Raw[section], used)
	}
	for name := range params {
		if !used[name] {
			problems = append(problems, "parameter "+name+" is never used")
		}
	}
	return problems
}

// checkAPI: /mcp and the RFC 9728 metadata routes reach the mcp function;
// the gateway's JWT authorizer, when switched on, guards /mcp only, so the
// metadata and the 401 challenge keep working.
func checkAPI(tm *Template) []string {
	var problems []string
	routes := map[string]Resource{}
	for _, r := range tm.Resources("AWS::ApiGatewayV2::Route") {
		routes[String(r.Properties["RouteKey"])] = r
	}
	f, _ := tm.Function("McpFunction")
	for _, ev := range Map(f.Properties["Events"]) {
		p := Map(Map(ev)["Properties"])
		if String(Map(ev)["Type"]) == "HttpApi" {
			routes[String(p["Method"])+" "+String(p["Path"])] = Resource{ID: "event", Properties: p}
		}
	}
	for _, key := range []string{"POST /mcp", "GET /.well-known/oauth-protected-resource", "GET /.well-known/oauth-protected-resource/mcp"} {
		if _, ok := routes[key]; !ok {
			problems = append(problems, "no route "+key)
		}
	}
	for key, r := range routes {
		guarded := strings.Contains(Describe(r.Properties["AuthorizationType"]), "JWT") || r.Properties["Auth"] != nil
		onMcp := strings.HasSuffix(key, " /mcp")
		switch {
		case onMcp && Describe(r.Properties["AuthorizationType"]) != "!If [UseGatewayAuthorizer, JWT, NONE]":
			problems = append(problems, fmt.Sprintf("route %s: AuthorizationType %s, want !If [UseGatewayAuthorizer, JWT, NONE]", key, Describe(r.Properties["AuthorizationType"])))
		case !onMcp && guarded:
			problems = append(problems, fmt.Sprintf("route %s is behind an authorizer: the metadata and the 401 challenge must stay public", key))
		}
	}
	return problems
}

func readMakefile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTemplate(t *testing.T) {
	tm := loadTemplate(t)
	mk := readMakefile(t)
	for name, check := range map[string]func() []string{
		"functions": func() []string { return checkFunctions(tm, mk) },
		"tables":    func() []string { return checkTables(tm) },
		"alarms":    func() []string { return checkAlarms(tm) },
		"interface": func() []string { return checkInterface(tm) },
		"api":       func() []string { return checkAPI(tm) },
		"goformation": func() []string {
			// The typed view agrees on what it can see.
			if n := len(tm.Typed.GetAllServerlessFunctionResources()); n != len(tm.FunctionIDs()) {
				return []string{fmt.Sprintf("goformation sees %d functions, the raw template %d", n, len(tm.FunctionIDs()))}
			}
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			for _, p := range check() {
				t.Error(p)
			}
		})
	}
}

// TestTemplateMutations: each check fails on a copy of the template broken
// in the way it guards against.
func TestTemplateMutations(t *testing.T) {
	base := loadTemplate(t)
	mk := readMakefile(t)
	res := func(raw map[string]any, id string) map[string]any {
		return Map(Map(Map(raw["Resources"])[id])["Properties"])
	}
	all := func(tm *Template) []string {
		var out []string
		out = append(out, checkFunctions(tm, mk)...)
		out = append(out, checkTables(tm)...)
		out = append(out, checkAlarms(tm)...)
		out = append(out, checkInterface(tm)...)
		return append(out, checkAPI(tm)...)
	}
	expectProblems(t, base, []mutant{
		{"mcp timeout at API Gateway's", func(raw map[string]any) { res(raw, "McpFunction")["Timeout"] = 30 }, "under API Gateway's"},
		{"x86_64", func(raw map[string]any) { res(raw, "AuditFunction")["Architectures"] = []any{"x86_64"} }, "Architectures"},
		{"another runtime", func(raw map[string]any) { res(raw, "RotationFunction")["Runtime"] = "provided.al2" }, "Runtime"},
		{"no build method", func(raw map[string]any) {
			delete(Map(Map(raw["Resources"])["DiscoveryFunction"]), "Metadata")
		}, "BuildMethod"},
		{"no log retention", func(raw map[string]any) { delete(res(raw, "AuditLogGroup"), "RetentionInDays") }, "RetentionInDays"},
		{"no PITR", func(raw map[string]any) { delete(res(raw, "PolicyTable"), "PointInTimeRecoverySpecification") }, "PointInTime"},
		{"unprotected in prod", func(raw map[string]any) { res(raw, "AuditTable")["DeletionProtectionEnabled"] = false }, "DeletionProtection"},
		{"no partial batch failures", func(raw map[string]any) { delete(res(raw, "AuditTableStreamMapping"), "FunctionResponseTypes") }, "ReportBatchItemFailures"},
		{"no throttles alarm", func(raw map[string]any) {
			for _, a := range base.Resources("AWS::CloudWatch::Alarm") {
				if a.Properties["MetricName"] == "Throttles" {
					delete(Map(raw["Resources"]), a.ID)
				}
			}
		}, "Throttles"},
		{"no group claim parameter", func(raw map[string]any) { delete(Map(raw["Parameters"]), "GroupClaim") }, "GroupClaim"},
		{"an unused parameter", func(raw map[string]any) { Map(raw["Parameters"])["Spare"] = map[string]any{"Type": "String"} }, "Spare is never used"},
		{"no authorizer option on /mcp", func(raw map[string]any) { res(raw, "McpRoutePost")["AuthorizationType"] = "NONE" }, "UseGatewayAuthorizer"},
		{"no MCP URL output", func(raw map[string]any) { delete(Map(raw["Outputs"]), "McpUrl") }, "McpUrl"},
		{"authorizer on the metadata", func(raw map[string]any) {
			res(raw, "McpRouteResourceMetadata")["AuthorizationType"] = "JWT"
		}, "must stay public"},
	}, all)
	t.Run("no build target", func(t *testing.T) {
		broken := strings.Replace(mk, "build-RotationFunction:", "build-Rotation:", 1)
		if !slices.ContainsFunc(checkFunctions(base, broken), func(p string) bool { return strings.Contains(p, "no build-RotationFunction target") }) {
			t.Error("a missing build target passed")
		}
	})
}

var subVar = regexp.MustCompile(`\$\{([A-Za-z0-9:]+)[.}]`)

// references adds the names v refers to with Ref or inside a Sub to refs.
func references(v any, refs map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		if r, ok := Ref(v); ok {
			refs[r] = true
		}
		if sub, ok := v["Fn::Sub"]; ok {
			for _, m := range subVar.FindAllStringSubmatch(String(List(sub)[0]), -1) {
				refs[m[1]] = true
			}
		}
		for _, e := range v {
			references(e, refs)
		}
	case []any:
		for _, e := range v {
			references(e, refs)
		}
	}
}

// CheckEnv fails when a variable the code reads is not set (nor optional),
// when the template sets one the code does not read, and on stale optionals.
func TestCheckEnv(t *testing.T) {
	base := loadTemplate(t)
	read := []string{"AWS_REGION", "KITEGATE_LOG_LEVEL"}
	for k := range base.Env("RotationFunction") {
		read = append(read, k)
	}
	optional := map[string]string{"KITEGATE_LOG_LEVEL": "default info"}
	if p := base.CheckEnv("RotationFunction", read, optional); len(p) != 0 {
		t.Fatalf("the real template: %v", p)
	}
	for _, tc := range []struct {
		name     string
		read     []string
		optional map[string]string
		want     string
	}{
		{"read but unset", append(slices.Clone(read), "KITEGATE_NEW"), optional, "reads KITEGATE_NEW"},
		{"set but unread", slices.DeleteFunc(slices.Clone(read), func(k string) bool { return k == "KITEGATE_REVOKE_GRACE" }), optional, "sets KITEGATE_REVOKE_GRACE"},
		{"stale optional", read, map[string]string{"KITEGATE_LOG_LEVEL": "x", "KITEGATE_GONE": "x"}, "KITEGATE_GONE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base.CheckEnv("RotationFunction", tc.read, tc.optional)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("problems %q, want one about %s", p, tc.want)
			}
		})
	}
}
