// Command coldstart measures the mcp function's cold start under the Lambda
// Runtime Interface Emulator: it builds the deployable bootstrap, starts it
// under a fresh emulator -runs times, and reports the median init duration,
// the first and warm invocation latencies, the binary sizes (amd64, arm64)
// and the bootstrap's peak resident memory; beside it, run for run, the
// authz function's init (gateway mode's authorization server, answering
// its metadata). Everything listens on 127.0.0.1.
//
//	infra/local/dynamodb.sh go run ./internal/lambdatest/coldstart -runs 7 [-base 6c45cdd]
//
// The function runs as deployed: its policy table on DynamoDB Local (which
// infra/local/dynamodb.sh starts), its token in a Secrets Manager fake, its
// callers' tokens from a local OIDC issuer. With -base, the same program
// builds the mcp function of that commit (exported with git archive into a
// temporary folder) and starts it cold beside this tree's, run for run,
// with the floor in between, so that the two shares of init come from one
// run on one machine and their ratio is what to compare across machines.
//
// Init duration is the emulator's INIT REPORT (the same measure as Lambda's
// "Init Duration"): from just before the emulator execs the bootstrap until
// the runtime's first request for an invocation (GET .../invocation/next),
// which the aws-lambda-go runtime makes once main has built everything and
// called lambda.Start.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitegate/kitegate/internal/dynamotest"
	"github.com/kitegate/kitegate/internal/lambdatest"
	"github.com/kitegate/kitegate/internal/lambdatest/mcpenv"
)

const (
	pkg         = "github.com/kitegate/kitegate/functions/mcp"
	authzPkg    = "github.com/kitegate/kitegate/functions/authz"
	baselinePkg = "github.com/kitegate/kitegate/internal/lambdatest/coldstart/baseline"
)

