package process

import (
	"errors"
	"os"
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

	first, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	time.Sleep(2 * time.Second)
	second, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	cores := (second.CPUSeconds - first.CPUSeconds) / second.Time.Sub(first.Time).Seconds()
	// A single-threaded loop uses at most one core, and less when the
	// suite's other packages compete for this machine's CPUs; what must
	// hold is the scale (a tick conversion error is off by 10× or more).
	if cores < 0.3 || cores > 1.2 {
		t.Errorf("busy loop uses %.2f cores, want between 0.3 and 1.2", cores)
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
	a, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	b, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cores := (b.CPUSeconds - a.CPUSeconds) / b.Time.Sub(a.Time).Seconds(); cores < 0.7 {
		t.Errorf("a forked busy child counts %.2f cores, want about 1", cores)
	}
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
