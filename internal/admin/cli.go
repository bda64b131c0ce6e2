package admin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitegate/kitegate/internal/audit"
	"github.com/kitegate/kitegate/internal/authz"
	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/local"
	"github.com/kitegate/kitegate/internal/policy"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/standalone"
	"github.com/kitegate/kitegate/internal/tools"
)

// Env is what the command line runs with.
type Env struct {
	Lookup func(string) (string, bool)
	OSUser func() (string, error)
	Stdin  io.Reader
	Stdout io.Writer
	// AWSOptions adjust the AWS config (tests point it at DynamoDB Local).
	AWSOptions []func(*awsconfig.LoadOptions) error
}

const usage = `usage: kitegate-admin COMMAND [flags]

  policy-apply [-file infra/policy.yaml] [-dry-run] [-force]
                                                      apply the policy file (prints the diff and conflicts first)
  tools                                               list tools with their states
  status [-file infra/policy.yaml]                    token health, last discovery run, policy version, file vs table
  who-can -user SUB|EMAIL [-groups a,b]               the tools a person gets, and the profiles and toolsets why
  approve TOOL [-note TEXT]                           approve a tool
  disable TOOL [-note TEXT]                           disable a tool
  clients                                             list the AI-client registry (gateway mode)
  client-disable CLIENT [-note TEXT]                  kill switch: refuse a client's tokens and sign-ins
  client-enable CLIENT                                undo client-disable
  client-remove CLIENT [-note TEXT]                   remove a pre-registered client (its tokens revoked)
  client-add CLIENT -name NAME -redirects "URI ..."   pre-register a client with a fixed id and redirect URIs
  user-disable USER [-note TEXT]                      kill switch for a person (sub or email): calls denied, refresh tokens revoked
  user-enable USER                                    undo user-disable
  audit (-user SUB | -tool NAME) [-n 20] [-since WHEN] [-until WHEN]
                                                      audit events, newest first (from the table's indexes)
  usage (-user SUB | -tool NAME) [-days 7 | -since WHEN [-until WHEN]]
                                                      daily usage rollups (calls, decisions, outcomes)
  audit-log [-since WHEN] [-until WHEN] [-user SUB] [-tool NAME] [-kind tool_call|policy_change|poison|all] [-n 20]
                                                      print the CloudWatch Logs Insights query over the audit log
  audit-replay [FILE]                                 re-ingest "audit_replay" log lines (stdin without FILE)

WHEN is a date (2026-03-01), a time (2026-03-01T12:00:00Z) or a duration back from now (24h, 7d).
Tables: KITEGATE_POLICY_TABLE, KITEGATE_AUDIT_TABLE, KITEGATE_AUTH_TABLE (clients); the audit log group: KITEGATE_AUDIT_LOG_GROUP
(the AuditLogGroupName output). Changes are recorded as made by KITEGATE_ACTOR, or by the OS user.`

