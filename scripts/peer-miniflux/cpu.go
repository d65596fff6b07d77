package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the times in /proc/<pid>/stat (USER_HZ, 100
// on every Linux this runs on).
const clockTick = 10 * time.Millisecond

// procTimes are the CPU times of one process from /proc/<pid>/stat: its
// own (all its threads) and those of its children it has waited for.
type procTimes struct{ User, System, ChildUser, ChildSystem time.Duration }

// total is everything the process and its reaped children used.
func (p procTimes) total() time.Duration { return p.User + p.System + p.ChildUser + p.ChildSystem }

// parseStat reads fields 14–17 (utime, stime, cutime, cstime) of a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may hold spaces or parentheses, so the fields are counted from the last
// ')'.
func parseStat(line string) (procTimes, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return procTimes{}, fmt.Errorf("stat line %q: no command name", line)
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 15 {
		return procTimes{}, fmt.Errorf("stat line %q: %d fields after the command", line, len(f))
	}
	var t [4]time.Duration
	for k := range t {
		v, err := strconv.ParseInt(f[11+k], 10, 64)
		if err != nil {
			return procTimes{}, fmt.Errorf("stat line field %d: %w", 14+k, err)
		}
		t[k] = time.Duration(v) * clockTick
	}
	return procTimes{t[0], t[1], t[2], t[3]}, nil
}

func readProcTimes(pid int) (procTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procTimes{}, err
	}
	return parseStat(string(b))
}

// treeCPU is the CPU time used so far by pid and its descendants one
// level down: pid's own, its reaped children's (a PostgreSQL backend that
// has exited is in the postmaster's cutime/cstime once the postmaster
// has waited for it, which it does on SIGCHLD), and its live children's
// from their own /proc/<pid>/stat. Live processes in skip are left out:
// the backend of this script's own progress queries, whose connection
// outlives both readings of a pass. A child that exits between the two
// readings is counted once: live at the first, reaped at the second.
func treeCPU(pid int, skip ...int) (time.Duration, error) {
	self, err := readProcTimes(pid)
	if err != nil {
		return 0, fmt.Errorf("cpu of %d: %w", pid, err)
	}
	total := self.total()
	kids, err := children(pid)
	if err != nil {
		return 0, err
	}
	for _, c := range kids {
		if slices.Contains(skip, c) {
			continue
		}
		t, err := readProcTimes(c)
		if err != nil {
			continue // exited since: its time is now in the parent's cutime
		}
		total += t.total()
	}
	return total, nil
}

// children lists the pids of pid's live children, from every thread's
// children file.
func children(pid int) ([]int, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, fmt.Errorf("children of %d: %w", pid, err)
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out, nil
}
