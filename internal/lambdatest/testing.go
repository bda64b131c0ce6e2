package lambdatest

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"
)

var shared struct {
	mu      sync.Mutex
	builder *Builder
}

// Main runs a package's tests with one Builder for the whole test binary,
// so each bootstrap and the emulator are built once per run, and removes
// the binaries afterwards. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(lambdatest.Main(m)) }
//
// Without it the helpers still work, building into each test's TempDir.
func Main(m interface{ Run() int }) int {
	dir, err := os.MkdirTemp("", "kitegate-lambdatest-")
	if err != nil {
		panic(err) // a test binary that cannot make a temp dir cannot test
	}
	defer os.RemoveAll(dir)
	shared.mu.Lock()
	shared.builder = NewBuilder(dir)
	shared.mu.Unlock()
	return m.Run()
}

func builder(t testing.TB) *Builder {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.builder != nil {
		return shared.builder
	}
	return NewBuilder(t.TempDir())
}

// Bootstrap builds the function in package pkg for linux/goarch (as Build
// does) and returns the bootstrap's path; the test fails if it does not build.
func Bootstrap(t testing.TB, pkg, goarch string) string {
	t.Helper()
	p, err := builder(t).Bootstrap(context.Background(), pkg, goarch)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Start builds the emulator, starts it with bootstrap (built for this
// machine's architecture) and stops it when the test ends, printing its
// output if the test failed. It skips the test on systems other than Linux,
// where the emulator cannot run.
func Start(t testing.TB, bootstrap string, opts Options) *Emulator {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip(ErrNotLinux.Error())
	}
	b := builder(t)
	rie, err := b.RIE(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e, err := StartEmulator(context.Background(), rie, bootstrap, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("Lambda emulator output:\n%s", e.Logs())
		}
	})
	return e
}
