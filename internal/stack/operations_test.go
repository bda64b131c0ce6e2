package stack

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kitegate/kitegate/internal/metrics"
)

// physicalNames are the properties that would give a resource a fixed name
// in the account: two stacks, or a delete and redeploy (a retained log group
// or table, a secret in its recovery window), would collide on it. A name
// that holds the stack name is unique per stack and allowed.
var physicalNames = map[string]string{
	"AWS::DynamoDB::Table":             "TableName",
	"AWS::Logs::LogGroup":              "LogGroupName",
	"AWS::SQS::Queue":                  "QueueName",
	"AWS::SNS::Topic":                  "TopicName",
	"AWS::SecretsManager::Secret":      "Name",
	"AWS::Serverless::Function":        "FunctionName",
	"AWS::Lambda::Function":            "FunctionName",
	"AWS::IAM::Role":                   "RoleName",
	"AWS::IAM::ManagedPolicy":          "ManagedPolicyName",
	"AWS::CloudWatch::Alarm":           "AlarmName",
	"AWS::CloudWatch::Dashboard":       "DashboardName",
	"AWS::ApiGatewayV2::Api":           "Name",
	"AWS::Scheduler::Schedule":         "Name",
	"AWS::KMS::Alias":                  "AliasName",
	"AWS::Logs::MetricFilter":          "FilterName",
	"AWS::Events::Rule":                "Name",
	"AWS::StepFunctions::StateMachine": "StateMachineName",
}

// cloudWatchRetention are the retentions CloudWatch Logs accepts.
var cloudWatchRetention = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// issuers are real IdPs' iss values (each must pass OidcIssuer's pattern)
// and near misses (each must fail it).
var (
	goodIssuers = []string{
		"https://example.okta.com/oauth2/default",
		"https://tenant.eu.auth0.com/", // Auth0's iss ends with a slash
		"https://accounts.google.com",
		"https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
		"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
		"https://sso.example.com:8443/realms/engineering",
	}
	badIssuers = []string{
		"",
		"https://example.okta.com/oauth2/default/", // a stray slash after a path
		"http://example.okta.com/oauth2/default",
		"https://example.okta.com/oauth2/default?x=1",
		"example.okta.com",
		" https://accounts.google.com",
	}
)

// apiURL is how the template writes the API's own MCP URL.
const apiURL = "https://${McpHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/mcp"

