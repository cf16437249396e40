package process

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// reference runs script outside any driver, the same program the instance
// runs, so a test can compare the CPU Stats reports with what the same work
// got from this machine in the same moments (other tests share its CPUs).
type reference struct {
	pid   int
	ticks uint64
}

func startReference(t *testing.T, script string) reference {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	_, ticks, err := procStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return reference{cmd.Process.Pid, ticks}
}

// cpu is the reference's CPU seconds so far.
func (r reference) cpu(t *testing.T) float64 {
	t.Helper()
	c, _, ok := treeUsage(r.pid, r.ticks)
	if !ok {
		t.Fatal("the reference process is gone")
	}
	return float64(c) / clockTicks
}

// checkCores compares the instance's cores with the reference's over the
// same interval: on a loaded machine both get less than a core, alike; a
// tick conversion error would be off by 10× or more.
func checkCores(t *testing.T, what string, inst, ref float64) {
	t.Helper()
	if ref < 0.2 {
		t.Skipf("the machine is too loaded: the reference loop got %.2f cores", ref)
	}
	if ratio := inst / ref; ratio < 0.3 || ratio > 3.5 || inst > 1.2 {
		t.Errorf("%s uses %.2f cores where the same loop outside the driver got %.2f (ratio %.2f, want 0.3–3.5, and at most one core)", what, inst, ref, ratio)
	}
}

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
	ref := startReference(t, "while :; do :; done")
	time.Sleep(300 * time.Millisecond) // the blob is written

	first, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	ref0 := ref.cpu(t)
	time.Sleep(2 * time.Second)
	second, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	ref1 := ref.cpu(t)
	secs := second.Time.Sub(first.Time).Seconds()
	checkCores(t, "the busy loop", (second.CPUSeconds-first.CPUSeconds)/secs, (ref1-ref0)/secs)
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
	ref := startReference(t, "yes > /dev/null & wait")
	time.Sleep(200 * time.Millisecond)
	a, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	ref0 := ref.cpu(t)
	time.Sleep(1500 * time.Millisecond)
	b, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	ref1 := ref.cpu(t)
	secs := b.Time.Sub(a.Time).Seconds()
	checkCores(t, "a forked busy child", (b.CPUSeconds-a.CPUSeconds)/secs, (ref1-ref0)/secs)
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
