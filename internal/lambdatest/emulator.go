package lambdatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// InvokePath is where the emulator takes invocations, as the Lambda Invoke API.
const InvokePath = "/2015-03-31/functions/function/invocations"

// Bounds on waiting for the emulator.
const (
	readyTimeout = 15 * time.Second
	stopTimeout  = 5 * time.Second
	startTries   = 3
	maxLogBytes  = 8 << 20
)

// ErrNotLinux is returned on systems where the emulator cannot run.
var ErrNotLinux = errors.New("the Lambda emulator runs only on Linux")

// Options configure one emulator.
type Options struct {
	// Env is the function's environment. The emulator hands its own whole
	// environment to the function, so it is started with only these
	// variables and a few that Lambda sets (PATH, TZ, LAMBDA_TASK_ROOT,
	// AWS_EXECUTION_ENV, AWS_LAMBDA_FUNCTION_NAME, ...), never with the
	// test process's environment. Env overrides the defaults.
	Env map[string]string
	// Timeout is the function timeout (AWS_LAMBDA_FUNCTION_TIMEOUT, whole
	// seconds); default 30s.
	Timeout time.Duration
	// MemoryMB is AWS_LAMBDA_FUNCTION_MEMORY_SIZE, which the emulator only
	// reports; default 128.
	MemoryMB int
	// LogLevel is the emulator's own log level (--log-level): "info" by
	// default; "debug" logs every Runtime API request with a millisecond
	// time stamp.
	LogLevel string
}

// Emulator is a running emulator with one function's bootstrap. The
// emulator starts the bootstrap (in a process group of its own) on the first
// invocation, as Lambda initializes on the first request.
type Emulator struct {
	// URL is the invocation URL on 127.0.0.1.
	URL string
	// RuntimeAPI is the host:port of the Runtime API the bootstrap polls.
	RuntimeAPI string

	cmd     *exec.Cmd
	done    chan struct{} // closed when the emulator process has exited
	logs    *logBuffer
	client  *http.Client
	stopped sync.Once
}

// StartEmulator starts the emulator rie with bootstrap on free 127.0.0.1
// ports and waits until it accepts invocations.
func StartEmulator(ctx context.Context, rie, bootstrap string, opts Options) (*Emulator, error) {
	if runtime.GOOS != "linux" {
		return nil, ErrNotLinux
	}
	var errs []error
	for range startTries {
		e, err := startOnce(ctx, rie, bootstrap, opts)
		if err == nil {
			return e, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func startOnce(ctx context.Context, rie, bootstrap string, opts Options) (*Emulator, error) {
	// The ports are picked then released; another process may take one in
	// between, so StartEmulator tries again when the emulator cannot bind.
	invokeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	level := opts.LogLevel
	if level == "" {
		level = "info"
	}
	bootstrap, err = filepath.Abs(bootstrap)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(rie,
		"--log-level", level,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", apiAddr,
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap) // the emulator runs the bootstrap in its own working directory, as /var/task
	cmd.Env = environment(bootstrap, opts)
	logs := &logBuffer{}
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = stopTimeout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", rie, err)
	}
	e := &Emulator{
		URL:        "http://" + invokeAddr + InvokePath,
		RuntimeAPI: apiAddr,
		cmd:        cmd,
		done:       make(chan struct{}),
		logs:       logs,
		client:     &http.Client{Timeout: timeout(opts) + 10*time.Second},
	}
	go func() { _ = cmd.Wait(); close(e.done) }()

	if err := e.waitReady(ctx, invokeAddr); err != nil {
		e.Stop()
		return nil, fmt.Errorf("%w\nemulator output:\n%s", err, e.Logs())
	}
	return e, nil
}

func (e *Emulator) waitReady(ctx context.Context, addr string) error {
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-e.done:
			return fmt.Errorf("emulator exited before listening on %s", addr)
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("emulator not listening on %s after %s", addr, readyTimeout)
		case <-tick.C:
		}
	}
}

