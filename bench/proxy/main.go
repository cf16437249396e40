// Command proxy benchmarks Haven's ingress against nginx and against the
// backend reached directly, in one run on loopback, with wrk as the load
// generator. It prints requests per second and p99 latency for each, and
// the ratios to nginx and to direct, never a bare number alone.
//
// The backend and Haven's proxy run as child processes of this command
// (re-executed with -role), like nginx, so no two contenders share a Go
// runtime. Every child is stopped on exit, also on Ctrl-C.
//
// Usage: go run ./bench/proxy [-duration 10s] [-connections 64] [-threads 2]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/haven-platform/haven/internal/proxy"
	"github.com/haven-platform/haven/internal/spec"
)

// args are the command's flags, validated in one place.
type args struct {
	role     string // "" runs the benchmark; "backend" and "haven" are the children
	listen   string
	upstream string

	duration    time.Duration
	warmup      time.Duration
	connections int
	threads     int
	nginx       string
	wrk         string
	nginxProcs  string
	cpuProfile  string
	weighted    bool // the haven child splits traffic 90/10 between two target groups
}

func parseArgs() (args, error) {
	var a args
	flag.StringVar(&a.role, "role", "", "internal: run as the benchmark's `backend` or `haven` child")
	flag.StringVar(&a.listen, "listen", "", "internal: the child's listen address")
	flag.StringVar(&a.upstream, "upstream", "", "internal: the haven child's backend address")
	flag.DurationVar(&a.duration, "duration", 10*time.Second, "wrk duration per target")
	flag.DurationVar(&a.warmup, "warmup", 2*time.Second, "unmeasured wrk run before each target (0: none)")
	flag.IntVar(&a.connections, "connections", 64, "wrk connections")
	flag.IntVar(&a.threads, "threads", 2, "wrk threads")
	flag.StringVar(&a.nginx, "nginx", "/usr/sbin/nginx", "nginx binary")
	flag.StringVar(&a.wrk, "wrk", "wrk", "wrk binary")
	flag.StringVar(&a.nginxProcs, "nginx-workers", "auto", "nginx worker_processes")
	flag.StringVar(&a.cpuProfile, "cpuprofile", "", "write the haven child's CPU profile to `file`")
	flag.BoolVar(&a.weighted, "weighted", false, "internal: the haven child splits traffic 90/10 between two groups")
	flag.Parse()
	switch {
	case a.role != "" && a.role != "backend" && a.role != "haven" && a.role != "httputil":
		return a, fmt.Errorf("-role %q: want backend, haven or httputil", a.role)
	case a.role != "" && a.listen == "":
		return a, errors.New("-role needs -listen")
	case a.duration < time.Second || a.duration > 10*time.Minute:
		return a, fmt.Errorf("-duration %v: want 1s to 10m", a.duration)
	case a.connections < 1 || a.threads < 1 || a.threads > a.connections:
		return a, fmt.Errorf("-connections %d -threads %d: want 1 <= threads <= connections", a.connections, a.threads)
	}
	return a, nil
}

func main() {
	a, err := parseArgs()
	if err == nil {
		switch a.role {
		case "backend":
			err = serveBackend(a.listen)
		case "haven":
			err = serveHaven(a.listen, a.upstream, a.cpuProfile, a.weighted)
		case "httputil":
			err = serveHTTPUtil(a.listen, a.upstream)
		default:
			err = run(a)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/proxy:", err)
		os.Exit(1)
	}
}

// body is the backend's answer: about 100 bytes, like a small JSON reply.
var body = []byte(`{"status":"ok","service":"bench","message":"hello from the backend","padding":"xxxxxxxxxxxxxxx"}` + "\n")

func serveBackend(addr string) error {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	return (&http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}).ListenAndServe()
}

// serveHaven runs Haven's proxy in front of upstream. weighted lists the
// upstream twice, as a stable and a canary group weighted 90/10, which is
// the request path of a canary release: a group draw per request and
// per-group statistics.
func serveHaven(addr, upstream, cpuProfile string, weighted bool) error {
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		// Stopped on SIGTERM, which is how the benchmark ends its children.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		go func() { <-sig; pprof.StopCPUProfile(); f.Close(); os.Exit(0) }()
	}
	p := proxy.New(proxy.Config{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	b := proxy.Backend{
		Name:    "bench/default/backend",
		Routes:  []spec.Route{{PathPrefix: "/"}},
		Targets: []proxy.Target{{ID: "backend-1", Addr: upstream}},
	}
	if weighted {
		b.Targets = []proxy.Target{{ID: "stable-1", Addr: upstream, Group: "stable"}, {ID: "canary-1", Addr: upstream, Group: "canary"}}
		b.Weights = map[string]int{"stable": 90, "canary": 10}
	}
	p.Update([]proxy.Backend{b})
	return p.Server(addr).ListenAndServe()
}

// serveHTTPUtil is the floor for any Go proxy: a bare
// httputil.ReverseProxy with a pooled Transport and a buffer pool (without
// one it allocates 32 KiB per request and runs at about two thirds of this
// speed), and no routing, balancing, retries or request IDs. The gap between it and haven is Haven's own cost;
// the gap between it and nginx is net/http's.
func serveHTTPUtil(addr, upstream string) error {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: upstream})
			pr.Out.Host = pr.In.Host
		},
		Transport:  &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true},
		BufferPool: &bufferPool{sync.Pool{New: func() any { return make([]byte, 32<<10) }}},
		ErrorLog:   log.New(io.Discard, "", 0), // wrk's cancelled requests at the end of a run
	}
	return (&http.Server{Addr: addr, Handler: rp, ReadHeaderTimeout: 10 * time.Second}).ListenAndServe()
}

type bufferPool struct{ sync.Pool }