// checkOperations: one `sam deploy --guided` gives a working stack, and the
// stack can be run: the MCP URL defaults to the API's own, required
// parameters are validated, no fixed physical names, the audit trail kept
// when the stack goes, every function and the operator policy in the
// outputs, and every alarm notifies the alarm topic.
func checkOperations(tm *Template) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	params := Map(tm.Raw["Parameters"])

	// The resource URL: the API's own unless a custom domain is given.
	if p := Map(params["McpResourceUrl"]); p["Default"] != "" {
		bad("McpResourceUrl: Default %s, want \"\" (the API's own URL), so one deploy works", Describe(p["Default"]))
	}
	f, _ := tm.Function("McpFunction")
	env := Describe(Map(Map(f.Properties["Environment"])["Variables"])["KITEGATE_RESOURCE_URL"])
	if !strings.Contains(env, "HasMcpResourceUrl") || !strings.Contains(env, apiURL) {
		bad("McpFunction: KITEGATE_RESOURCE_URL %s, want !If [HasMcpResourceUrl, !Ref McpResourceUrl, the API's own URL]", env)
	}
	if out := Describe(Map(Map(tm.Raw["Outputs"])["McpUrl"])["Value"]); !strings.Contains(out, "HasMcpResourceUrl") {
		bad("output McpUrl %s, want the URL the function serves (McpResourceUrl or the API's own)", out)
	}

	// Parameters: a required one is validated; every pattern compiles.
	for _, name := range slices.Sorted(maps.Keys(params)) {
		p := Map(params[name])
		_, hasDefault := p["Default"]
		_, pattern := p["AllowedPattern"]
		_, values := p["AllowedValues"]
		if !hasDefault && !pattern && !values {
			bad("parameter %s is required but not validated (AllowedPattern or AllowedValues)", name)
		}
		if pattern {
			re, err := regexp.Compile(String(p["AllowedPattern"]))
			if err != nil {
				bad("parameter %s: AllowedPattern: %v", name, err)
				continue
			}
			if def, ok := p["Default"]; ok && !re.MatchString(fmt.Sprint(def)) {
				bad("parameter %s: the default %q does not match its own AllowedPattern", name, def)
			}
		}
	}
	if re, err := regexp.Compile(String(Map(params["OidcIssuer"])["AllowedPattern"])); err != nil || Map(params["OidcIssuer"])["AllowedPattern"] == nil {
		bad("OidcIssuer has no usable AllowedPattern")
	} else {
		for _, iss := range goodIssuers {
			if !re.MatchString(iss) {
				bad("OidcIssuer's pattern refuses the real issuer %q", iss)
			}
		}
		for _, iss := range badIssuers {
			if re.MatchString(iss) {
				bad("OidcIssuer's pattern accepts %q", iss)
			}
		}
	}

	// No fixed physical names.
	for _, id := range slices.Sorted(maps.Keys(Map(tm.Raw["Resources"]))) {
		r, _ := tm.Resource(id)
		key, ok := physicalNames[r.Type]
		if !ok {
			continue
		}
		if v, named := r.Properties[key]; named && !strings.Contains(Describe(v), "AWS::StackName") {
			bad("%s: %s %s is a fixed name: leave it to CloudFormation (or put the stack name in it)", id, key, Describe(v))
		}
	}

	// The audit trail outlives the stack; its log as long as its items.
	for _, id := range []string{"AuditTable", "AuditLogGroup"} {
		raw := Map(Map(tm.Raw["Resources"])[id])
		for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
			if raw[policy] != "Retain" {
				bad("%s: %s %s, want Retain (the audit trail is kept when the stack is deleted or replaced)", id, policy, Describe(raw[policy]))
			}
		}
	}
	if lg, ok := tm.Resource("AuditLogGroup"); !ok || Describe(lg.Properties["RetentionInDays"]) != "!Ref AuditRetentionDays" {
		bad("AuditLogGroup: RetentionInDays %s, want !Ref AuditRetentionDays (the audit log keeps a call as long as the table)", Describe(lg.Properties["RetentionInDays"]))
	}
	for _, name := range []string{"AuditRetentionDays", "LogRetentionDays"} {
		var allowed []int
		for _, v := range List(Map(params[name])["AllowedValues"]) {
			n, _ := v.(int)
			allowed = append(allowed, n)
		}
		if len(allowed) == 0 {
			bad("parameter %s: no AllowedValues (CloudWatch Logs accepts only %v)", name, cloudWatchRetention)
		}
		for _, n := range allowed {
			if !slices.Contains(cloudWatchRetention, n) {
				bad("parameter %s allows %d, which CloudWatch Logs refuses as a retention", name, n)
			}
		}
	}

	// Outputs: every function, and the operator policy.
	outputs := map[string]string{}
	for name, o := range Map(tm.Raw["Outputs"]) {
		outputs[Describe(Map(o)["Value"])] = name
	}
	for _, fn := range tm.FunctionIDs() {
		if _, ok := outputs["!Ref "+fn]; !ok {
			bad("no output names the function %s", fn)
		}
	}
	if _, ok := outputs["!Ref OperatorPolicy"]; !ok {
		bad("no output names the OperatorPolicy")
	}

	problems = append(problems, checkDashboard(tm)...)

	// Every alarm notifies the topic, going into alarm and back.
	for _, a := range tm.Resources("AWS::CloudWatch::Alarm") {
		for _, k := range []string{"AlarmActions", "OKActions"} {
			if d := Describe(a.Properties[k]); !strings.Contains(d, "AlarmTopicArn") {
				bad("alarm %s: %s %s, want the AlarmTopicArn topic", a.ID, k, d)
			}
		}
	}
	return problems
}

var subPlaceholder = regexp.MustCompile(`\$\{[A-Za-z0-9:.]+\}`)

