package stack

import (
	"fmt"
	"slices"
	"strings"
)

// Grant is one IAM action allowed on one resource, the resource rendered
// with Describe ("!GetAtt PolicyTable.Arn", "!Ref BuildkiteToken", "*").
type Grant struct {
	Action   string
	Resource string
}

func (g Grant) String() string { return g.Action + " on " + g.Resource }

// Grants are the (action, resource) pairs a function's Policies allow,
// sorted, and what in them cannot be checked: anything but inline Allow
// statements with Action and Resource (a managed policy, a SAM policy
// template, Deny, NotAction, NotResource, a condition).
func (t *Template) Grants(function string) ([]Grant, []string) {
	f, ok := t.Function(function)
	if !ok {
		return nil, []string{fmt.Sprintf("no function %s", function)}
	}
	var grants []Grant
	var problems []string
	for i, p := range List(f.Properties["Policies"]) {
		doc := Map(p)
		stmts, ok := doc["Statement"]
		if !ok || len(doc) != 1 {
			problems = append(problems, fmt.Sprintf("%s: Policies[%d] is %s, not an inline policy document of its own statements", function, i, Describe(p)))
			continue
		}
		g, bad := statementGrants(fmt.Sprintf("%s: Policies[%d]", function, i), stmts)
		grants, problems = append(grants, g...), append(problems, bad...)
	}
	slices.SortFunc(grants, func(a, b Grant) int {
		return strings.Compare(a.String(), b.String())
	})
	return slices.Compact(grants), problems
}

// PolicyGrants are the (action, resource) pairs an AWS::IAM::ManagedPolicy
// of the template allows, sorted, and what in it cannot be checked.
func (t *Template) PolicyGrants(id string) ([]Grant, []string) {
	r, ok := t.Resource(id)
	if !ok || r.Type != "AWS::IAM::ManagedPolicy" {
		return nil, []string{fmt.Sprintf("no managed policy %s", id)}
	}
	grants, problems := statementGrants(id, Map(r.Properties["PolicyDocument"])["Statement"])
	slices.SortFunc(grants, func(a, b Grant) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(grants), problems
}

// statementGrants reads a policy document's statements: only Allow with
// Action and Resource can be checked (a condition only narrows).
func statementGrants(where string, stmts any) ([]Grant, []string) {
	var grants []Grant
	var problems []string
	for j, s := range List(stmts) {
		st := Map(s)
		where := fmt.Sprintf("%s.Statement[%d]", where, j)
		for k := range st {
			switch k {
			case "Effect", "Action", "Resource", "Sid", "Condition": // a condition only narrows
			default:
				problems = append(problems, fmt.Sprintf("%s has %s (not checked)", where, k))
			}
		}
		if String(st["Effect"]) != "Allow" {
			problems = append(problems, fmt.Sprintf("%s: Effect %s, want Allow", where, Describe(st["Effect"])))
			continue
		}
		actions, resources := List(st["Action"]), List(st["Resource"])
		if len(actions) == 0 || len(resources) == 0 {
			problems = append(problems, fmt.Sprintf("%s has no Action or no Resource", where))
		}
		for _, a := range actions {
			action, ok := a.(string)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: action %s is not a string", where, Describe(a)))
				continue
			}
			for _, r := range resources {
				grants = append(grants, Grant{Action: action, Resource: Describe(r)})
			}
		}
	}
	return grants, problems
}

// EnvRecorder is a lookup function (as os.LookupEnv) over a fixed
// environment that records every variable asked for, to learn which
// variables a function's configuration loader reads.
type EnvRecorder struct {
	Env  map[string]string
	read map[string]bool
}

// Lookup answers from Env and records key.
func (r *EnvRecorder) Lookup(key string) (string, bool) {
	if r.read == nil {
		r.read = map[string]bool{}
	}
	r.read[key] = true
	v, ok := r.Env[key]
	return v, ok
}

// Read are the variables looked up so far, sorted.
func (r *EnvRecorder) Read() []string {
	var out []string
	for k := range r.read {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// CheckEnv compares the variables a function's code reads with the
// environment the template gives it: each one read must be set, or be in
// optional (name -> why it may stay unset, such as its default); each one
// set must be read; AWS_* variables are Lambda's own and are not checked.
// It returns the problems found.
func (t *Template) CheckEnv(function string, read []string, optional map[string]string) []string {
	if _, ok := t.Function(function); !ok {
		return []string{fmt.Sprintf("template.yaml has no function %s", function)}
	}
	env := t.Env(function)
	var problems []string
	isRead := map[string]bool{}
	for _, k := range read {
		isRead[k] = true
		if strings.HasPrefix(k, "AWS_") {
			continue
		}
		_, set := env[k]
		why, opt := optional[k]
		switch {
		case set && opt:
			problems = append(problems, fmt.Sprintf("%s: %s is set in the template but listed as optional (%s)", function, k, why))
		case !set && !opt:
			problems = append(problems, fmt.Sprintf("%s: the code reads %s but the template does not set it (set it, or list it as optional with its default)", function, k))
		}
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range env {
			if !yield(k) {
				return
			}
		}
	}) {
		if !isRead[k] {
			problems = append(problems, fmt.Sprintf("%s: the template sets %s but the code never reads it", function, k))
		}
	}
	for k := range optional {
		if !isRead[k] {
			problems = append(problems, fmt.Sprintf("%s: %s is listed as optional but the code never reads it", function, k))
		}
	}
	slices.Sort(problems)
	return problems
}
