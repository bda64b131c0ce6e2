package stack

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// function is what one of the template's functions is: its package, the
// AWS calls its code makes (IAM action -> the resources it makes them on),
// and the operations its package graph holds that it never makes.
type function struct {
	pkg       string
	grants    map[string][]string
	notCalled map[string]string
}

// Why an operation in a function's package graph is not granted to it.
const (
	policyWrites   = "policy writes (internal/policy/policystore Apply, internal/discovery SaveStatus): make policy-apply, approve, disable and the discovery function"
	policyStatus   = "the status items beside the policy (internal/discovery LoadStatus): written and read by discovery and admin"
	auditProcessor = "internal/audit/auditstream's stream processor (markers and rollups): only the audit function runs it"
	auditRollups   = "usage rollup reads (internal/audit/auditstream rollup.go): make usage-user and usage-tool"
	auditWriter    = "the audit writer's PutItem on the audit table: only the mcp function writes tool-call events"
	rotationSteps  = "rotation steps and staging (internal/secrets rotation.go, stage.go): the rotation function and make rotate-token"
	stagingOnly    = "staging a token (internal/secrets stage.go): make rotate-token"
	rateLimiter    = "the rate limiter (internal/ratelimit): only the mcp function"
	clientRegistry = "listing the AI-client registry (internal/authz Store.Clients): make clients"
	authServer     = "the authorization server (internal/authz, internal/signing: its items, its signing key): only the authz function"
)

// functions maps each function of template.yaml to its calls. A test scans
// each package graph for the operations it can make, so this table cannot
// claim a call the code does not have or miss one it has (TestCodeCalls),
// and the template must grant exactly it (TestTemplateGrants).
var functions = map[string]function{
	"McpFunction": {
		pkg: "./functions/mcp",
		grants: map[string][]string{
			// The token, cached; one Query of the policy partition per
			// policy TTL; one conditional PutItem per audit event; one
			// conditional UpdateItem per rate-limited call.
			"secretsmanager:GetSecretValue": {"!Ref BuildkiteToken"},
			"dynamodb:Query":                {"!GetAtt PolicyTable.Arn"},
			"dynamodb:PutItem":              {"!GetAtt AuditTable.Arn"},
			"dynamodb:UpdateItem":           {"!GetAtt RateLimitTable.Arn"},
		},
		notCalled: map[string]string{
			"secretsmanager:DescribeSecret":           rotationSteps,
			"secretsmanager:PutSecretValue":           rotationSteps,
			"secretsmanager:UpdateSecretVersionStage": rotationSteps,
			"secretsmanager:RotateSecret":             stagingOnly,
		},
	},
	"AuthzFunction": {
		pkg: "./functions/authz",
		grants: map[string][]string{
			// The IdP client secret, read once; the authorization
			// server's own items; the signing key; the policy, read
			// (the consent page's tools); a client closed after going
			// unused, written into the policy (PutItem inside Apply).
			"secretsmanager:GetSecretValue": {"!Ref IdpClientSecret"},
			"dynamodb:GetItem":              {"!GetAtt AuthTable.Arn"},
			"dynamodb:PutItem":              {"!GetAtt AuthTable.Arn", "!GetAtt PolicyTable.Arn"},
			"dynamodb:UpdateItem":           {"!GetAtt AuthTable.Arn"},
			"dynamodb:DeleteItem":           {"!GetAtt AuthTable.Arn"},
			"dynamodb:Query":                {"!GetAtt PolicyTable.Arn"},
			"kms:Sign":                      {"!GetAtt SigningKey.Arn"},
			"kms:GetPublicKey":              {"!GetAtt SigningKey.Arn"},
		},
		notCalled: map[string]string{
			"dynamodb:Scan":                           clientRegistry,
			"secretsmanager:DescribeSecret":           rotationSteps,
			"secretsmanager:PutSecretValue":           rotationSteps,
			"secretsmanager:UpdateSecretVersionStage": rotationSteps,
			"secretsmanager:RotateSecret":             stagingOnly,
		},
	},
	"RotationFunction": {
		pkg: "./functions/rotation",
		grants: map[string][]string{
			"secretsmanager:DescribeSecret":           {"!Ref BuildkiteToken"},
			"secretsmanager:GetSecretValue":           {"!Ref BuildkiteToken"},
			"secretsmanager:PutSecretValue":           {"!Ref BuildkiteToken"},
			"secretsmanager:UpdateSecretVersionStage": {"!Ref BuildkiteToken"},
			// The approved tools' scopes: one Query of the policy partition.
			"dynamodb:Query": {"!GetAtt PolicyTable.Arn"},
		},
		notCalled: map[string]string{
			"secretsmanager:RotateSecret": stagingOnly,
		},
	},
	"DiscoveryFunction": {
		pkg: "./functions/discovery",
		grants: map[string][]string{
			// Query of the POLICY and STATUS partitions; PutItem for the
			// tool and VERSION puts inside Apply's transaction and for the
			// status items.
			"secretsmanager:GetSecretValue": {"!Ref BuildkiteToken"},
			"dynamodb:Query":                {"!GetAtt PolicyTable.Arn"},
			"dynamodb:PutItem":              {"!GetAtt PolicyTable.Arn"},
		},
		notCalled: map[string]string{
			"secretsmanager:DescribeSecret":           rotationSteps,
			"secretsmanager:PutSecretValue":           rotationSteps,
			"secretsmanager:UpdateSecretVersionStage": rotationSteps,
			"secretsmanager:RotateSecret":             stagingOnly,
		},
	},
	"AuditFunction": {
		pkg: "./functions/audit",
		grants: map[string][]string{
			// The processor's markers and rollups on its own items.
			"dynamodb:PutItem":    {"!GetAtt AuditTable.Arn"},
			"dynamodb:UpdateItem": {"!GetAtt AuditTable.Arn"},
			"dynamodb:GetItem":    {"!GetAtt AuditTable.Arn"},
		},
		notCalled: map[string]string{
			"dynamodb:BatchGetItem": auditRollups,
		},
	},
}

