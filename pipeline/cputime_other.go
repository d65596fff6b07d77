//go:build !unix

package pipeline

import "time"

// processCPU is not measured here: a pass reports no CPU time.
func processCPU() time.Duration { return 0 }
