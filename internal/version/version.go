// Package version is the release a kitegate binary was built from, and the
// command line every function binary shares (--version, -h).
//
// The Makefile stamps the release (git describe) with the linker, for `make
// build`, `make run` and for `sam build` alike:
//
//	go build -ldflags "-X github.com/kitegate/kitegate/internal/version.version=v1.4.0-3-gabc1234" ...
package version

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set by the linker; empty in an unstamped build.
var version string

// String returns the release this binary was built from: the stamped
// version, else the VCS revision Go recorded (go build in a checkout), else
// "dev".
func String() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if len(rev) >= 12 {
			return "dev-" + rev[:12] + dirty
		}
	}
	return "dev"
}

// Command handles the command line of a function binary. On Lambda a
// function gets no arguments; by hand `--version` prints the name and
// version and `-h` what the binary is (usage: one line, configured by the
// environment). It returns done when main should exit: with err nil after
// printing, or with err for a bad command line (which is printed too).
func Command(name, usage string, args []string, stdout io.Writer) (done bool, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stdout, "%s %s: %s\n\nUsage: %s [--version]\n\nConfigured by environment variables (docs/configuration.md).\n", name, String(), usage, name)
	}
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return true, nil
	case err != nil:
		return true, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return true, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *showVersion {
		fmt.Fprintf(stdout, "%s %s\n", name, String())
		return true, nil
	}
	return false, nil
}

// Main is every function binary's main: the command line (Command), then
// run until it returns or SIGINT/SIGTERM cancels its context; an error is
// logged and exits 1.
func Main(name, usage string, run func(ctx context.Context) error) {
	if done, err := Command(name, usage, os.Args[1:], os.Stdout); done {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		slog.Error(name+": exiting", "err", err)
		stop()
		os.Exit(1)
	}
}
