// Command run-aws runs kitegate's AWS code path on one machine (make
// run-aws): beside DynamoDB Local (infra/local/dynamodb.sh starts it), it
// creates the policy, audit and rate-limit tables from internal/tables,
// seeds the policy (discovery, then policy-apply of infra/policy.yaml), runs
// the mcp function on those tables, and feeds both tables' streams to the
// audit function the way Lambda's event source mappings do. Discovery,
// rate limits, the audit log lines and the usage rollups then work as in
// AWS; the audit log lines also go to the local audit file, so `make
// audit-user` and `make usage-user` read them after it stops.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/kitegate/kitegate/internal/admin"
	"github.com/kitegate/kitegate/internal/authz/authztest"
	"github.com/kitegate/kitegate/internal/discovery"
	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/policy/policystore"
	"github.com/kitegate/kitegate/internal/tables"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		slog.Error("run-aws: exiting", "err", err)
		os.Exit(1)
	}
}

// Names of the local tables (DynamoDB Local runs in memory: they go with it).
const (
	policyTable    = "kitegate-local-policy"
	auditTable     = "kitegate-local-audit"
	rateLimitTable = "kitegate-local-ratelimit"
	authTable      = "kitegate-local-auth"
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run-aws", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "the mcp function's listen address")
	auditFile := fs.String("audit-file", ".local/audit.jsonl", "the local audit file the audit log lines are appended to")
	policyFile := fs.String("policy", "infra/policy.yaml", "the policy file applied at start")
	bin := fs.String("bin", ".local/run-aws", "where the function binaries are built")
	ldflags := fs.String("ldflags", "", "linker flags of the function binaries (the Makefile's, with the version)")
	withSignin := fs.Bool("signin", false, "gateway mode (make run-signin): kitegate as the authorization server, local-kms, and a dev IdP whose users are those of -dev-tokens")
	devTokens := fs.String("dev-tokens", os.Getenv("KITEGATE_DEV_TOKENS"), "with -signin: the dev token file whose users can sign in (default alice and bob)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Ending run, for any reason, stops the functions it started.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	endpoint := os.Getenv(dynamotest.EndpointEnv)
	if endpoint == "" {
		return fmt.Errorf("%s is not set: run it through infra/local/dynamodb.sh (make run-aws does)", dynamotest.EndpointEnv)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cfg := dynamotest.Config(endpoint, nil)
	db := dynamodb.NewFromConfig(cfg)

	for _, def := range []*dynamodb.CreateTableInput{tables.Policy(policyTable), tables.Audit(auditTable), tables.RateLimit(rateLimitTable), tables.Auth(authTable)} {
		if err := createTable(ctx, db, def); err != nil {
			return err
		}
	}
	logger.Info("run-aws: tables created in DynamoDB Local", "endpoint", endpoint, "policy", policyTable, "audit", auditTable, "ratelimit", rateLimitTable)

	if err := os.MkdirAll(*bin, 0o750); err != nil {
		return err
	}
	fns := []string{"mcp", "discovery", "audit"}
	if *withSignin {
		fns = append(fns, "authz")
	}
	for _, fn := range fns {
		// Local builds: the bundled Buildkite simulator stands in for
		// Buildkite (no token here).
		build := exec.CommandContext(ctx, "go", "build", "-tags", "local", "-ldflags="+*ldflags, "-o", filepath.Join(*bin, fn), "./functions/"+fn)
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build %s: %w", fn, err)
		}
	}
	env := append(os.Environ(),
		"AWS_ENDPOINT_URL_DYNAMODB="+endpoint, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"KITEGATE_POLICY_TABLE="+policyTable, "KITEGATE_AUDIT_TABLE="+auditTable,
	)

	// Seed: discovery puts the catalog in and checks the token (the
	// bundled simulator's), then the policy file is applied.
	disc := exec.CommandContext(ctx, filepath.Join(*bin, "discovery"))
	disc.Env, disc.Stdout, disc.Stderr = env, io.Discard, stderr
	if err := disc.Run(); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	file, err := os.ReadFile(*policyFile)
	if err != nil {
		return err
	}
	catalog, err := admin.Catalog()
	if err != nil {
		return err
	}
	var plan bytes.Buffer
	a := &admin.Admin{Store: policystore.NewDynamoDB(db, policyTable), Discovered: discovery.NewTableStatus(db, policyTable), Catalog: catalog, Actor: "run-aws", Out: &plan}
	if _, err := a.Apply(ctx, file, false, true); err != nil {
		return fmt.Errorf("policy-apply %s: %w\n%s", *policyFile, err, plan.String())
	}
	logger.Info("run-aws: policy seeded: discovery ran, then policy-apply", "file", *policyFile)

	// The streams, read as Lambda's event source mappings read them.
	streams := dynamodbstreams.NewFromConfig(cfg)
	var pumps []*pump
	for _, table := range []string{auditTable, policyTable} {
		s, err := dynamotest.OpenStream(ctx, db, streams, table)
		if err != nil {
			return err
		}
		pumps = append(pumps, &pump{stream: s, table: table})
	}
	if err := os.MkdirAll(filepath.Dir(*auditFile), 0o750); err != nil {
		return err
	}
	log, err := os.OpenFile(*auditFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer log.Close()

	// Each function runs as its own process; with -signin, the authz
	// function beside the mcp function, both behind one origin on addr
	// routed as API Gateway routes them.
	done := make(chan error, 2)
	started := 0
	mcpEnv := slices.Concat(env, []string{"KITEGATE_ADDR=" + *addr, "KITEGATE_RATE_LIMIT_TABLE=" + rateLimitTable})
	if *withSignin {
		gateway, err := signin(ctx, *addr, *devTokens, stderr)
		if err != nil {
			return err
		}
		mcpAddr, authzAddr := freeAddr(), freeAddr()
		if mcpAddr == "" || authzAddr == "" {
			return errors.New("no free loopback port for the functions")
		}
		resource := "KITEGATE_RESOURCE_URL=http://" + *addr + "/mcp"
		mcpEnv = slices.Concat(env, []string{"KITEGATE_ADDR=" + mcpAddr, "KITEGATE_RATE_LIMIT_TABLE=" + rateLimitTable, resource, "KITEGATE_AUTH_MODE=gateway"})
		authzEnv := slices.Concat(env, []string{"KITEGATE_ADDR=" + authzAddr, resource}, gateway)
		if err := startFunction(ctx, filepath.Join(*bin, "authz"), authzEnv, stdout, stderr, done); err != nil {
			return err
		}
		started++
		front := &http.Server{
			Addr:              *addr,
			Handler:           authztest.Front(&url.URL{Scheme: "http", Host: authzAddr}, &url.URL{Scheme: "http", Host: mcpAddr}),
			ReadHeaderTimeout: 10 * time.Second,
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return err
		}
		go func() { _ = front.Serve(ln) }()
		defer front.Close()
		logger.Info("run-signin: gateway mode — point a client at the URL alone, e.g. claude mcp add --transport http kitegate http://" + *addr + "/mcp")
	}
	if err = startFunction(ctx, filepath.Join(*bin, "mcp"), mcpEnv, stdout, stderr, done); err != nil {
		return err
	}
	started++
	logger.Info("run-aws: the mcp function serves http://"+*addr+"/mcp on DynamoDB Local; the audit function reads both streams; Ctrl-C stops",
		"audit_file", *auditFile)

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for _, p := range pumps {
			if err := p.feed(ctx, filepath.Join(*bin, "audit"), env, log, stderr); err != nil {
				logger.Warn("run-aws: stream", "table", p.table, "err", err)
			}
		}
		select {
		case err := <-done:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-ctx.Done():
			for range started {
				<-done
			}
			return nil
		case <-tick.C:
		}
	}
}

// startFunction starts a function's local binary with env; done gets its
// end. It stops (interrupted, then killed) when ctx ends.
func startFunction(ctx context.Context, bin string, env []string, stdout, stderr io.Writer, done chan<- error) error {
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		err := cmd.Wait()
		done <- fmt.Errorf("the %s function stopped: %w", filepath.Base(bin), err)
	}()
	return nil
}

