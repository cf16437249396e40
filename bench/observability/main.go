// Command observability benchmarks Haven's observability pipeline. The logs
// part measures ingestion through logs.Store.Append the way the agent feeds
// it — 50 instances appending batches of ~100 lines concurrently — against a
// reference measured in the same run: the same bytes written to one file
// through bufio, which is the least any log store has to do. It prints
// lines/s, MB/s, CPU and the ratio to the reference, then a full
// time-ordered query over what was stored, and exits 1 when ingestion is
// below the floor of 50,000 lines/s.
//
// Usage: go run ./bench/observability [-instances 50] [-batches 200] [-batch 100]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/haven-platform/haven/internal/logs"
)

// floor is the ingestion rate issue 4 requires.
const floor = 50_000

func main() {
	instances := flag.Int("instances", 50, "concurrent instances appending")
	batches := flag.Int("batches", 200, "batches per instance")
	per := flag.Int("batch", 100, "lines per batch")
	flag.Parse()

	dir, err := os.MkdirTemp("", "haven-bench-observability-")
	check(err)
	defer os.RemoveAll(dir)

	load := logLoad(*instances, *batches, *per)
	fmt.Printf("log ingestion: %d instances × %d batches × %d lines = %d lines, GOMAXPROCS=%d\n\n",
		*instances, *batches, *per, *instances**batches**per, runtime.GOMAXPROCS(0))

	ref := measureRawWrite(filepath.Join(dir, "raw.log"), load)
	store := measureAppend(filepath.Join(dir, "store"), load)
	query := measureQuery(filepath.Join(dir, "store"))

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\tlines\tlines/s\tMB/s (text)\tCPU s\tdisk MB\t")
	for _, r := range []result{ref, store, query} {
		fmt.Fprintf(w, "%s\t%d\t%.0f\t%.1f\t%.2f\t%.1f\t\n", r.name, r.lines, r.linesPerSec(), r.mbPerSec(), r.cpu.Seconds(), float64(r.disk)/1e6)
	}
	w.Flush()
	fmt.Printf("\nStore.Append / raw bufio write: %.2f× the lines/s (%.1f%% of the reference)\n",
		store.linesPerSec()/ref.linesPerSec(), 100*store.linesPerSec()/ref.linesPerSec())
	fmt.Printf("disk per line: store %.0f B, raw %.0f B\n", float64(store.disk)/float64(store.lines), float64(ref.disk)/float64(ref.lines))
	if store.linesPerSec() < floor {
		fmt.Printf("FAIL: ingestion %.0f lines/s < %d\n", store.linesPerSec(), floor)
		os.Exit(1)
	}
	fmt.Printf("PASS: ingestion %.0f lines/s ≥ %d\n", store.linesPerSec(), floor)
}

// result is one measurement.
type result struct {
	name  string
	lines int
	bytes int64 // text bytes
	disk  int64
	wall  time.Duration
	cpu   time.Duration // user+system of the whole process during the run
}

func (r result) linesPerSec() float64 { return float64(r.lines) / r.wall.Seconds() }
func (r result) mbPerSec() float64    { return float64(r.bytes) / 1e6 / r.wall.Seconds() }

// logLoad builds per-instance batches: 10 services with 5 instances each at
// the default size; a third of the lines are JSON, like a typical service
// that logs structured errors and plain access lines.
func logLoad(instances, batches, per int) [][][]logs.Line {
	t0 := time.Now().Add(-time.Hour)
	out := make([][][]logs.Line, instances)
	for i := range out {
		svc := fmt.Sprint("svc", i%10)
		inst := fmt.Sprintf("%s-%d", svc, i/10)
		for b := range batches {
			batch := make([]logs.Line, per)
			for j := range batch {
				n := b*per + j
				text := fmt.Sprintf("2025-03-01T12:00:00Z GET /api/items/%d 200 %dms user=%d trace=%016x", n, n%97, n%1000, n*7919)
				if n%3 == 0 {
					text = fmt.Sprintf(`{"level":"info","msg":"request served","method":"GET","path":"/api/items/%d","status":200,"duration_ms":%d.5}`, n, n%97)
				}
				batch[j] = logs.Line{Time: t0.Add(time.Duration(n) * time.Millisecond), Env: "prod", App: "bench", Service: svc, Instance: inst, Stream: "stdout", Text: text}
			}
			out[i] = append(out[i], batch)
		}
	}
	return out
}

// measureRawWrite is the reference: every line's text and a newline through
// one bufio.Writer into one file, then fsync — no framing, no index, no
// concurrency.
func measureRawWrite(path string, load [][][]logs.Line) result {
	r := result{name: "raw bufio write (reference)"}
	cpu0 := cpuTime()
	start := time.Now()
	f, err := os.Create(path)
	check(err)
	w := bufio.NewWriterSize(f, 64<<10)
	for _, inst := range load {
		for _, batch := range inst {
			for _, l := range batch {
				w.WriteString(l.Text)
				w.WriteByte('\n')
				r.lines++
				r.bytes += int64(len(l.Text))
			}
		}
	}
	check(w.Flush())
	check(f.Sync())
	check(f.Close())
	r.wall, r.cpu = time.Since(start), cpuTime()-cpu0
	r.disk = diskBytes(path)
	return r
}

// measureAppend appends the load from one goroutine per instance, as the
// agent's per-instance log readers would, and closes the store (the final
// fsync is part of the cost).
func measureAppend(dir string, load [][][]logs.Line) result {
	r := result{name: "logs.Store.Append"}
	for _, inst := range load {
		for _, batch := range inst {
			for _, l := range batch {
				r.lines++
				r.bytes += int64(len(l.Text))
			}
		}
	}
	s, err := logs.Open(logs.Options{Dir: dir, MaxBytesPerService: 1 << 40})
	check(err)
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for _, inst := range load {
		wg.Go(func() {
			for _, batch := range inst {
				check(s.Append(batch...))
			}
		})
	}
	wg.Wait()
	check(s.Close())
	r.wall, r.cpu = time.Since(start), cpuTime()-cpu0
	r.disk = diskBytes(dir)
	return r
}

// measureQuery reads back every service in time order, merged across its
// instances, as `haven logs SERVICE` does.
func measureQuery(dir string) result {
	r := result{name: "logs.Store.Query (read back)"}
	s, err := logs.Open(logs.Options{Dir: dir, MaxBytesPerService: 1 << 40})
	check(err)
	defer s.Close()
	cpu0 := cpuTime()
	start := time.Now()
	for _, svc := range s.Stats().Services {
		q := logs.Query{Env: svc.Env, App: svc.App, Service: svc.Service}
		check(s.Query(context.Background(), q, func(l logs.Line) error {
			r.lines++
			r.bytes += int64(len(l.Text))
			return nil
		}))
	}
	r.wall, r.cpu = time.Since(start), cpuTime()-cpu0
	r.disk = s.Stats().Bytes
	return r
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func diskBytes(path string) int64 {
	var n int64
	check(filepath.Walk(path, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return err
	}))
	return n
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/observability:", err)
		os.Exit(2)
	}
}
