package admin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitegate/kitegate/infra"
	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policyfile"
	"github.com/kitegate/kitegate/internal/policy/policystore"
)

type cli struct {
	t   *testing.T
	env map[string]string
	ep  string
}

func (c cli) run(args ...string) (string, error) {
	var out bytes.Buffer
	err := Run(context.Background(), args, Env{
		Lookup: func(k string) (string, bool) { v, ok := c.env[k]; return v, ok },
		OSUser: func() (string, error) { return "os-user", nil },
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		AWSOptions: []func(*awsconfig.LoadOptions) error{
			awsconfig.WithRegion("us-east-1"),
			awsconfig.WithBaseEndpoint(c.ep),
			awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
		},
	})
	return out.String(), err
}

func (c cli) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return out
}

func TestOperatorCommands(t *testing.T) {
	db := dynamotest.Client(t)
	tabs := dynamotest.NewTables(t, db)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, infra.DefaultPolicy, 0o600); err != nil {
		t.Fatal(err)
	}
	c := cli{t: t, ep: dynamotest.Endpoint(t), env: map[string]string{
		"KITEGATE_POLICY_TABLE": tabs.Policy, "KITEGATE_AUDIT_TABLE": tabs.Audit, "KITEGATE_ACTOR": "carol",
	}}
	store := policystore.NewDynamoDB(db, tabs.Policy)

	// Dry run: the whole policy is new, nothing is written.
	out := c.must("policy-apply", "-file", file, "-dry-run")
	if !strings.Contains(out, "+ tool list_builds: state=approved class=read") || !strings.Contains(out, "dry run: nothing written") {
		t.Errorf("dry run output:\n%s", out)
	}
	if p, _ := store.Load(t.Context()); p.Version != 0 {
		t.Fatalf("dry run wrote version %d", p.Version)
	}
	c.must("policy-apply", "-file", file)
	p, err := store.Load(t.Context())
	if err != nil || p.Version != 1 || p.Tools["list_builds"].ChangedBy != "carol"+FileMark {
		t.Fatalf("after apply: v%d %+v %v", p.Version, p.Tools["list_builds"], err)
	}
	// Applying the same file again changes nothing.
	if out := c.must("policy-apply", "-file", file); !strings.Contains(out, "no changes") {
		t.Errorf("second apply:\n%s", out)
	}
	if p, _ := store.Load(t.Context()); p.Version != 1 {
		t.Errorf("second apply wrote: version %d", p.Version)
	}

	// Approve and disable record who did it; a tool not in the file keeps
	// its state across policy-apply.
	c.env["KITEGATE_ACTOR"] = ""
	c.must("approve", "create_build", "-note", "reviewed")
	p, _ = store.Load(t.Context())
	if got := p.Tools["create_build"]; got.State != policy.StateApproved || got.ChangedBy != "os-user" || got.Note != "reviewed" {
		t.Errorf("after approve: %+v", got)
	}
	c.must("disable", "list_builds")
	out = c.must("tools")
	if !strings.Contains(out, "list_builds") || !regexpLine(out, "list_builds", "disabled", "os-user") {
		t.Errorf("tools:\n%s", out)
	}
	// The file wins for the tools it lists; one it does not list keeps
	// the state an operator gave it.
	inFile, err := policyfile.Parse(infra.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	unlisted := ""
	for name := range p.Tools {
		if _, ok := inFile.Tools[name]; !ok && p.Tools[name].State != policy.StateRemoved {
			unlisted = name
			break
		}
	}
	if unlisted != "" {
		c.must("approve", unlisted)
	}
	out = c.must("policy-apply", "-file", file, "-dry-run")
	if !strings.Contains(out, "~ tool list_builds: state=disabled") || !strings.Contains(out, "~ tool create_build: state=approved") ||
		(unlisted != "" && strings.Contains(out, unlisted+":")) {
		t.Errorf("dry run after hand changes (unlisted tool %q):\n%s", unlisted, out)
	}
	if _, err := c.run("approve", "no_such_tool"); err == nil {
		t.Error("approving an unknown tool succeeded")
	}

	// Audit: replay two logged events, then list them by user and by tool.
	var replay bytes.Buffer
	down, err := audit.NewDynamoDB(failingPut{}, tabs.Audit, audit.DynamoDBOptions{Fallback: &replay, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, tool := range []string{"list_builds", "get_build"} {
		e := audit.Event{ID: audit.NewID(), Time: time.Date(2026, 3, 1, 12, i, 0, 0, time.UTC), User: audit.User{Subject: "alice"}, Tool: tool, Decision: audit.Allowed, Reason: "allowed", Outcome: audit.OutcomeOK}
		if err := down.Write(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	replayFile := filepath.Join(t.TempDir(), "replay.log")
	if err := os.WriteFile(replayFile, replay.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := c.must("audit-replay", replayFile); !strings.Contains(out, "2 written, 0 already") {
		t.Errorf("audit-replay: %s", out)
	}
	if out := c.must("audit-replay", replayFile); !strings.Contains(out, "0 written, 2 already") {
		t.Errorf("audit-replay again: %s", out)
	}
	out = c.must("audit", "-user", "alice")
	if i, j := strings.Index(out, "get_build"), strings.Index(out, "list_builds"); i < 0 || j < 0 || i > j {
		t.Errorf("audit -user alice (newest first):\n%s", out)
	}
	if out := c.must("audit", "-tool", "get_build"); strings.Count(out, "alice") != 1 {
		t.Errorf("audit -tool get_build:\n%s", out)
	}
}

func regexpLine(out string, words ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// failingPut stands in for an unreachable table, only to produce replay
// lines; the replay itself runs against DynamoDB Local.
type failingPut struct{}

var _ audit.PutAPI = failingPut{}

func (failingPut) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, errors.New("table unreachable")
}
