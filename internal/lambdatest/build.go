// Package lambdatest runs real Lambda bootstrap binaries under the AWS Lambda
// Runtime Interface Emulator (RIE) on 127.0.0.1, for end-to-end tests and
// cold-start measurements.
//
// It builds a function's bootstrap exactly as the Makefile does for
// deployment (go build -trimpath -ldflags "-s -w" -tags lambda.norpc,
// CGO off), builds the emulator from its Go module at a pinned version with
// a checked-in go.sum (a clean clone needs only the Go module proxy, a warm
// module cache needs no network, and no binary is committed), starts the
// emulator with the bootstrap and an explicit environment, invokes it, and
// stops both processes. The emulator runs only on Linux.
package lambdatest

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The emulator's module, command and pinned version.
const (
	RIEModule  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	RIECommand = RIEModule + "/cmd/aws-lambda-rie"
	RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// BuildTags are the build tags of every Lambda build (the Makefile's
// bootstrap and build-* targets, and Bootstrap here). They never include
// `local`, so no Lambda build links internal/local or the simulator.
const BuildTags = "lambda.norpc"

// buildTimeout bounds one go build or go install, including a first module
// download on a clean machine.
const buildTimeout = 5 * time.Minute

// Builder builds bootstraps and the emulator into one directory and caches
// them there: each (package, architecture) is built once per Builder.
type Builder struct {
	dir string

	mu     sync.Mutex
	builds map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// NewBuilder returns a Builder writing into dir, which must exist. The
// caller removes dir when done.
func NewBuilder(dir string) *Builder {
	return &Builder{dir: dir, builds: map[string]*build{}}
}

func (b *Builder) cached(key string, fn func() (string, error)) (string, error) {
	b.mu.Lock()
	e, ok := b.builds[key]
	if !ok {
		e = &build{}
		b.builds[key] = e
	}
	b.mu.Unlock()
	e.once.Do(func() { e.path, e.err = fn() })
	return e.path, e.err
}

// Bootstrap builds the function in package pkg (an import path, such as
// github.com/kitegate/kitegate/functions/mcp) for linux/goarch and returns
// the path of its bootstrap binary.
func (b *Builder) Bootstrap(ctx context.Context, pkg, goarch string) (string, error) {
	dir, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	return b.BootstrapIn(ctx, dir, pkg, goarch)
}

// BootstrapIn is Bootstrap for the module in dir: another checkout of
// kitegate, such as an older commit's exported tree.
func (b *Builder) BootstrapIn(ctx context.Context, dir, pkg, goarch string) (string, error) {
	return b.cached("bootstrap "+dir+" "+pkg+" "+goarch, func() (string, error) {
		out := filepath.Join(b.dir, "bootstrap-"+goarch+"-"+strings.ReplaceAll(dir+"/"+pkg, "/", "_"), "bootstrap")
		err := goCommand(ctx, dir, []string{"GOOS=linux", "GOARCH=" + goarch, "CGO_ENABLED=0"},
			"build", "-trimpath", "-ldflags=-s -w", "-tags", BuildTags, "-o", out, pkg)
		if err != nil {
			return "", fmt.Errorf("build %s for linux/%s: %w", pkg, goarch, err)
		}
		return out, nil
	})
}

// RIE builds the emulator for this machine and returns its path. It builds
// in a throwaway module that requires only the emulator at RIEVersion, with
// go.sum checked in (rie.go.sum) and -mod=readonly: a clean machine fetches
// and verifies the modules through the module proxy, a machine with them in
// its module cache builds offline, and nothing of the emulator enters
// kitegate's own go.mod. After changing RIEVersion, regenerate rie.go.sum
// by building once with GOFLAGS=-mod=mod in such a module.
func (b *Builder) RIE(ctx context.Context) (string, error) {
	return b.cached("rie", func() (string, error) {
		dir := filepath.Join(b.dir, "rie")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		gomod := "module kitegate-lambdatest-rie\n\ngo " + rieGoVersion + "\n\nrequire " + RIEModule + " " + RIEVersion + "\n"
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "go.sum"), rieGoSum, 0o644); err != nil {
			return "", err
		}
		bin := filepath.Join(dir, "aws-lambda-rie")
		err := goCommand(ctx, dir, []string{"GOFLAGS=-mod=readonly", "GOWORK=off", "CGO_ENABLED=0", "GOOS=", "GOARCH="},
			"build", "-o", bin, RIECommand)
		if err != nil {
			return "", fmt.Errorf("build the Lambda emulator: %w", err)
		}
		return bin, nil
	})
}

// rieGoVersion is the go line of the emulator's own go.mod.
const rieGoVersion = "1.26.6"

//go:embed rie.go.sum
var rieGoSum []byte

// moduleRoot is the directory of the main module's go.mod, from the current
// working directory (a package directory under go test, the module root
// under go run).
func moduleRoot(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(mod), nil
}

func goCommand(ctx context.Context, dir string, env []string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out.Bytes())
	}
	return nil
}

// goTool is the go command on PATH; go test and go run put the running
// toolchain's bin directory first on it.
func goTool() string { return "go" }
