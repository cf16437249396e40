package proctest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Haven runs on.
const clockTicks = 100

// CPUSeconds is a live process's user+system CPU time (fields 14 and 15
// of /proc/<pid>/stat). ok is false when the process is gone.
func CPUSeconds(pid int) (seconds float64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	_, rest, found := strings.Cut(string(b), ") ") // the name may hold spaces
	f := strings.Fields(rest)                      // f[0] is field 3, the state
	if !found || len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (utime + stime) / clockTicks, true
}

// InstanceCPUSeconds adds up the CPU time of every live process whose
// environment carries HAVEN_INSTANCE=<instance> (what the process driver
// gives an instance and its children inherit). It fails the test when no
// process carries it.
func InstanceCPUSeconds(t testing.TB, instance string) float64 {
	t.Helper()
	marker := []byte("HAVEN_INSTANCE=" + instance + "\x00")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	total, found := 0.0, 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(env, marker) {
			continue
		}
		if s, ok := CPUSeconds(pid); ok {
			total += s
			found++
		}
	}
	if found == 0 {
		t.Fatalf("no process carries HAVEN_INSTANCE=%s", instance)
	}
	return total
}

// WaitForCPU blocks until the instance's processes have used at least
// seconds of CPU since since (a reading of InstanceCPUSeconds), or limit
// passed, so that a rate is measured over enough work on a loaded machine
// as on an idle one: it counts CPU rather than trusting a wall-clock span.
func WaitForCPU(t testing.TB, instance string, since, seconds float64, limit time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if InstanceCPUSeconds(t, instance)-since >= seconds {
			return
		}
	}
}

// CheckCores compares a measured CPU rate with what the processes had
// over the same window by their own /proc times: within 15% (and 0.02
// cores), which a conversion error or a missed child exceeds by far. It
// fails the test outright when they had almost nothing, since nothing can
// be judged then.
func CheckCores(t testing.TB, what string, cores, had float64) {
	t.Helper()
	if had < 0.05 {
		t.Fatalf("%s got %.2f cores: the machine is too busy to measure anything", what, had)
	}
	if cores < had*0.85-0.02 || cores > had*1.15+0.02 {
		t.Errorf("%s: measured %.2f cores, the processes' own /proc times say %.2f", what, cores, had)
	}
}
