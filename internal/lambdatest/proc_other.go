//go:build !linux

package lambdatest

import (
	"syscall"
	"time"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(int) {}

func children(int) ([]int, error) { return nil, ErrNotLinux }

func waitGone([]int, time.Duration) {}

// PeakRSS is the peak resident set size of process pid, in bytes; only on Linux.
func PeakRSS(int) (int64, error) { return 0, ErrNotLinux }