// Run runs one operator command.
func Run(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(env.Stdout)
	file := fs.String("file", "infra/policy.yaml", "policy file (policy-apply)")
	dryRun := fs.Bool("dry-run", false, "print the diff, write nothing (policy-apply)")
	force := fs.Bool("force", false, "apply even over changes made outside the file (policy-apply)")
	note := fs.String("note", "", "note recorded on the tool (approve, disable)")
	user := fs.String("user", "", "audit events of this user (sub)")
	toolName := fs.String("tool", "", "audit events of this tool")
	n := fs.Int("n", 20, "how many audit events")
	since := fs.String("since", "", "audit events from this time on (audit, usage, audit-log)")
	until := fs.String("until", "", "audit events up to this time (audit, usage, audit-log)")
	days := fs.Int("days", 7, "days of usage, today included (usage, without -since)")
	kind := fs.String("kind", "", "tool_call (default), policy_change, poison or all (audit-log)")
	groups := fs.String("groups", "", "comma-separated groups of the person (who-can)")
	name := fs.String("name", "", "the client's name, shown on the consent page (client-add)")
	redirects := fs.String("redirects", "", "space-separated redirect URIs (client-add)")
	// Flags may come before or after the one positional argument.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}

	now := time.Now()
	var r Range
	var err error
	if r.From, err = ParseWhen(*since, now, false); err != nil {
		return fmt.Errorf("-since %w", err)
	}
	if r.To, err = ParseWhen(*until, now, true); err != nil {
		return fmt.Errorf("-until %w", err)
	}
	if cmd == "audit-log" { // prints a query; needs no AWS access
		get := func(k string) string { v, _ := env.Lookup(k); return v }
		group := get("KITEGATE_AUDIT_LOG_GROUP")
		if group == "" {
			group = "<AuditLogGroupName>" // the stack names it; set KITEGATE_AUDIT_LOG_GROUP
		}
		q := LogQuery{LogGroup: group, Range: r, User: *user, Tool: *toolName, Kind: *kind, Limit: *n}
		return q.Print(&Admin{Out: env.Stdout}, now)
	}
	a, db, err := newAdmin(ctx, env, cmd)
	if err != nil {
		return err
	}
	switch cmd {
	case "policy-apply":
		data, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		_, err = a.Apply(ctx, data, *dryRun, *force)
		return err
	case "tools":
		return a.ListTools(ctx)
	case "status":
		data, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		return a.Status(ctx, a.Discovered, data, time.Now())
	case "who-can":
		var gs []string
		for _, g := range strings.Split(*groups, ",") {
			if g = strings.TrimSpace(g); g != "" {
				gs = append(gs, g)
			}
		}
		return a.WhoCan(ctx, *user, gs)
	case "approve", "disable":
		if len(pos) != 1 {
			return fmt.Errorf("%s: name one tool", cmd)
		}
		state := policy.StateApproved
		if cmd == "disable" {
			state = policy.StateDisabled
		}
		return a.SetState(ctx, pos[0], state, *note)
	case "clients":
		return a.ListClients(ctx)
	case "client-add":
		if len(pos) != 1 {
			return errors.New("client-add: name one client id")
		}
		return a.AddClient(ctx, pos[0], *name, strings.Fields(*redirects))
	case "client-remove":
		if len(pos) != 1 {
			return errors.New("client-remove: name one client id")
		}
		return a.RemoveClient(ctx, pos[0], *note)
	case "user-disable", "user-enable":
		if len(pos) != 1 {
			return fmt.Errorf("%s: name one user (their sub or email)", cmd)
		}
		return a.SetUserDisabled(ctx, pos[0], cmd == "user-disable", *note)
	case "client-disable", "client-enable":
		if len(pos) != 1 {
			return fmt.Errorf("%s: name one client (make clients lists them)", cmd)
		}
		return a.SetClientDisabled(ctx, pos[0], cmd == "client-disable", *note)
	case "audit":
		switch {
		case *user != "" && *toolName == "":
			_, err = a.Events(ctx, "user", *user, r, *n)
		case *toolName != "" && *user == "":
			_, err = a.Events(ctx, "tool", *toolName, r, *n)
		default:
			err = errors.New("audit: give -user SUB or -tool NAME (for a time range alone, audit-log prints the Logs Insights query)")
		}
		return err
	case "usage":
		if r.From.IsZero() {
			if *days < 1 {
				return errors.New("usage: -days must be at least 1")
			}
			r.From = now.AddDate(0, 0, 1-*days)
		}
		if r.To.IsZero() {
			r.To = now
		}
		switch {
		case *user != "" && *toolName == "":
			_, err = a.Usage(ctx, "user", *user, r)
		case *toolName != "" && *user == "":
			_, err = a.Usage(ctx, "tool", *toolName, r)
		default:
			err = errors.New("usage: give -user SUB or -tool NAME")
		}
		return err
	case "audit-replay":
		in := env.Stdin
		if len(pos) == 1 && pos[0] != "-" {
			f, err := os.Open(pos[0])
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		w, err := audit.NewDynamoDB(db, a.AuditTable, audit.DynamoDBOptions{Fallback: io.Discard, Now: time.Now})
		if err != nil {
			return err
		}
		st, err := w.Replay(ctx, in)
		fmt.Fprintf(env.Stdout, "read %d lines, %d replay events: %d written, %d already in the table\n", st.Lines, st.Events, st.Written, st.Duplicate)
		return err
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func newAdmin(ctx context.Context, env Env, cmd string) (*Admin, *dynamodb.Client, error) {
	get := func(k string) string { v, _ := env.Lookup(k); return v }
	needPolicy := cmd == "policy-apply" || cmd == "tools" || cmd == "approve" || cmd == "disable" || cmd == "status" || cmd == "who-can" || cmd == "client-disable" || cmd == "client-enable" || cmd == "client-add" || cmd == "client-remove" || cmd == "user-disable" || cmd == "user-enable"
	needAudit := cmd == "audit" || cmd == "audit-replay" || cmd == "usage"
	if cmd == "audit-replay" && get("KITEGATE_AUDIT_TABLE") == "" {
		return nil, nil, errors.New("KITEGATE_AUDIT_TABLE is not set (the AuditTableName output of the stack)")
	}
	if needAudit && get("KITEGATE_AUDIT_TABLE") == "" {
		fmt.Fprintf(env.Stdout, "audit: the local audit file %s (set KITEGATE_AUDIT_TABLE for the stack's table)\n", localAuditFile(get))
	}
	actor, err := Actor(env.Lookup, env.OSUser)
	if err != nil && needPolicy {
		return nil, nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, env.AWSOptions...)
	if err != nil {
		return nil, nil, fmt.Errorf("aws config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg)
	tc, err := tools.Default(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("tool catalog: %w", err)
	}
	catalog := discovery.Catalog(tc)
	// Without a policy table the commands act on the embedded store that
	// `make run` uses (KITEGATE_STATE_DIR, default .local/state).
	var store policy.Store
	var discovered StatusLoader
	if table := get("KITEGATE_POLICY_TABLE"); table != "" {
		store, discovered = policystore.NewDynamoDB(db, table), discovery.NewTableStatus(db, table)
	} else if needPolicy {
		dir := get("KITEGATE_STATE_DIR")
		if dir == "" {
			dir = ".local/state"
		}
		if store, err = (local.Env{}).PolicyStore(ctx, standalone.StoreOptions{Dir: dir, File: get("KITEGATE_POLICY_FILE"), Catalog: tc}); err != nil {
			return nil, nil, err
		}
		discovered = discovery.NewFileStatus(dir)
		fmt.Fprintf(env.Stdout, "policy: the local embedded store in %s (set KITEGATE_POLICY_TABLE for the stack's table)\n", dir)
	}
	var registry ClientRegistry
	if table := get("KITEGATE_AUTH_TABLE"); table != "" {
		registry = authz.NewStore(db, table)
	} else if cmd == "clients" || cmd == "client-add" || cmd == "client-remove" {
		return nil, nil, errors.New("KITEGATE_AUTH_TABLE is not set (the AuthTableName output of the stack)")
	}
	// make clients shows a client past the deployment's idle time as
	// idle; the same variable and default as the authz function.
	idleClose := 90 * 24 * time.Hour
	if v := get("KITEGATE_CLIENT_IDLE_CLOSE"); v != "" {
		if idleClose, err = time.ParseDuration(v); err != nil || idleClose < 0 {
			return nil, nil, fmt.Errorf("KITEGATE_CLIENT_IDLE_CLOSE: %q is not a duration (0 never closes)", v)
		}
	}
	return &Admin{
		Store: store, Discovered: discovered, Catalog: catalog, Actor: actor, Clients: registry, ClientIdleClose: idleClose,
		Audit: db, AuditTable: get("KITEGATE_AUDIT_TABLE"), AuditFile: localAuditFile(get), Rollups: db, Out: env.Stdout,
	}, db, nil
}

// Catalog returns this build's tool catalog as policy tools. Building it
// calls nothing: no tool is run.
func Catalog() ([]policy.Tool, error) {
	c, err := tools.Default(nil)
	if err != nil {
		return nil, fmt.Errorf("tool catalog: %w", err)
	}
	return discovery.Catalog(c), nil
}
