package soak

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/logs"
	"github.com/haven-platform/haven/internal/metrics"
)

// dirBytes sums the sizes of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// TestTenMinutesWithinBounds runs ten simulated minutes of the load of a
// busy node — 60 instances × 12 metrics every 2s, replacements creating
// new series, and 3,000 log lines per second across 6 services — and checks
// every simulated minute that:
//   - the metrics store's memory and disk stay under the bounds it derives
//     from its configuration (MaxSeries and the tiers), and the Go heap
//     stays under that memory bound plus a fixed allowance;
//   - each service's logs stay under MaxBytesPerService plus one segment,
//     whatever is written.
//
// The clock is simulated so the test takes seconds; the stores' bounds do
// not depend on wall time, only on what is written and on their clocks.
func TestTenMinutesWithinBounds(t *testing.T) {
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	now := start
	clock := func() time.Time { return now }

	mdir, ldir := t.TempDir(), t.TempDir()
	ms, err := metrics.Open(metrics.Options{Dir: mdir, MaxSeries: 1000, Now: clock, SnapshotInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	const perService = 4 << 20
	const segment = 512 << 10
	ls, err := logs.Open(logs.Options{Dir: ldir, SegmentBytes: segment, MaxBytesPerService: perService, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()

	names := []string{"cpu_cores", "cpu_limit_ratio", "memory_bytes", "memory_limit_ratio", "disk_bytes", "disk_ratio",
		"net_rx_bytes_total", "net_tx_bytes_total", "restarts_10m", "requests_total", "errors_total", "latency_p95_seconds"}
	text := strings.Repeat("x", 120)
	var heapBase runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&heapBase)

	for tick := 0; tick < 300; tick++ { // 10 minutes at the collector's 2s
		now = start.Add(time.Duration(tick) * 2 * time.Second)
		generation := tick / 30 // every minute every instance is replaced: new series
		for i := 0; i < 60; i++ {
			labels := metrics.Labels{"env": "prod", "app": "mall", "service": fmt.Sprintf("svc%d", i%6), "instance": fmt.Sprintf("i%d-%d", i, generation)}
			for k, n := range names {
				if err := ms.Append(n, labels, now, float64(tick*k)); err != nil && !strings.Contains(err.Error(), "too many series") {
					t.Fatalf("append %s: %v", n, err)
				}
			}
		}
		batch := make([]logs.Line, 0, 6000)
		for j := 0; j < 6000; j++ { // 3,000 lines/s over the 2s tick
			batch = append(batch, logs.Line{Time: now.Add(time.Duration(j) * time.Millisecond / 3), Env: "prod", App: "mall",
				Service: fmt.Sprintf("svc%d", j%6), Instance: "i", Stream: "stdout", Text: text})
		}
		if err := ls.Append(batch...); err != nil {
			t.Fatal(err)
		}
		if tick%30 == 29 {
			if err := ms.Snapshot(); err != nil {
				t.Fatal(err)
			}
			st := ms.Stats()
			if st.MemoryBytes > st.MaxMemoryBytes || st.DiskBytes > st.MaxDiskBytes || st.Series > st.MaxSeries {
				t.Fatalf("minute %d: metrics %+v beyond their bounds", tick/30+1, st)
			}
			if disk := dirBytes(t, mdir); disk > st.MaxDiskBytes {
				t.Fatalf("minute %d: metrics files take %d bytes, bound %d", tick/30+1, disk, st.MaxDiskBytes)
			}
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			if grown := int64(m.HeapAlloc) - int64(heapBase.HeapAlloc); grown > st.MaxMemoryBytes+64<<20 {
				t.Fatalf("minute %d: heap grew %d bytes, bound %d", tick/30+1, grown, st.MaxMemoryBytes+64<<20)
			}
			for _, s := range ls.Stats().Services {
				if s.Bytes > perService+segment {
					t.Fatalf("minute %d: logs of %s take %d bytes, bound %d", tick/30+1, s.Service, s.Bytes, perService+segment)
				}
			}
			t.Logf("minute %2d: %d series, metrics memory %.1f MB (bound %.1f), disk %.1f MB (bound %.1f); logs %.1f MB in %d segments",
				tick/30+1, st.Series, float64(st.MemoryBytes)/1e6, float64(st.MaxMemoryBytes)/1e6, float64(st.DiskBytes)/1e6, float64(st.MaxDiskBytes)/1e6,
				float64(ls.Stats().Bytes)/1e6, ls.Stats().Segments)
		}
	}
	if st := ms.Stats(); st.Series < 900 || st.RefusedTooManySeries == 0 {
		t.Fatalf("the series bound was not exercised: %+v", st)
	}
	if total := ls.Stats().Bytes; total < 6*perService/2 {
		t.Fatalf("only %d bytes of logs kept: retention was not exercised", total)
	}
}
