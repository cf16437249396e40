// Command collector measures the CPU cost of Haven's metrics collector with
// many running instances, against the target of under 5% of one core.
//
// It starts -n instances (default 50) of `sleep` under the process driver
// and a real proxy with one routed backend per instance (requests are sent
// through it, so the ingress half of each pass has counters to read), then
// runs collect.Collector passes every -interval (2s, Haven's default) for
// -duration (60s).
//
// Two figures are printed:
//   - collector CPU: each pass runs on a goroutine locked to its OS thread
//     and the thread's CPU time (getrusage RUSAGE_THREAD) is read around
//     it, so the process driver's supervisors, which share this process,
//     are not counted. This is the figure checked against -target.
//   - process CPU above baseline: the whole process's CPU during the
//     collection, minus its CPU during a baseline of -baseline without
//     passes (supervisors only), scaled to the same length. It includes
//     what a pass starts in the background (disk sizes, once a minute)
//     and garbage collection; it is noisier.
//
// Usage: go run ./bench/collector [-n 50] [-duration 60s] [-interval 2s] [-baseline 20s] [-target 5]
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/haven-platform/haven/internal/collect"
	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/driver/process"
	"github.com/haven-platform/haven/internal/proxy"
	"github.com/haven-platform/haven/internal/spec"
)

const rusageThread = 1 // RUSAGE_THREAD (linux)

func main() {
	n := flag.Int("n", 50, "running instances")
	duration := flag.Duration("duration", 60*time.Second, "collection time measured")
	interval := flag.Duration("interval", 2*time.Second, "time between passes")
	baseline := flag.Duration("baseline", 20*time.Second, "time measured without passes, for the process figure")
	target := flag.Float64("target", 5, "maximum collector CPU, % of one core")
	flag.Parse()
	if err := run(*n, *duration, *interval, *baseline, *target); err != nil {
		fmt.Fprintln(os.Stderr, "bench/collector:", err)
		os.Exit(1)
	}
}

func run(n int, duration, interval, baseline time.Duration, target float64) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "haven-bench-collector-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d, err := process.New(dir)
	if err != nil {
		return err
	}
	defer d.Close()

	upstream := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer upstream.Close()
	p := proxy.New(proxy.Config{})
	env := spec.AppEnv{App: "bench", Env: "prod"}
	var insts []collect.Instance
	var backends []collect.Backend
	var table []proxy.Backend
	for i := range n {
		name := "svc" + strconv.Itoa(i)
		l := spec.InstanceLabels{App: env.App, Env: env.Env, Service: name, Revision: "r1", Instance: name + "-1"}
		inst, err := d.Start(ctx, driver.StartRequest{Labels: l, App: spec.App{Name: env.App},
			Service: spec.Service{Name: name, Command: []string{"sleep", "3600"}}})
		if err != nil {
			return fmt.Errorf("start instance %d: %w", i, err)
		}
		defer d.Stop(context.Background(), inst.ID, 0)
		insts = append(insts, collect.Instance{ID: inst.ID, Labels: l, Running: true,
			Limits: spec.Resources{NanoCPUs: 5e8, MemoryBytes: 256 << 20}})
		bname := env.String() + "/" + name + ":80"
		host := name + ".bench"
		backends = append(backends, collect.Backend{Name: bname, Env: env, Service: name, Route: host + "/"})
		table = append(table, proxy.Backend{Name: bname, Routes: []spec.Route{{Host: host, PathPrefix: "/"}},
			Targets: []proxy.Target{{ID: l.Instance, Addr: upstream.Listener.Addr().String(), Group: "r1"}}})
	}
	p.Update(table)
	for _, b := range table {
		for range 20 {
			r := httptest.NewRequest("GET", "http://"+b.Routes[0].Host+"/", nil)
			p.ServeHTTP(httptest.NewRecorder(), r)
		}
	}

	c := collect.New(collect.Config{Driver: d, Ingress: p, Instances: func() []collect.Instance { return insts },
		Backends: func() []collect.Backend { return backends }, DataDir: dir, Interval: interval})
	c.Collect(ctx) // first sight of each instance: records read, disk measured once
	fmt.Printf("%d instances, %d samples per pass\n", n, len(c.Collect(ctx).Samples))

	fmt.Printf("baseline (no passes) for %s…\n", baseline)
	var bm0, bm1 runtime.MemStats
	runtime.ReadMemStats(&bm0)
	b0 := processCPU()
	time.Sleep(baseline)
	baseCPU := processCPU() - b0
	runtime.ReadMemStats(&bm1)
	// Mallocs are process-wide: the supervisors' share is subtracted.
	baseAllocRate := float64(bm1.Mallocs-bm0.Mallocs) / baseline.Seconds()

	fmt.Printf("collecting every %s for %s…\n", interval, duration)
	type result struct {
		cpu, maxPass, totalPass time.Duration
		passes                  int
		allocs                  uint64
	}
	done := make(chan result)
	p0 := processCPU()
	start := time.Now()
	go func() {
		runtime.LockOSThread()
		var res result
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for time.Since(start) < duration {
			t0, w0 := threadCPU(), time.Now()
			c.Collect(ctx)
			res.cpu += threadCPU() - t0
			w := time.Since(w0)
			res.totalPass += w
			res.maxPass = max(res.maxPass, w)
			res.passes++
			<-tick.C
		}
		runtime.ReadMemStats(&m1)
		res.allocs = m1.Mallocs - m0.Mallocs - min(m1.Mallocs-m0.Mallocs, uint64(baseAllocRate*time.Since(start).Seconds()))
		done <- res
	}()
	res := <-done
	wall := time.Since(start)
	procCPU := processCPU() - p0
	above := procCPU - time.Duration(float64(baseCPU)*float64(wall)/float64(baseline))

	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / wall.Seconds() }
	fmt.Printf("passes: %d, mean %s, max %s, ~%d allocations per pass (above baseline)\n", res.passes,
		(res.totalPass / time.Duration(max(res.passes, 1))).Round(time.Microsecond), res.maxPass.Round(time.Microsecond),
		res.allocs/uint64(max(res.passes, 1)))
	fmt.Printf("collector CPU: %.2f%% of one core (%s over %s)\n", pct(res.cpu), res.cpu.Round(time.Millisecond), wall.Round(time.Second))
	fmt.Printf("process CPU above baseline: %.2f%% of one core (supervisors alone: %.2f%%)\n", pct(above),
		100*baseCPU.Seconds()/baseline.Seconds())
	verdict := "PASS"
	if pct(res.cpu) >= target {
		verdict = "FAIL"
	}
	fmt.Printf("%s: collector CPU %.2f%% vs target < %.1f%% with %d instances\n", verdict, pct(res.cpu), target, n)
	if verdict == "FAIL" {
		return fmt.Errorf("over target")
	}
	return nil
}

// threadCPU is the calling thread's CPU time (user + system).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU is the whole process's CPU time (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
