package process

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/proctest"
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

	had0 := proctest.InstanceCPUSeconds(t, inst.Labels.Instance)
	first, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	proctest.WaitForCPU(t, inst.Labels.Instance, had0, 1, 20*time.Second)
	second, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	had1 := proctest.InstanceCPUSeconds(t, inst.Labels.Instance)
	window := second.Time.Sub(first.Time).Seconds()
	// A single-threaded loop uses at most one core, and less when the
	// suite's other packages compete for this machine's CPUs: the figure
	// is checked against what the kernel says the loop had.
	proctest.CheckCores(t, "busy loop", (second.CPUSeconds-first.CPUSeconds)/window, (had1-had0)/window)
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
	had0 := proctest.InstanceCPUSeconds(t, inst.Labels.Instance)
	a, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	proctest.WaitForCPU(t, inst.Labels.Instance, had0, 1, 20*time.Second)
	b, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	had1 := proctest.InstanceCPUSeconds(t, inst.Labels.Instance)
	window := b.Time.Sub(a.Time).Seconds()
	proctest.CheckCores(t, "a forked busy child", (b.CPUSeconds-a.CPUSeconds)/window, (had1-had0)/window)
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