func main() {
	runs := flag.Int("runs", 7, "cold starts to measure (1-50)")
	warm := flag.Int("warm", 20, "warm invocations after each cold one before reading peak RSS (0-1000)")
	testdata := flag.String("events", "functions/mcp/testdata", "directory of the API Gateway v2 events")
	base := flag.String("base", "", "a commit whose mcp function to measure beside this tree's (git archive)")
	flag.Parse()
	if *runs < 1 || *runs > 50 || *warm < 0 || *warm > 1000 {
		log.Fatal("coldstart: -runs must be 1-50 and -warm 0-1000")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if err := run(ctx, *runs, *warm, *testdata, *base); err != nil {
		log.Fatalf("coldstart: %v", err)
	}
}

type sample struct {
	init, first, warm time.Duration
	peakRSS           int64
	logs              string
}

func run(ctx context.Context, runs, warm int, testdata, base string) error {
	dir, err := os.MkdirTemp("", "kitegate-coldstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := lambdatest.NewBuilder(dir)

	sizes, native, err := bootstraps(ctx, b, "", pkg)
	if err != nil {
		return err
	}
	rie, err := b.RIE(ctx)
	if err != nil {
		return err
	}

	list, err := readEvent(filepath.Join(testdata, "apigw-v2-tools-list.json"))
	if err != nil {
		return err
	}
	call, err := readEvent(filepath.Join(testdata, "apigw-v2-tools-call.json"))
	if err != nil {
		return err
	}

	floorBin, err := b.Bootstrap(ctx, baselinePkg, runtime.GOARCH)
	if err != nil {
		return err
	}
	// Gateway mode's authorization server, its own function: cold-started
	// run for run beside the mcp function, answering its metadata.
	authzSizes, authzBin, err := bootstraps(ctx, b, "", authzPkg)
	if err != nil {
		return err
	}
	metadata := authzMetadataEvent(list)
	var baseBin string
	var baseSizes map[string]int64
	if base != "" {
		src, err := exportCommit(ctx, dir, base)
		if err != nil {
			return err
		}
		if baseSizes, baseBin, err = bootstraps(ctx, b, src, pkg); err != nil {
			return fmt.Errorf("base %s: %w", base, err)
		}
	}

	// Run for run: this tree, the base, the floor, so that a change in the
	// machine's load falls on all three alike.
	var samples, baseSamples, authzSamples []sample
	var floors []time.Duration
	for i := range runs {
		s, err := coldStart(ctx, rie, native, filepath.Join(dir, "state-"+strconv.Itoa(i)), list, call, warm, nil)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		samples = append(samples, s)
		fmt.Printf("run %d: init %s, first invocation %s, warm invocation %s, peak RSS %s\n",
			i+1, ms(s.init), ms(s.first), ms(s.warm), mib(s.peakRSS))
		if baseBin != "" {
			// No warm calls: the base's catalog differs from the policy
			// table's, so some of its tools are not callable; init is what
			// is compared.
			bs, err := coldStart(ctx, rie, baseBin, filepath.Join(dir, "state-base-"+strconv.Itoa(i)), list, call, 0, nil)
			if err != nil {
				return fmt.Errorf("base run %d: %w", i+1, err)
			}
			baseSamples = append(baseSamples, bs)
			fmt.Printf("run %d, base %s: init %s, first invocation %s\n", i+1, base, ms(bs.init), ms(bs.first))
		}
		as, err := authzColdStart(ctx, rie, authzBin, metadata)
		if err != nil {
			return fmt.Errorf("authz run %d: %w", i+1, err)
		}
		authzSamples = append(authzSamples, as)
		fmt.Printf("run %d, authz function: init %s, first invocation %s\n", i+1, ms(as.init), ms(as.first))
		d, err := baselineInit(ctx, rie, floorBin, list)
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		floors = append(floors, d)
	}

	inits := collect(samples, func(s sample) time.Duration { return s.init })
	firsts := collect(samples, func(s sample) time.Duration { return s.first })
	warms := collect(samples, func(s sample) time.Duration { return s.warm })
	var peak int64
	for _, s := range samples {
		peak = max(peak, s.peakRSS)
	}
	fmt.Printf("\nmcp function cold start under the Lambda emulator (%d runs, %s/%s, %d CPUs, load average %s)\n", runs, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), loadAverage())
	fmt.Printf("  init duration (INIT REPORT): median %s, min %s, max %s   target < 60 ms\n", ms(median(inits)), ms(inits[0]), ms(inits[len(inits)-1]))
	fmt.Printf("  first invocation (tools/list, client-observed, after init): median %s\n", ms(median(firsts)))
	fmt.Printf("  warm invocation (tools/list and tools/call, client-observed): median %s\n", ms(median(warms)))
	fmt.Printf("  bootstrap size: linux/amd64 %s, linux/arm64 %s   target: linux/arm64 <= 12 MB\n", mb(sizes["amd64"]), mb(sizes["arm64"]))
	fmt.Printf("  peak RSS (VmHWM) after 1 cold + %d warm invocations: max %s   target fits 128 MB\n", warm, mib(peak))

	// The floor: the smallest Go function, started the same way.
	slices.Sort(floors)
	share := median(inits) - median(floors)
	fmt.Printf("  floor, the smallest Go function under the same emulator: init median %s (min %s); kitegate's own share of init: %s\n",
		ms(median(floors)), ms(floors[0]), ms(share))
	if baseBin != "" {
		baseInits := collect(baseSamples, func(s sample) time.Duration { return s.init })
		baseShare := median(baseInits) - median(floors)
		fmt.Printf("  base %s, same run: init median %s (min %s, max %s); its share of init: %s; bootstrap linux/amd64 %s, linux/arm64 %s\n",
			base, ms(median(baseInits)), ms(baseInits[0]), ms(baseInits[len(baseInits)-1]), ms(baseShare), mb(baseSizes["amd64"]), mb(baseSizes["arm64"]))
		if baseShare > 0 {
			fmt.Printf("  kitegate's share of init, this tree / base %s: %.2f   target <= 0.50\n", base, float64(share)/float64(baseShare))
		}
	}

	authzInits := collect(authzSamples, func(s sample) time.Duration { return s.init })
	authzFirsts := collect(authzSamples, func(s sample) time.Duration { return s.first })
	fmt.Printf("  authz function (gateway mode's authorization server), same run: init median %s (min %s, max %s); its share of init: %s; first invocation (metadata) median %s; bootstrap linux/amd64 %s, linux/arm64 %s\n",
		ms(median(authzInits)), ms(authzInits[0]), ms(authzInits[len(authzInits)-1]), ms(median(authzInits)-median(floors)), ms(median(authzFirsts)), mb(authzSizes["amd64"]), mb(authzSizes["arm64"]))

	// One more, unmeasured start with the Go runtime's package-init trace,
	// to show how much of init is package initialization and where it goes.
	traced, err := coldStart(ctx, rie, native, filepath.Join(dir, "state-traced"), list, call, 0, map[string]string{"GODEBUG": "inittrace=1"})
	if err != nil {
		return fmt.Errorf("traced run: %w", err)
	}
	total, top := packageInit(traced.logs)
	fmt.Printf("  package initialization (GODEBUG=inittrace=1, one extra run with init %s): %s in total; largest:", ms(traced.init), ms(total))
	for _, p := range top {
		fmt.Printf(" %s %s;", p.name, ms(p.clock))
	}
	fmt.Println()
	return nil
}

type pkgInit struct {
	name  string
	clock time.Duration
}

var initTrace = regexp.MustCompile(`(?m)^init (\S+) @[0-9.]+ ms, ([0-9.]+) ms clock`)

// packageInit sums the bootstrap's init trace lines and returns the three
// slowest packages. The emulator gets GODEBUG too and traces its own
// packages first, before it starts the init phase.
func packageInit(logs string) (time.Duration, []pkgInit) {
	if _, after, ok := strings.Cut(logs, "INIT START"); ok {
		logs = after
	}
	var total time.Duration
	var all []pkgInit
	for _, m := range initTrace.FindAllStringSubmatch(logs, -1) {
		f, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		d := time.Duration(f * float64(time.Millisecond))
		total += d
		all = append(all, pkgInit{m[1], d})
	}
	slices.SortFunc(all, func(a, b pkgInit) int { return int(b.clock - a.clock) })
	return total, all[:min(3, len(all))]
}

func coldStart(ctx context.Context, rie, bootstrap, stateDir string, list, call events.APIGatewayV2HTTPRequest, warm int, extraEnv map[string]string) (s sample, err error) {
	st, err := mcpenv.New(stateDir)
	if err != nil {
		return s, err
	}
	defer st.Close()
	// As deployed: the policy and audit tables (DynamoDB Local, started by
	// infra/local/dynamodb.sh) — on Lambda the function needs them.
	if err := st.CreateTables(ctx, os.Getenv(dynamotest.EndpointEnv)); err != nil {
		return s, err
	}
	tok, err := st.Issuer.Token(mcpenv.Claims{Subject: "bench", Email: "bench@example.com", Groups: []string{"engineering"}})
	if err != nil {
		return s, err
	}
	list.Headers["authorization"] = "Bearer " + tok
	call.Headers["authorization"] = "Bearer " + tok

	env := st.Env()
	for k, v := range extraEnv {
		env[k] = v
	}
	emu, err := lambdatest.StartEmulator(ctx, rie, bootstrap, lambdatest.Options{Env: env, Timeout: 29 * time.Second, MemoryMB: 128})
	if err != nil {
		return s, err
	}
	defer emu.Stop()
	defer func() { s.logs = emu.Logs() }()

	start := time.Now()
	if err := expectOK(emu.InvokeHTTP(ctx, list)); err != nil {
		return s, fmt.Errorf("cold tools/list: %w\n%s", err, emu.Logs())
	}
	s.first = time.Since(start)
	if s.init, err = initDuration(ctx, emu); err != nil {
		return s, err
	}
	var warms []time.Duration
	for i := range warm {
		ev := list
		if i%2 == 1 {
			ev = call
		}
		start := time.Now()
		if err := expectOK(emu.InvokeHTTP(ctx, ev)); err != nil {
			return s, fmt.Errorf("warm invocation %d: %w", i+1, err)
		}
		warms = append(warms, time.Since(start))
	}
	if len(warms) > 0 {
		slices.Sort(warms)
		s.warm = median(warms)
	}
	pid, err := emu.BootstrapPID()
	if err != nil {
		return s, err
	}
	s.peakRSS, err = lambdatest.PeakRSS(pid)
	return s, err
}

// bootstraps builds pkg's bootstrap for linux/amd64 and linux/arm64 (from
// the module in dir, this tree when dir is "") and returns their sizes and
// the one for this machine.
func bootstraps(ctx context.Context, b *lambdatest.Builder, dir, pkg string) (map[string]int64, string, error) {
	sizes := map[string]int64{}
	var native string
	for _, arch := range []string{"amd64", "arm64"} {
		var p string
		var err error
		if dir == "" {
			p, err = b.Bootstrap(ctx, pkg, arch)
		} else {
			p, err = b.BootstrapIn(ctx, dir, pkg, arch)
		}
		if err != nil {
			return nil, "", err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, "", err
		}
		sizes[arch] = fi.Size()
		if arch == runtime.GOARCH {
			native = p
		}
	}
	if native == "" {
		return nil, "", fmt.Errorf("no bootstrap for this machine's architecture %s", runtime.GOARCH)
	}
	return sizes, native, nil
}

// authzMetadataEvent is list made into GET /.well-known/oauth-authorization-server
// without a token: what a client asks the authorization server first.
func authzMetadataEvent(list events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPRequest {
	ev := list
	const path = "/.well-known/oauth-authorization-server"
	ev.RouteKey, ev.RawPath, ev.Body = "GET "+path, path, ""
	ev.Headers = map[string]string{"accept": "application/json", "host": list.Headers["host"]}
	ev.RequestContext.RouteKey = ev.RouteKey
	ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = "GET", path
	return ev
}

// authzColdStart starts the authz function cold, as deployed but for its
// AWS endpoints (nothing it does at init or for its metadata calls AWS:
// the key set, the tables and the IdP secret are read on first use), asks
// for its metadata and returns its init duration and that first answer's
// client-observed time.
func authzColdStart(ctx context.Context, rie, bootstrap string, ev events.APIGatewayV2HTTPRequest) (s sample, err error) {
	env := map[string]string{
		"KITEGATE_RESOURCE_URL":       "https://" + ev.Headers["host"] + "/mcp",
		"KITEGATE_UPSTREAM_ISSUER":    "https://idp.example.com",
		"KITEGATE_UPSTREAM_CLIENT_ID": "kitegate",
		"KITEGATE_UPSTREAM_SECRET_ID": "arn:aws:secretsmanager:us-east-1:111122223333:secret:kitegate-idp",
		"KITEGATE_AUTH_TABLE":         "kitegate-auth",
		"KITEGATE_POLICY_TABLE":       "kitegate-policy",
		"KITEGATE_SIGNING_KEYS":       "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000",
		"AWS_REGION":                  "us-east-1",
		"AWS_ACCESS_KEY_ID":           "coldstart",
		"AWS_SECRET_ACCESS_KEY":       "coldstart",
		"AWS_ENDPOINT_URL":            "http://127.0.0.1:1", // never reached
	}
	emu, err := lambdatest.StartEmulator(ctx, rie, bootstrap, lambdatest.Options{Env: env, Timeout: 29 * time.Second, MemoryMB: 128})
	if err != nil {
		return s, err
	}
	defer emu.Stop()
	start := time.Now()
	if err := expectOK(emu.InvokeHTTP(ctx, ev)); err != nil {
		return s, fmt.Errorf("metadata: %w\n%s", err, emu.Logs())
	}
	s.first = time.Since(start)
	s.init, err = initDuration(ctx, emu)
	return s, err
}

// baselineInit starts the baseline bootstrap cold, invokes it once and
// returns its init duration.
func baselineInit(ctx context.Context, rie, bootstrap string, ev events.APIGatewayV2HTTPRequest) (time.Duration, error) {
	emu, err := lambdatest.StartEmulator(ctx, rie, bootstrap, lambdatest.Options{Timeout: 29 * time.Second, MemoryMB: 128})
	if err != nil {
		return 0, err
	}
	defer emu.Stop()
	if err := expectOK(emu.InvokeHTTP(ctx, ev)); err != nil {
		return 0, err
	}
	return initDuration(ctx, emu)
}

var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// initDuration reads the emulator's INIT REPORT line, which it logs before
// the first invocation starts (and so before its response); the wait only
// covers the pipe from the emulator to this process.
func initDuration(ctx context.Context, emu *lambdatest.Emulator) (time.Duration, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m := initReport.FindStringSubmatch(emu.Logs()); m != nil {
			f, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(f * float64(time.Millisecond)), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, fmt.Errorf("no INIT REPORT line in the emulator output:\n%s", emu.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func expectOK(resp events.APIGatewayV2HTTPResponse, err error) error {
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, resp.Body)
	}
	var msg struct{ Error *json.RawMessage }
	if json.Unmarshal([]byte(resp.Body), &msg) == nil && msg.Error != nil {
		return errors.New("JSON-RPC error: " + resp.Body)
	}
	return nil
}

func readEvent(path string) (events.APIGatewayV2HTTPRequest, error) {
	var ev events.APIGatewayV2HTTPRequest
	b, err := os.ReadFile(path)
	if err != nil {
		return ev, err
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return ev, fmt.Errorf("%s: %w", path, err)
	}
	return ev, nil
}

func collect(ss []sample, f func(sample) time.Duration) []time.Duration {
	out := make([]time.Duration, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	slices.Sort(out)
	return out
}

// median of sorted d.
func median(d []time.Duration) time.Duration {
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

// loadAverage is the 1, 5 and 15 minute load averages: other work on the
// machine shows up directly in the init figures.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
func mb(n int64) string         { return fmt.Sprintf("%.1f MB (%d bytes)", float64(n)/1e6, n) }
func mib(n int64) string        { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// exportCommit writes commit's tree (git archive) under dir and returns its
// folder: a copy to build, with no checkout touched.
func exportCommit(ctx context.Context, dir, commit string) (string, error) {
	out := filepath.Join(dir, "base-src")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", commit)
	tar := exec.CommandContext(ctx, "tar", "-x", "-C", out)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return "", err
	}
	tar.Stdin = pipe
	var stderr strings.Builder
	archive.Stderr, tar.Stderr = &stderr, &stderr
	if err := tar.Start(); err != nil {
		return "", err
	}
	if err := archive.Run(); err != nil {
		_ = tar.Wait()
		return "", fmt.Errorf("git archive %s: %w %s", commit, err, stderr.String())
	}
	if err := tar.Wait(); err != nil {
		return "", fmt.Errorf("untar %s: %w %s", commit, err, stderr.String())
	}
	return out, nil
}
