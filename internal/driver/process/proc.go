package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// procStat reads a process's state letter and start time (clock ticks since
// boot) from /proc/<pid>/stat.
func procStat(pid int) (state byte, startTicks uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself; everything after the last ')' is plain fields,
	// starting with field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	const startField = 22 - 3
	if len(f) <= startField {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	startTicks, err = strconv.ParseUint(f[startField], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: start time: %w", pid, err)
	}
	return f[0][0], startTicks, nil
}

var bootIDOnce = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})

// bootID is the kernel's id for this boot: pids and start ticks restart at
// every boot, so a record from an earlier boot never names a live process.
func bootID() string { return bootIDOnce() }

// alive reports whether the record's process still runs: the pid exists, is
// not a zombie, and started when the record says it did on this boot.
func alive(r *record) bool {
	if r.PID <= 0 || r.BootID != bootID() {
		return false
	}
	state, ticks, err := procStat(r.PID)
	if err != nil {
		return false
	}
	return state != 'Z' && state != 'X' && ticks == r.StartTicks
}

// signalGroup sends sig to the instance's process group, after checking that
// the pid still is the instance's process (a reused pid is left alone).
// It reports false when there was nothing to signal.
func signalGroup(r *record, sig syscall.Signal) (bool, error) {
	if !alive(r) {
		return false, nil
	}
	// Setpgid made the process its group's leader, so the group id is its
	// pid; signalling the group reaches what the app spawned too.
	err := syscall.Kill(-r.PID, sig)
	if errors.Is(err, syscall.ESRCH) {
		return false, nil
	}
	return err == nil, err
}

// killLeftovers SIGKILLs what remains of the instance's process group once
// its leader is dead: what the app spawned and left behind. While any
// member lives, the kernel keeps the group's id from being reused as a
// pid, so the group is still ours; but once the group is empty the pid
// may be recycled, and a new process holding it may lead a group of its
// own. So when /proc shows the pid held by another process than the
// recorded one, the group is left alone: ours is then certainly empty.
func killLeftovers(r *record) {
	if r.PID <= 0 || r.BootID != bootID() {
		return
	}
	if _, ticks, err := procStat(r.PID); err == nil && ticks != r.StartTicks {
		return // the pid is another process's: our group is empty
	}
	_ = syscall.Kill(-r.PID, syscall.SIGKILL)
}
