package docker

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/proctest"
	"github.com/haven-platform/haven/internal/spec"
)

// TestStats: a real container with a CPU limit of half a core, a 64 MiB
// memory limit and a volume, spinning a core: its cgroup figures show the
// limits, CPU throttled at the limit, memory under it, the file written to
// its layer and its volume, network bytes after a request, and agree with
// the Engine's own stats.
func TestStats(t *testing.T) {
	d := newDriver(t)
	env := newEnv(t, d, "test")
	svc := spec.Service{Name: "burn", Image: testAppImage(t), Env: map[string]string{"BURN_CPU": "1"},
		Expose:    []int{8080},
		Resources: spec.Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20},
		Volumes:   []spec.Mount{{Type: spec.MountVolume, Source: "data", Target: "/data"}}}
	app := spec.App{Name: env.App, Services: []spec.Service{svc}, Volumes: []spec.Volume{{Name: "data"}}}
	if err := d.EnsureEnv(t.Context(), env, app); err != nil {
		t.Fatal(err)
	}
	inst := start(t, d, env, app, svc)
	blob := strings.Repeat("x", 1<<20)
	writeFile(t, d, inst.ID, "/layer-blob", blob)
	writeFile(t, d, inst.ID, "/data/volume-blob", blob)
	waitHTTP(t, inst.Addr(8080))

	c, err := d.cli.ContainerInspect(t.Context(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	pa, _ := proctest.CPUSeconds(c.State.Pid)
	a, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	time.Sleep(2 * time.Second)
	b, err := d.Stats(t.Context(), inst.ID)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	pb, _ := proctest.CPUSeconds(c.State.Pid)
	if b.CPULimit != 0.5 {
		t.Errorf("CPULimit = %v, want 0.5", b.CPULimit)
	}
	if b.MemoryLimit != 64<<20 {
		t.Errorf("MemoryLimit = %d, want 64 MiB", b.MemoryLimit)
	}
	// The limit must hold however idle the machine is; how close to it the
	// container gets depends on what else runs, so the figure is checked
	// against what the kernel says the container's only process had in
	// the same window (its /proc times, a source Stats does not read).
	window := b.Time.Sub(a.Time).Seconds()
	cores, had := (b.CPUSeconds-a.CPUSeconds)/window, (pb-pa)/window
	if cores > 0.6 {
		t.Errorf("a spinning container limited to 0.5 cores uses %.2f", cores)
	}
	proctest.CheckCores(t, "a spinning container limited to 0.5 cores", cores, had)
	if b.MemoryBytes <= 0 || b.MemoryBytes >= b.MemoryLimit {
		t.Errorf("MemoryBytes = %d, want some, under the limit", b.MemoryBytes)
	}
	if b.DiskBytes < 2<<20 {
		t.Errorf("DiskBytes = %d, want the 1 MiB in the layer plus the 1 MiB in the volume", b.DiskBytes)
	}
	if b.DiskLimit <= b.DiskBytes {
		t.Errorf("DiskLimit = %d, want the size of Docker's filesystem", b.DiskLimit)
	}
	if b.NetRxBytes == 0 || b.NetTxBytes == 0 {
		t.Errorf("network bytes = %d/%d after an HTTP exchange, want some", b.NetRxBytes, b.NetTxBytes)
	}

	var e driver.Stats
	if err := d.statsFromEngine(t.Context(), inst.ID, &e); err != nil {
		t.Fatalf("Engine stats: %v", err)
	}
	if e.CPUSeconds < b.CPUSeconds || e.CPUSeconds > b.CPUSeconds+2 {
		t.Errorf("Engine says %.2f CPU seconds, cgroup %.2f a moment before", e.CPUSeconds, b.CPUSeconds)
	}
	if e.NetRxBytes < b.NetRxBytes {
		t.Errorf("Engine says %d bytes received, /proc %d a moment before", e.NetRxBytes, b.NetRxBytes)
	}

	// With the cgroup files out of reach, Stats falls back on the Engine.
	d.stats.mu.Lock()
	d.stats.conts[inst.ID].cpuacctDir = ""
	d.stats.mu.Unlock()
	f, err := d.Stats(t.Context(), inst.ID)
	if err != nil || f.CPUSeconds < b.CPUSeconds || f.MemoryLimit != 64<<20 || f.DiskBytes != b.DiskBytes {
		t.Errorf("Stats without cgroup files = %+v, %v; want Engine figures at least those of the cgroup", f, err)
	}

	if err := d.Stop(t.Context(), inst.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stats(t.Context(), inst.ID); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Stats after Stop: %v, want ErrNotFound", err)
	}
}

// TestStatsFiles: the cgroup file parsers.
func TestStatsFiles(t *testing.T) {
	if v, ok := statField([]byte("cache 5\ntotal_inactive_file 4096\ntotal_x 1\n"), "total_inactive_file"); !ok || v != 4096 {
		t.Errorf("statField = %d, %v", v, ok)
	}
	if _, ok := statField([]byte("inactive_file_x 1\n"), "inactive_file"); ok {
		t.Errorf("statField matched a prefix")
	}
}