// freeAddr is a loopback address with a port free right now, "" if none.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ""
	}
	defer ln.Close()
	return ln.Addr().String()
}

func createTable(ctx context.Context, db *dynamodb.Client, in *dynamodb.CreateTableInput) error {
	name := aws.ToString(in.TableName)
	if _, err := db.CreateTable(ctx, in); err != nil {
		var inUse *types.ResourceInUseException
		if errors.As(err, &inUse) {
			return nil // a DynamoDB Local started by hand, run before
		}
		return fmt.Errorf("create table %s: %w", name, err)
	}
	if attr := tables.TTLAttribute(in); attr != "" {
		_, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(name),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("table %s: turn on TTL: %w", name, err)
		}
	}
	return nil
}

// pump hands one table's new stream records to the audit function, one
// batch per poll, as Lambda would; a batch item failure is redelivered
// from that record on the next poll.
type pump struct {
	stream  *dynamotest.Stream
	table   string
	pending []events.DynamoDBEventRecord
}

func (p *pump) feed(ctx context.Context, auditBin string, env []string, auditLog io.Writer, stderr io.Writer) error {
	recs, err := p.stream.Read()
	if err != nil {
		return err
	}
	for _, r := range recs {
		p.pending = append(p.pending, dynamotest.LambdaRecord(r, p.stream.ARN))
	}
	if len(p.pending) == 0 {
		return nil
	}
	batch, err := json.Marshal(events.DynamoDBEvent{Records: p.pending})
	if err != nil {
		return err
	}
	var out, lines bytes.Buffer
	fn := exec.CommandContext(ctx, auditBin)
	fn.Env, fn.Stdin, fn.Stdout, fn.Stderr = env, bytes.NewReader(batch), &out, &lines
	if err := fn.Run(); err != nil {
		return fmt.Errorf("audit function: %w\n%s", err, lines.String())
	}
	// The audit log: to the terminal, and its tool_call lines to the file.
	for _, l := range strings.SplitAfter(lines.String(), "\n") {
		if l == "" {
			continue
		}
		_, _ = io.WriteString(stderr, l)
		if strings.Contains(l, `"audit":"tool_call"`) {
			_, _ = io.WriteString(auditLog, l)
		}
	}
	var resp events.DynamoDBEventResponse
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil {
		return fmt.Errorf("audit function response %q: %w", out.String(), err)
	}
	if len(resp.BatchItemFailures) == 0 {
		p.pending = nil
		return nil
	}
	first := resp.BatchItemFailures[0].ItemIdentifier
	for i, r := range p.pending {
		if r.Change.SequenceNumber == first {
			p.pending = p.pending[i:]
			break
		}
	}
	return fmt.Errorf("%d record(s) failed, redelivered from %s", len(resp.BatchItemFailures), first)
}