func (p *bufferPool) Get() []byte { return p.Pool.Get().([]byte) }
func (p *bufferPool) Put(b []byte) {
	//lint:ignore SA6002 a slice header per Put is cheaper than a 32 KiB buffer per request
	p.Pool.Put(b)
}

// result is one wrk measurement.
type result struct {
	name   string
	rps    float64
	p99    time.Duration
	errors string // wrk's socket errors and non-2xx count, "" if none
}

func run(a args) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, bin := range []string{a.nginx, a.wrk} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found (apt-get install -y wrk nginx-light): %w", bin, err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "haven-bench-proxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var children []*exec.Cmd
	defer func() {
		for _, c := range children {
			stopChild(c)
		}
	}()
	start := func(name string, cmd *exec.Cmd, addr string) error {
		cmd.Stderr = os.Stderr
		// If this process dies without cleaning up, the kernel stops the child.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		children = append(children, cmd)
		if err := waitReady(ctx, "http://"+addr+"/"); err != nil {
			return fmt.Errorf("%s on %s: %w", name, addr, err)
		}
		return nil
	}

	backendAddr, nginxAddr, havenAddr, stdAddr, weightedAddr := freeAddr(), freeAddr(), freeAddr(), freeAddr(), freeAddr()
	if err := start("backend", exec.Command(self, "-role=backend", "-listen="+backendAddr), backendAddr); err != nil {
		return err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(dir, a.nginxProcs, nginxAddr, backendAddr)), 0o644); err != nil {
		return err
	}
	if err := start("nginx", exec.Command(a.nginx, "-e", "stderr", "-p", dir, "-c", conf), nginxAddr); err != nil {
		return err
	}
	if err := start("haven", exec.Command(self, "-role=haven", "-listen="+havenAddr, "-upstream="+backendAddr, "-cpuprofile="+a.cpuProfile), havenAddr); err != nil {
		return err
	}
	if err := start("haven 90/10", exec.Command(self, "-role=haven", "-weighted", "-listen="+weightedAddr, "-upstream="+backendAddr), weightedAddr); err != nil {
		return err
	}
	if err := start("httputil", exec.Command(self, "-role=httputil", "-listen="+stdAddr, "-upstream="+backendAddr), stdAddr); err != nil {
		return err
	}

	fmt.Printf("wrk -t%d -c%d -d%s, warm-up %s, on %d CPUs; backend answers %d bytes\n",
		a.threads, a.connections, a.duration, a.warmup, runtime.NumCPU(), len(body))
	var results []result
	for _, t := range []struct{ name, addr string }{{"direct", backendAddr}, {"nginx", nginxAddr}, {"httputil", stdAddr}, {"haven", havenAddr}, {"haven 90/10", weightedAddr}} {
		url := "http://" + t.addr + "/"
		if a.warmup > 0 {
			if _, err := runWrk(ctx, a, url, a.warmup); err != nil {
				return fmt.Errorf("warm up %s: %w", t.name, err)
			}
		}
		r, err := runWrk(ctx, a, url, a.duration)
		if err != nil {
			return fmt.Errorf("measure %s: %w", t.name, err)
		}
		r.name = t.name
		results = append(results, r)
	}
	printTable(os.Stdout, results)
	return nil
}

func nginxConfig(dir, workers, listen, backend string) string {
	return fmt.Sprintf(`daemon off;
master_process on;
worker_processes %s;
pid %[2]s/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[2]s/client_body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  upstream backend {
    server %[4]s;
    keepalive 64;
  }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`, workers, dir, listen, backend)
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stopChild asks a child to stop (nginx's master stops its workers on
// SIGTERM) and kills it if it has not exited within 5s.
func stopChild(c *exec.Cmd) {
	c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.Process.Kill()
		<-done
	}
}

func runWrk(ctx context.Context, a args, url string, d time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.wrk, "-t"+strconv.Itoa(a.threads), "-c"+strconv.Itoa(a.connections),
		"-d"+strconv.Itoa(int(d.Seconds()))+"s", "--latency", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return result{}, fmt.Errorf("wrk stopped: %w", context.Cause(ctx))
		}
		return result{}, fmt.Errorf("%v: %s", err, out)
	}
	return parseWrk(string(out))
}

var (
	rpsRe      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	p99Re      = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)\b`)
	sockErrRe  = regexp.MustCompile(`(?m)^\s+Socket errors: (.*)$`)
	non2xxRe   = regexp.MustCompile(`(?m)^\s+Non-2xx or 3xx responses: (\d+)`)
	unitFactor = map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}
)

func parseWrk(out string) (result, error) {
	var r result
	m := rpsRe.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m = p99Re.FindStringSubmatch(out); m == nil {
		return r, fmt.Errorf("no 99%% latency in wrk output:\n%s", out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	r.p99 = time.Duration(v * float64(unitFactor[m[2]]))
	var errs []string
	if m = sockErrRe.FindStringSubmatch(out); m != nil {
		errs = append(errs, "socket: "+m[1])
	}
	if m = non2xxRe.FindStringSubmatch(out); m != nil {
		errs = append(errs, "non-2xx: "+m[1])
	}
	r.errors = strings.Join(errs, "; ")
	return r, nil
}

func printTable(w io.Writer, rs []result) {
	base := map[string]float64{}
	for _, r := range rs {
		base[r.name] = r.rps
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tp99\tvs nginx\tvs direct\terrors\t")
	for _, r := range rs {
		errs := r.errors
		if errs == "" {
			errs = "none"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%.2f\t%.2f\t%s\t\n", r.name, r.rps, r.p99.Round(time.Microsecond),
			r.rps/base["nginx"], r.rps/base["direct"], errs)
	}
	tw.Flush()
}
