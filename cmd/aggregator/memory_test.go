package main

import (
	"context"
	"math"
	"runtime/debug"
	"testing"
)

func TestHeapLimit(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name        string
		live, other int64
		min, max    int64 // the limit is within [min, max]
	}{
		{"no collection yet: 64 MB", 0, 10 * mb, 74 * mb, 76 * mb},
		{"small heap: 64 MB of headroom, more than GOGC=100", 6 * mb, 10 * mb, 80 * mb, 82 * mb},
		{"medium heap: 64 MB of headroom", 200 * mb, 20 * mb, 284 * mb, 289 * mb},
		{"large heap: an eighth", 1024 * mb, 40 * mb, 1192 * mb, 1211 * mb},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := heapLimit(tt.live, tt.other); got < tt.min || got > tt.max {
				t.Errorf("heapLimit(%d MB, %d MB) = %d MB, want %d to %d MB", tt.live/mb, tt.other/mb, got/mb, tt.min/mb, tt.max/mb)
			}
		})
	}
}

// TestLimitHeapLeavesAnExplicitSetting: GOGC or GOMEMLIMIT in the
// environment means the Go runtime's rules; nothing is started.
func TestLimitHeapLeavesAnExplicitSetting(t *testing.T) {
	for _, name := range []string{"GOGC", "GOMEMLIMIT"} {
		environ := func(k string) string {
			if k == name {
				return "100"
			}
			return ""
		}
		stop := limitHeap(context.Background(), environ)
		stop()
		if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
			t.Errorf("with %s set, the memory limit is %d; want none", name, l)
		}
		if p := debug.SetGCPercent(100); p != 100 {
			t.Errorf("with %s set, GOGC is %d; want 100", name, p)
		}
	}
}

// TestLimitHeapReplacesGOGC: with neither set, the proportional trigger
// is off and a limit is in place as soon as limitHeap returns.
func TestLimitHeapReplacesGOGC(t *testing.T) {
	stop := limitHeap(context.Background(), func(string) string { return "" })
	stop()
	// Restore this test process's collector.
	l := debug.SetMemoryLimit(math.MaxInt64)
	p := debug.SetGCPercent(100)
	if p != -1 {
		t.Errorf("GOGC is %d; want off (-1)", p)
	}
	if l == math.MaxInt64 || l < heapMinHeadroom {
		t.Errorf("the memory limit is %d; want at least %d", l, heapMinHeadroom)
	}
}
