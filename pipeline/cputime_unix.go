//go:build unix

package pipeline

import (
	"syscall"
	"time"
)

// processCPU is the user and system CPU time the process has used, on
// every thread: what a pass reports of its clustering, garbage
// collection included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