func timeout(opts Options) time.Duration {
	if opts.Timeout <= 0 {
		return 30 * time.Second
	}
	return opts.Timeout
}

func environment(bootstrap string, opts Options) []string {
	mem := opts.MemoryMB
	if mem <= 0 {
		mem = 128
	}
	env := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"TZ":                              ":UTC",
		"LAMBDA_TASK_ROOT":                filepath.Dir(bootstrap),
		"AWS_EXECUTION_ENV":               "AWS_Lambda_provided.al2023",
		"AWS_LAMBDA_FUNCTION_NAME":        "function",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(mem),
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(max(1, int(timeout(opts)/time.Second))),
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Invoke sends one event and returns the emulator's status code and body:
// the function's response, or its error document.
func (e *Emulator) Invoke(ctx context.Context, event []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(event))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("invoke: read response: %w", err)
	}
	return resp.StatusCode, body, nil
}

// InvokeHTTP sends an API Gateway HTTP API (payload 2.0) event and decodes
// the function's response. A function error is an error here.
func (e *Emulator) InvokeHTTP(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	var out events.APIGatewayV2HTTPResponse
	in, err := json.Marshal(ev)
	if err != nil {
		return out, err
	}
	status, body, err := e.Invoke(ctx, in)
	if err != nil {
		return out, err
	}
	if status != http.StatusOK {
		return out, fmt.Errorf("invoke: emulator status %d: %s", status, body)
	}
	var fnErr struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal(body, &fnErr) == nil && fnErr.ErrorMessage != "" {
		return out, fmt.Errorf("function error %s: %s", fnErr.ErrorType, fnErr.ErrorMessage)
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("decode function response %q: %w", body, err)
	}
	return out, nil
}

// BootstrapPID is the process id of the running bootstrap (the emulator's
// child), which exists from the first invocation on.
func (e *Emulator) BootstrapPID() (int, error) {
	kids, err := children(e.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	if len(kids) == 0 {
		return 0, errors.New("the emulator has no bootstrap process (not invoked yet, or it exited)")
	}
	return kids[0], nil
}

// Logs is everything the emulator and the function wrote so far: the
// emulator's own log, the function's stdout and stderr, and the START, END
// and REPORT lines of each invocation.
func (e *Emulator) Logs() string { return e.logs.String() }

// WaitLogs waits, at most d, until the logs hold every one of want, and
// returns them. The function's output reaches the logs through the
// emulator's pipes, a little after the invocation's answer.
func (e *Emulator) WaitLogs(d time.Duration, want ...string) (string, bool) {
	deadline := time.Now().Add(d)
	for {
		logs := e.Logs()
		all := true
		for _, w := range want {
			all = all && strings.Contains(logs, w)
		}
		if all || time.Now().After(deadline) {
			return logs, all
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the bootstrap and the emulator (each has its own process
// group) and waits, boundedly, for the emulator to exit. It is safe to call
// more than once.
func (e *Emulator) Stop() {
	e.stopped.Do(func() {
		pid := e.cmd.Process.Pid
		// The bootstrap first, so the emulator, its parent, reaps it.
		if kids, err := children(pid); err == nil {
			for _, k := range kids {
				killGroup(k)
			}
			waitGone(kids, stopTimeout)
		}
		killGroup(pid)
		select {
		case <-e.done:
		case <-time.After(stopTimeout):
		}
	})
}

// Exited is closed when the emulator process has exited.
func (e *Emulator) Exited() <-chan struct{} { return e.done }

// logBuffer keeps the first maxLogBytes of output.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	dropped int
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := maxLogBytes - l.buf.Len(); room < len(p) {
		l.buf.Write(p[:max(room, 0)])
		l.dropped += len(p) - max(room, 0)
		return len(p), nil
	}
	l.buf.Write(p)
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped > 0 {
		return l.buf.String() + fmt.Sprintf("\n[%d bytes of output dropped]\n", l.dropped)
	}
	return l.buf.String()
}