// notActions are operations found in code that no function is granted as
// such, for every function.
var notActions = map[string]string{
	// IAM authorizes each item of a transaction as its own action
	// (PutItem, UpdateItem, DeleteItem, ConditionCheckItem); there is no
	// dynamodb:TransactWriteItems action.
	"dynamodb:TransactWriteItems": "authorized per item",
	// internal/tables builds CreateTableInput for tests and DynamoDB Local.
	"dynamodb:CreateTable": "tables are created by CloudFormation",
}

// wildcardResources are the grants allowed on "*": AWS has no resource
// level permission for them.
var wildcardResources = map[string]string{
	"dynamodb:ListStreams": "lists stream ARNs; no resource-level permission",
}

// streamRead are the actions an event source mapping polls a DynamoDB
// stream with, using the function's role.
var streamRead = []string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}

// platformGrants are what Lambda does with a function's role on its behalf:
// poll the streams of its event source mappings and send failed batches to
// their on-failure destinations.
func platformGrants(tm *Template, fn string) []Grant {
	var out []Grant
	for _, m := range tm.Resources("AWS::Lambda::EventSourceMapping") {
		if r, _ := Ref(m.Properties["FunctionName"]); r != fn {
			continue
		}
		src := Describe(m.Properties["EventSourceArn"])
		if strings.HasSuffix(src, ".StreamArn") {
			for _, a := range streamRead {
				out = append(out, Grant{a, src})
			}
			out = append(out, Grant{"dynamodb:ListStreams", "*"})
		}
		if d, ok := Map(Map(m.Properties["DestinationConfig"])["OnFailure"])["Destination"]; ok {
			out = append(out, Grant{"sqs:SendMessage", Describe(d)})
		}
	}
	return out
}