// checkDashboard: the stack has a dashboard whose body is JSON once
// CloudFormation substitutes it, showing only metrics kitegate publishes,
// and every kitegate metric an alarm watches.
func checkDashboard(tm *Template) []string {
	var problems []string
	dashboards := tm.Resources("AWS::CloudWatch::Dashboard")
	if len(dashboards) != 1 {
		return []string{fmt.Sprintf("%d dashboards, want 1", len(dashboards))}
	}
	body := Map(dashboards[0].Properties["DashboardBody"])["Fn::Sub"]
	text, ok := body.(string)
	if !ok {
		return []string{"Dashboard: DashboardBody is not a !Sub of one string"}
	}
	var doc struct {
		Widgets []struct {
			Properties struct {
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(subPlaceholder.ReplaceAllString(text, "x")), &doc); err != nil {
		return []string{fmt.Sprintf("Dashboard: the body is not JSON: %v", err)}
	}
	shown := map[string]bool{}
	for _, w := range doc.Widgets {
		for _, m := range w.Properties.Metrics {
			if len(m) < 2 {
				continue
			}
			ns, _ := m[0].(string)
			name, _ := m[1].(string)
			if ns == metrics.Namespace {
				shown[name] = true
				if !slices.Contains(metrics.Names, name) {
					problems = append(problems, fmt.Sprintf("Dashboard shows %s, which kitegate does not publish", name))
				}
			}
		}
	}
	for _, a := range tm.Resources("AWS::CloudWatch::Alarm") {
		if name := String(a.Properties["MetricName"]); String(a.Properties["Namespace"]) == metrics.Namespace && !shown[name] {
			problems = append(problems, fmt.Sprintf("Dashboard does not show %s, which alarm %s watches", name, a.ID))
		}
	}
	return problems
}

func TestOperations(t *testing.T) {
	for _, p := range checkOperations(loadTemplate(t)) {
		t.Error(p)
	}
}

// mutant is a copy of the template broken one way, and what a check must
// say about it.
type mutant struct {
	name   string
	mutate func(raw map[string]any)
	want   string
}

// expectProblems runs check on a copy of base broken by each mutant: each
// must give a problem mentioning its want.
func expectProblems(t *testing.T, base *Template, muts []mutant, check func(*Template) []string) {
	t.Helper()
	for _, m := range muts {
		t.Run(m.name, func(t *testing.T) {
			raw := Copy(base.Raw).(map[string]any)
			m.mutate(raw)
			tm, err := FromRaw(raw)
			if err != nil {
				t.Fatal(err)
			}
			problems := check(tm)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, m.want) }) {
				t.Errorf("no problem mentioning %q; got %q", m.want, problems)
			}
		})
	}
}

// TestOperationsMutations: each check fails on a copy of the template broken
// in the way it guards against.
func TestOperationsMutations(t *testing.T) {
	base := loadTemplate(t)
	resource := func(raw map[string]any, id string) map[string]any { return Map(Map(raw["Resources"])[id]) }
	props := func(raw map[string]any, id string) map[string]any { return Map(resource(raw, id)["Properties"]) }
	param := func(raw map[string]any, name string) map[string]any { return Map(Map(raw["Parameters"])[name]) }
	expectProblems(t, base, []mutant{
		{"resource URL required", func(raw map[string]any) { delete(param(raw, "McpResourceUrl"), "Default") }, "McpResourceUrl: Default"},
		{"resource URL not defaulted", func(raw map[string]any) {
			Map(props(raw, "McpFunction")["Environment"])["Variables"].(map[string]any)["KITEGATE_RESOURCE_URL"] = map[string]any{"Ref": "McpResourceUrl"}
		}, "KITEGATE_RESOURCE_URL"},
		{"issuer unvalidated", func(raw map[string]any) { delete(param(raw, "OidcIssuer"), "AllowedPattern") }, "OidcIssuer is required but not validated"},
		{"issuer with any trailing slash", func(raw map[string]any) {
			param(raw, "OidcIssuer")["AllowedPattern"] = `^https://\S+$`
		}, `accepts "https://example.okta.com/oauth2/default/"`},
		{"issuer refusing Auth0", func(raw map[string]any) {
			param(raw, "OidcIssuer")["AllowedPattern"] = `^https://[A-Za-z0-9.-]+(/[^/\s?#]+)*$`
		}, `refuses the real issuer "https://tenant.eu.auth0.com/"`},
		{"a fixed table name", func(raw map[string]any) { props(raw, "PolicyTable")["TableName"] = "kitegate-policy" }, "PolicyTable: TableName"},
		{"a fixed log group name", func(raw map[string]any) { props(raw, "AuditLogGroup")["LogGroupName"] = "/aws/lambda/kitegate-audit" }, "AuditLogGroup: LogGroupName"},
		{"a fixed secret name", func(raw map[string]any) { props(raw, "BuildkiteToken")["Name"] = "kitegate/buildkite-token" }, "BuildkiteToken: Name"},
		{"audit table deleted with the stack", func(raw map[string]any) { delete(resource(raw, "AuditTable"), "DeletionPolicy") }, "AuditTable: DeletionPolicy"},
		{"audit log replaced away", func(raw map[string]any) { resource(raw, "AuditLogGroup")["UpdateReplacePolicy"] = "Delete" }, "AuditLogGroup: UpdateReplacePolicy"},
		{"audit log shorter than the items", func(raw map[string]any) {
			props(raw, "AuditLogGroup")["RetentionInDays"] = map[string]any{"Ref": "LogRetentionDays"}
		}, "AuditLogGroup: RetentionInDays"},
		{"a retention CloudWatch refuses", func(raw map[string]any) {
			param(raw, "AuditRetentionDays")["AllowedValues"] = []any{365, 366}
		}, "allows 366"},
		{"a function not in the outputs", func(raw map[string]any) { delete(Map(raw["Outputs"]), "AuditFunctionName") }, "function AuditFunction"},
		{"no operator policy output", func(raw map[string]any) { delete(Map(raw["Outputs"]), "OperatorPolicyArn") }, "OperatorPolicy"},
		{"no dashboard", func(raw map[string]any) { delete(Map(raw["Resources"]), "Dashboard") }, "0 dashboards"},
		{"a dashboard of an unpublished metric", func(raw map[string]any) {
			b := props(raw, "Dashboard")["DashboardBody"].(map[string]any)
			b["Fn::Sub"] = strings.Replace(b["Fn::Sub"].(string), `"Buildkite403"`, `"Buildkite418"`, 1)
		}, "Buildkite418"},
		{"a dashboard without an alarmed metric", func(raw map[string]any) {
			b := props(raw, "Dashboard")["DashboardBody"].(map[string]any)
			b["Fn::Sub"] = strings.ReplaceAll(b["Fn::Sub"].(string), `"TokenExpiringSoon"`, `"TokenMissingScopes"`)
		}, "does not show TokenExpiringSoon"},
		{"a silent alarm", func(raw map[string]any) { delete(props(raw, "AuditReplayAlarm"), "AlarmActions") }, "AuditReplayAlarm: AlarmActions"},
	}, checkOperations)
}

