package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// TestStatsBusyLoop: a shell spinning in a loop uses about one core, its
// memory is the shell's resident set, and its volume's file counts as disk.
func TestStatsBusyLoop(t *testing.T) {
	d := newDriver(t, openDir(t))
	app := spec.App{Name: "st", Volumes: []spec.Volume{{Name: "data"}}}
	svc := spec.Service{Name: "burn", Command: []string{"sh", "-c", `head -c 1048576 /dev/zero > "$HAVEN_VOLUME_DATA/blob"; while :; do :; done`},
		Volumes: []spec.Mount{{Type: spec.MountVolume, Source: "data", Target: "/data"}}}
	if err := d.EnsureEnv(t.Context(), spec.AppEnv{App: "st", Env: "test"}, app); err != nil {
		t.Fatal(err)
	}
	inst := start(t, d, svc, app)
	time.Sleep(300 * time.Millisecond) // the blob is written

	had0 := instanceCPUSeconds(t, inst.Labels.Instance)
	first, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	time.Sleep(2 * time.Second)
	second, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	had1 := instanceCPUSeconds(t, inst.Labels.Instance)
	window := second.Time.Sub(first.Time).Seconds()
	// A single-threaded loop uses at most one core, and less when the
	// suite's other packages compete for this machine's CPUs: the figure
	// is checked against what the kernel says the loop had.
	checkCores(t, "busy loop", (second.CPUSeconds-first.CPUSeconds)/window, (had1-had0)/window)
	if cores := (second.CPUSeconds - first.CPUSeconds) / window; cores > 1.2 {
		t.Errorf("a single-threaded loop uses %.2f cores", cores)
	}
	if second.MemoryBytes <= 0 || second.MemoryBytes > 64<<20 {
		t.Errorf("MemoryBytes = %d, want a shell's resident set", second.MemoryBytes)
	}
	if second.DiskBytes < 1<<20 {
		t.Errorf("DiskBytes = %d, want at least the 1 MiB blob in the volume", second.DiskBytes)
	}
	if second.CPULimit != 0 || second.MemoryLimit != 0 || second.DiskLimit != 0 {
		t.Errorf("limits = %v/%v/%v, want none for a process", second.CPULimit, second.MemoryLimit, second.DiskLimit)
	}

	if err := d.Stop(t.Context(), inst.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stats(t.Context(), inst.ID); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Stats after Stop: %v, want ErrNotFound", err)
	}
}

// TestStatsChildren: CPU of a child process (the shell forks the busy
// program) is the instance's too.
func TestStatsChildren(t *testing.T) {
	d := newDriver(t, openDir(t))
	svc := spec.Service{Name: "kids", Command: []string{"sh", "-c", "yes > /dev/null & wait"}}
	inst := start(t, d, svc, spec.App{Name: "st"})
	time.Sleep(200 * time.Millisecond)
	had0 := instanceCPUSeconds(t, inst.Labels.Instance)
	a, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	b, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	had1 := instanceCPUSeconds(t, inst.Labels.Instance)
	window := b.Time.Sub(a.Time).Seconds()
	checkCores(t, "a forked busy child", (b.CPUSeconds-a.CPUSeconds)/window, (had1-had0)/window)
}

// checkCores compares the driver's CPU figure with what the instance's
// processes had according to their own /proc times over the same window:
// on an idle machine a busy loop has a core, on a loaded one less, and the
// figure must follow either way (a conversion error or a missed child is
// off by far more than the margin).
func checkCores(t *testing.T, what string, cores, had float64) {
	t.Helper()
	if had < 0.05 {
		t.Fatalf("%s got %.2f cores: the machine is too busy to measure anything", what, had)
	}
	if cores < had*0.85-0.02 || cores > had*1.15+0.02 {
		t.Errorf("%s: Stats says %.2f cores, the processes' own /proc times say %.2f", what, cores, had)
	}
}

// instanceCPUSeconds adds up user+system CPU time (/proc/<pid>/stat fields
// 14 and 15, clock ticks of 1/100 s) of every live process whose
// environment carries HAVEN_INSTANCE=<instance>: the instance's process and
// the children it forked, found without the driver's own tree walk.
func instanceCPUSeconds(t *testing.T, instance string) float64 {
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
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // exited meanwhile
		}
		_, rest, _ := strings.Cut(string(stat), ") ")
		f := strings.Fields(rest) // f[0] is field 3, the state
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		total += (utime + stime) / 100
		found++
	}
	if found == 0 {
		t.Fatalf("no process carries HAVEN_INSTANCE=%s", instance)
	}
	return total
}

// TestProcTimesSelf: the parser finds the start time in this process's
// /proc/<pid>/stat.
func TestProcTimesSelf(t *testing.T) {
	buf := make([]byte, 4096)
	_, start, err := procTimes(os.Getpid(), buf, true)
	if err != nil || start == 0 {
		t.Fatalf("procTimes(self) = %d, %v", start, err)
	}
}