func expectedGrants(tm *Template, fn string) []Grant {
	var out []Grant
	for action, resources := range functions[fn].grants {
		for _, r := range resources {
			out = append(out, Grant{action, r})
		}
	}
	out = append(out, platformGrants(tm, fn)...)
	slices.SortFunc(out, func(a, b Grant) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(out)
}

// checkIAM returns how the template's IAM differs from what the functions
// do: a grant missing, one too many, a wildcard, or a policy it cannot read.
func checkIAM(tm *Template) []string {
	var problems []string
	if got, want := tm.FunctionIDs(), slices.Sorted(maps.Keys(functions)); !slices.Equal(got, want) {
		problems = append(problems, fmt.Sprintf("functions %v, want %v (add the new one to the table in iam_test.go)", got, want))
	}
	for _, fn := range tm.FunctionIDs() {
		if _, ok := functions[fn]; !ok {
			continue
		}
		got, bad := tm.Grants(fn)
		problems = append(problems, bad...)
		want := expectedGrants(tm, fn)
		for _, g := range want {
			if !slices.Contains(got, g) {
				problems = append(problems, fmt.Sprintf("%s lacks %s, which it uses", fn, g))
			}
		}
		for _, g := range got {
			if !slices.Contains(want, g) {
				problems = append(problems, fmt.Sprintf("%s is granted %s, which it does not use", fn, g))
			}
			if strings.Contains(g.Action, "*") {
				problems = append(problems, fmt.Sprintf("%s: wildcard action %s", fn, g.Action))
			}
			if g.Resource == "*" && wildcardResources[g.Action] == "" {
				problems = append(problems, fmt.Sprintf("%s: %s on every resource", fn, g.Action))
			}
		}
		f, _ := tm.Function(fn)
		for name, ev := range Map(f.Properties["Events"]) {
			switch typ := String(Map(ev)["Type"]); typ {
			case "DynamoDB", "Kinesis", "SQS", "MSK", "MQ":
				// SAM attaches an AWS managed policy (Resource "*") for these.
				problems = append(problems, fmt.Sprintf("%s: event %s of type %s: use an AWS::Lambda::EventSourceMapping and grant its reads in Policies", fn, name, typ))
			}
		}
	}
	return problems
}

func loadTemplate(t *testing.T) *Template {
	t.Helper()
	tm, err := Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestCodeCalls keeps the table honest: every operation a function's
// package graph can make is granted, or said not to be made, and nothing
// is granted or excused that the code cannot make.
func TestCodeCalls(t *testing.T) {
	for _, fn := range slices.Sorted(maps.Keys(functions)) {
		spec := functions[fn]
		t.Run(fn, func(t *testing.T) {
			t.Parallel()
			ops := awsOperations(t, spec.pkg)
			for _, op := range slices.Sorted(maps.Keys(ops)) {
				_, granted := spec.grants[op]
				_, excused := spec.notCalled[op]
				switch {
				case granted && excused:
					t.Errorf("%s is both granted and said not to be called", op)
				case !granted && !excused && notActions[op] == "":
					t.Errorf("%s can call %s (%s): grant it in template.yaml and the table in iam_test.go, or say why it is never called", spec.pkg, op, strings.Join(ops[op], ", "))
				}
			}
			for op := range spec.grants {
				if _, ok := ops[op]; !ok {
					t.Errorf("the table grants %s, but no code in %s's graph makes that call", op, spec.pkg)
				}
			}
			for op := range spec.notCalled {
				if _, ok := ops[op]; !ok {
					t.Errorf("the table excuses %s, which %s's graph no longer has: remove it", op, spec.pkg)
				}
			}
		})
	}
}

// TestTemplateGrants: each function's role allows exactly what its code
// calls and what Lambda does for it, on its own resources.
func TestTemplateGrants(t *testing.T) {
	for _, p := range checkIAM(loadTemplate(t)) {
		t.Error(p)
	}
}

// TestTemplateGrantsMutations proves TestTemplateGrants bites: each copy of
// the template with one permission removed, added, widened or moved fails.
func TestTemplateGrantsMutations(t *testing.T) {
	base := loadTemplate(t)
	type mutation struct {
		name   string
		mutate func(raw map[string]any, fn string)
		fn     string
	}
	var muts []mutation
	for _, fn := range base.FunctionIDs() {
		for _, g := range expectedGrants(base, fn) {
			muts = append(muts, mutation{"remove " + g.String(), func(raw map[string]any, fn string) {
				setGrants(raw, fn, func(gs []grantValue) []grantValue {
					return slices.DeleteFunc(gs, func(x grantValue) bool { return x.Grant == g })
				})
			}, fn})
		}
		for _, extra := range []string{"dynamodb:Scan", "dynamodb:DeleteItem", "secretsmanager:DeleteSecret", "dynamodb:*"} {
			muts = append(muts, mutation{"add " + extra, func(raw map[string]any, fn string) {
				setGrants(raw, fn, func(gs []grantValue) []grantValue {
					return append(gs, grantValue{Grant{extra, gs[0].Resource}, gs[0].value})
				})
			}, fn})
		}
		muts = append(muts, mutation{"widen to *", func(raw map[string]any, fn string) {
			setGrants(raw, fn, func(gs []grantValue) []grantValue {
				for i := range gs {
					if gs[i].Resource != "*" {
						gs[i] = grantValue{Grant{gs[i].Action, "*"}, "*"}
						break
					}
				}
				return gs
			})
		}, fn})
		muts = append(muts, mutation{"another resource", func(raw map[string]any, fn string) {
			setGrants(raw, fn, func(gs []grantValue) []grantValue {
				for i := range gs {
					if gs[i].Resource != "*" {
						other := "PolicyTable"
						if strings.Contains(gs[i].Resource, "PolicyTable") {
							other = "RateLimitTable"
						}
						v := map[string]any{"Fn::GetAtt": []any{other, "Arn"}}
						gs[i] = grantValue{Grant{gs[i].Action, Describe(v)}, v}
						break
					}
				}
				return gs
			})
		}, fn})
		muts = append(muts, mutation{"managed policy", func(raw map[string]any, fn string) {
			props := Map(Map(Map(raw["Resources"])[fn])["Properties"])
			props["Policies"] = append(List(props["Policies"]), "AmazonDynamoDBReadOnlyAccess")
		}, fn})
	}
	for _, m := range muts {
		t.Run(m.fn+"/"+m.name, func(t *testing.T) {
			raw := Copy(base.Raw).(map[string]any)
			m.mutate(raw, m.fn)
			tm, err := FromRaw(raw)
			if err != nil {
				t.Fatal(err)
			}
			problems := checkIAM(tm)
			if len(problems) == 0 {
				t.Fatal("the mutated template passed the IAM check")
			}
			for _, p := range problems {
				if !strings.HasPrefix(p, m.fn) {
					t.Errorf("a problem outside %s: %s", m.fn, p)
				}
			}
		})
	}
}

// grantValue is a grant with its resource as written in the template.
type grantValue struct {
	Grant
	value any
}

// setGrants rewrites a function's Policies as one statement per grant,
// after edit has changed the list.
func setGrants(raw map[string]any, fn string, edit func([]grantValue) []grantValue) {
	props := Map(Map(Map(raw["Resources"])[fn])["Properties"])
	var gs []grantValue
	for _, p := range List(props["Policies"]) {
		for _, s := range List(Map(p)["Statement"]) {
			st := Map(s)
			for _, a := range List(st["Action"]) {
				for _, r := range List(st["Resource"]) {
					gs = append(gs, grantValue{Grant{String(a), Describe(r)}, r})
				}
			}
		}
	}
	gs = edit(gs)
	var stmts []any
	for _, g := range gs {
		stmts = append(stmts, map[string]any{"Effect": "Allow", "Action": g.Action, "Resource": g.value})
	}
	props["Policies"] = []any{map[string]any{"Statement": stmts}}
}