// operator is what the operator commands (infra/cmd/kitegate-admin) call,
// so the OperatorPolicy grants exactly that: the scan of the command's
// package graph (as for the functions, iam_test.go) keeps it honest.
var operator = struct {
	pkg       string
	grants    map[string][]string
	notCalled map[string]string
	// beyond are grants for what the operator does outside the command:
	// the printed Logs Insights query and the discovery invoke.
	beyond map[string][]string
}{
	pkg: "./infra/cmd/kitegate-admin",
	grants: map[string][]string{
		// The policy partition read whole; a change is one transaction of
		// puts (and deletes, below). Audit events through the indexes.
		"dynamodb:Query": {"!GetAtt PolicyTable.Arn", "!GetAtt AuditTable.Arn", "!Sub ${AuditTable.Arn}/index/*"},
		// Policy changes; a replayed audit event's conditional put.
		"dynamodb:PutItem": {"!GetAtt PolicyTable.Arn", "!GetAtt AuditTable.Arn"},
		// The daily rollups, by key.
		"dynamodb:BatchGetItem": {"!GetAtt AuditTable.Arn"},
		// The AI-client registry (make clients) and its kill switch
		// (make client-disable, client-enable).
		"dynamodb:Scan":       {"!GetAtt AuthTable.Arn"},
		"dynamodb:UpdateItem": {"!GetAtt AuthTable.Arn"},
	},
	notCalled: map[string]string{
		"dynamodb:GetItem":    auditProcessor + "; " + authServer,
		"dynamodb:DeleteItem": authServer,
		"kms:Sign":            authServer,
		"kms:GetPublicKey":    authServer,
	},
	beyond: map[string][]string{
		// A toolset or profile the policy file drops: a Delete inside the
		// change's TransactWriteItems (not a DeleteItemInput of its own).
		"dynamodb:DeleteItem":   {"!GetAtt PolicyTable.Arn"},
		"logs:StartQuery":       {"!GetAtt AuditLogGroup.Arn"},
		"logs:FilterLogEvents":  {"!GetAtt AuditLogGroup.Arn"},
		"logs:GetQueryResults":  {"*"},
		"logs:StopQuery":        {"*"},
		"lambda:InvokeFunction": {"!GetAtt DiscoveryFunction.Arn"},
	},
}

// TestOperatorPolicy: the operator policy allows exactly what the operator
// commands call plus the listed extras, on the stack's own resources.
func TestOperatorPolicy(t *testing.T) {
	ops := awsOperations(t, operator.pkg)
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		_, granted := operator.grants[op]
		_, excused := operator.notCalled[op]
		if !granted && !excused && notActions[op] == "" {
			t.Errorf("%s can call %s (%s): grant it in OperatorPolicy and the table here, or say why it is never called", operator.pkg, op, strings.Join(ops[op], ", "))
		}
	}
	for op := range operator.grants {
		if _, ok := ops[op]; !ok {
			t.Errorf("the table grants %s, which %s's graph does not call", op, operator.pkg)
		}
	}
	var want []Grant
	for _, m := range []map[string][]string{operator.grants, operator.beyond} {
		for action, resources := range m {
			for _, r := range resources {
				want = append(want, Grant{action, r})
			}
		}
	}
	got, problems := loadTemplate(t).PolicyGrants("OperatorPolicy")
	for _, p := range problems {
		t.Error(p)
	}
	for _, g := range want {
		if !slices.Contains(got, g) {
			t.Errorf("OperatorPolicy lacks %s", g)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("OperatorPolicy grants %s, which no operator command needs", g)
		}
	}
}
