// Command up measures, side by side in one run on this machine, how long
// docker-compose and Haven take from the start of their command until every
// service of examples/mall passes its health checks. It prints each run, the
// medians and the median ratio haven/compose, and checks that ratio against
// a target (1.5x by default): exit 0 on PASS, 1 on FAIL.
//
// docker-compose: `docker-compose -p benchmall -f FILE up -d`, then `docker
// inspect` every 100ms until all containers are running and, when they have
// a healthcheck, healthy; `down -v` afterwards (untimed).
//
// Haven: `haven up -f FILE --data-dir DIR --ingress 127.0.0.1:PORT` from a
// fresh data directory (so the server autostart is timed too) until it exits
// 0, then one GET /api/products through the ingress; afterwards (untimed)
// `haven down`, the server is stopped and the app's named volumes and network
// are removed so that every run starts fresh, like compose's down -v.
//
// Usage: go run ./bench/up [-runs 3] [-target 1.5] [-timeout 3m] [-v]
package main

import (
	"github.com/haven-platform/haven/bench/internal/benchkit"

	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/haven-platform/haven/internal/compose"
)

// config holds the command's flags, validated in parseConfig.
type config struct {
	runs      int
	target    float64
	upTimeout time.Duration
	file      string
	project   string
	prepare   bool
	warmup    bool
	force     bool
	quietWait time.Duration
	verbose   bool
}

func parseConfig() (config, error) {
	var c config
	flag.IntVar(&c.runs, "runs", 3, "number of measured runs (each runs both tools; the order alternates)")
	flag.Float64Var(&c.target, "target", 1.5, "PASS when the median haven/compose ratio is at most this")
	flag.DurationVar(&c.upTimeout, "timeout", 3*time.Minute, "limit for one tool's up until healthy")
	flag.StringVar(&c.file, "f", "examples/mall/compose.yaml", "compose file, relative to the repository root")
	flag.StringVar(&c.project, "project", "benchmall", "docker-compose project name")
	flag.BoolVar(&c.prepare, "prepare", true, "run examples/mall/build.sh and `docker-compose build` before timing")
	flag.BoolVar(&c.warmup, "warmup", true, "one untimed up/down of each tool before the measured runs")
	flag.BoolVar(&c.force, "force", false, "run even when other Haven-managed containers are on this Docker engine")
	flag.DurationVar(&c.quietWait, "quiet-wait", 5*time.Minute, "how long to wait for other Haven-managed containers to go away before refusing to run")
	flag.BoolVar(&c.verbose, "v", false, "echo the tools' output")
	flag.Parse()
	switch {
	case flag.NArg() != 0:
		return c, fmt.Errorf("unexpected arguments %q", flag.Args())
	case c.runs < 1:
		return c, fmt.Errorf("-runs %d: need at least 1", c.runs)
	case c.target <= 0:
		return c, fmt.Errorf("-target %g: must be positive", c.target)
	case c.upTimeout <= 0:
		return c, fmt.Errorf("-timeout %s: must be positive", c.upTimeout)
	}
	return c, nil
}

func main() { os.Exit(run()) }

// Exit codes.
const (
	exitPass      = 0
	exitFail      = 1 // a run failed or the target was missed
	exitSetup     = 2 // bad flags, missing tools, a failed preparation
	exitInterrupt = 130
)

func run() int {
	cfg, err := parseConfig()
	if err != nil {
		logf("%v", err)
		return exitSetup
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	interrupted := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		logf("%s: stopping and cleaning up (again to quit at once)", s)
		close(interrupted)
		cancel()
		<-sigs
		os.Exit(exitInterrupt)
	}()

	b, err := newBench(ctx, cfg)
	if err != nil {
		logf("setup: %v", err)
		return exitSetup
	}
	defer b.close()

	code := b.main(ctx)
	select {
	case <-interrupted:
		return exitInterrupt
	default:
		return code
	}
}

// bench is one invocation: paths, the app under test and the temp dir.
type bench struct {
	cfg       config
	repo      string // repository root
	file      string // absolute compose file
	app       string // the app name both tools use (compose project for Haven)
	instances int    // containers expected: the sum of replicas
	tmp       string
	haven     string // the haven binary
}

func newBench(ctx context.Context, cfg config) (*bench, error) {
	repo, err := benchkit.RepoRoot()
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, repo: repo, file: filepath.Join(repo, cfg.file)}
	for _, tool := range []string{"docker", "docker-compose", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not on PATH", tool)
		}
	}
	if out, err := b.sh().Cmd(ctx, 30*time.Second, "docker", "version", "--format", "{{.Server.Version}}"); err != nil {
		return nil, fmt.Errorf("docker engine not reachable: %v\n%s", err, out)
	}
	app, err := compose.Load(ctx, compose.Options{Files: []string{b.file}})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", cfg.file, err)
	}
	b.app = app.Name
	for _, s := range app.Services {
		b.instances += s.Replicas
	}
	if b.tmp, err = os.MkdirTemp("", "haven-bench-up-"); err != nil {
		return nil, err
	}
	b.haven = filepath.Join(b.tmp, "haven")
	return b, nil
}

func (b *bench) close() {
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

// result is one measured run of both tools.
type result struct {
	order         string
	compose       time.Duration
	haven         time.Duration
	havenDeployed time.Duration // until the deploy (image builds included) was accepted
	composeErr    error
	havenErr      error
}

func (r result) ok() bool { return r.composeErr == nil && r.havenErr == nil }

func (b *bench) main(ctx context.Context) int {
	if err := b.preflight(ctx); err != nil {
		logf("preflight: %v", err)
		return exitSetup
	}
	if err := b.prepare(ctx); err != nil {
		logf("prepare: %v", err)
		return exitSetup
	}
	if b.cfg.warmup {
		logf("warm-up (untimed): docker-compose")
		d, err := b.measureCompose(ctx)
		if err != nil {
			logf("warm-up docker-compose failed: %v", err)
			return exitFail
		}
		logf("warm-up docker-compose: %.1fs", d.Seconds())
		logf("warm-up (untimed): haven")
		d, _, err = b.measureHaven(ctx, 0)
		if err != nil {
			logf("warm-up haven failed: %v", err)
			return exitFail
		}
		logf("warm-up haven: %.1fs", d.Seconds())
	}

	var results []result
	for i := 1; i <= b.cfg.runs && ctx.Err() == nil; i++ {
		var r result
		composeFirst := i%2 == 1
		doCompose := func() {
			logf("run %d/%d: docker-compose", i, b.cfg.runs)
			r.compose, r.composeErr = b.measureCompose(ctx)
			if r.composeErr == nil {
				logf("run %d/%d: docker-compose ready in %.2fs", i, b.cfg.runs, r.compose.Seconds())
			} else {
				logf("run %d/%d: docker-compose FAILED: %v", i, b.cfg.runs, r.composeErr)
			}
		}
		doHaven := func() {
			logf("run %d/%d: haven", i, b.cfg.runs)
			r.haven, r.havenDeployed, r.havenErr = b.measureHaven(ctx, i)
			if r.havenErr == nil {
				logf("run %d/%d: haven ready in %.2fs (deploy incl. image builds accepted at %.2fs)", i, b.cfg.runs, r.haven.Seconds(), r.havenDeployed.Seconds())
			} else {
				logf("run %d/%d: haven FAILED: %v", i, b.cfg.runs, r.havenErr)
			}
		}
		if composeFirst {
			r.order = "compose,haven"
			doCompose()
			if ctx.Err() == nil {
				doHaven()
			}
		} else {
			r.order = "haven,compose"
			doHaven()
			if ctx.Err() == nil {
				doCompose()
			}
		}
		results = append(results, r)
	}
	return b.report(results)
}

// report prints the table and the verdict and returns the exit code.
func (b *bench) report(results []result) int {
	fmt.Printf("\nexamples/mall (%d containers): time from command start until every service is healthy\n\n", b.instances)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\torder\tdocker-compose s\thaven s\thaven/compose\thaven deploy+build s\t")
	var cs, hs, ds, ratios []float64
	failed := 0
	for i, r := range results {
		c, h, ratio, dep := "FAILED", "FAILED", "-", "-"
		if r.composeErr == nil {
			c = fmt.Sprintf("%.2f", r.compose.Seconds())
			cs = append(cs, r.compose.Seconds())
		}
		if r.havenErr == nil {
			h = fmt.Sprintf("%.2f", r.haven.Seconds())
			dep = fmt.Sprintf("%.2f", r.havenDeployed.Seconds())
			hs = append(hs, r.haven.Seconds())
			ds = append(ds, r.havenDeployed.Seconds())
		}
		if r.ok() {
			x := r.haven.Seconds() / r.compose.Seconds()
			ratio = fmt.Sprintf("%.2fx", x)
			ratios = append(ratios, x)
		} else {
			failed++
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t\n", i+1, r.order, c, h, ratio, dep)
	}
	fmt.Fprintf(tw, "median\t\t%s\t%s\t%s\t%s\t\n", fmtMedian(cs, "%.2f"), fmtMedian(hs, "%.2f"), fmtMedian(ratios, "%.2fx"), fmtMedian(ds, "%.2f"))
	tw.Flush()
	fmt.Println()

	for i, r := range results { // the details were logged on stderr
		if r.composeErr != nil {
			fmt.Printf("run %d docker-compose: %s\n", i+1, benchkit.FirstLine(r.composeErr))
		}
		if r.havenErr != nil {
			fmt.Printf("run %d haven: %s\n", i+1, benchkit.FirstLine(r.havenErr))
		}
	}
	switch {
	case len(results) < b.cfg.runs:
		fmt.Printf("FAIL: interrupted after %d of %d runs\n", len(results), b.cfg.runs)
		return exitFail
	case failed > 0:
		fmt.Printf("FAIL: %d of %d runs failed (target: haven <= %.2fx docker-compose)\n", failed, len(results), b.cfg.target)
		return exitFail
	}
	m := median(ratios)
	if m <= b.cfg.target {
		fmt.Printf("PASS: median haven/compose %.2fx <= target %.2fx\n", m, b.cfg.target)
		return exitPass
	}
	fmt.Printf("FAIL: median haven/compose %.2fx > target %.2fx\n", m, b.cfg.target)
	return exitFail
}

// preflight makes sure this engine is fit for the measurement: no earlier
// bench leftovers, no other Haven running this app, and (see the README) no
// other Haven server with containers on the engine, because each Haven server
// acts on every Haven-labelled container of the Engine.
func (b *bench) preflight(ctx context.Context) error {
	if out, err := b.sh().Cmd(ctx, time.Minute, "docker-compose", "version", "--short"); err != nil {
		return fmt.Errorf("docker-compose: %v\n%s", err, out)
	}
	if err := b.composeDown(ctx); err != nil {
		return fmt.Errorf("remove leftovers of project %s: %w", b.cfg.project, err)
	}
	// Each Haven server acts on every Haven-labelled container of the
	// engine: a server stops the containers of apps its store lacks ("app is
	// down"). Another server running now would stop the bench's app, and the
	// bench's server would stop its apps; the same app would also clash on
	// container, volume and network names.
	deadline := time.Now().Add(b.cfg.quietWait)
	for said := false; ; said = true {
		others, err := b.sh().DockerLines(ctx, "ps", "--filter", "label=dev.haven.managed=true", "--filter", "status=running", "--format", `{{.Label "dev.haven.app"}}/{{.Label "dev.haven.env"}}:{{.Names}}`)
		if err != nil {
			return err
		}
		if len(others) == 0 {
			break
		}
		if b.cfg.force {
			logf("WARNING: -force: other Haven-managed containers run on this engine; their server will stop the bench's app and the bench's server theirs: %s", strings.Join(others, ", "))
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("Haven-managed containers still run on this Docker engine after waiting %s: %s\n"+
				"every Haven server acts on all Haven-labelled containers of the engine (it stops those of apps its store lacks: \"app is down\"),\n"+
				"so another Haven server (examples/mall/run.sh, `go test ./test/...`) would stop the bench's app and the bench's server would stop its apps.\n"+
				"take them down (haven down --data-dir DIR), wait for the tests to end, or pass -force (and -quiet-wait to wait longer)",
				b.cfg.quietWait, strings.Join(others, ", "))
		}
		if !said {
			logf("waiting up to %s for running Haven-managed containers to go away (each Haven server stops what it does not know): %s", b.cfg.quietWait, strings.Join(others, ", "))
		}
		if err := benchkit.Sleep(ctx, 2*time.Second); err != nil {
			return err
		}
	}
	b.havenCleanup(ctx, false) // leftover volumes and network of an earlier bench
	return nil
}

// prepare builds what both tools run from, untimed: the demo's binaries and
// base image (build.sh), the haven binary, and the five service images
// (docker-compose build), so that neither tool compiles code while timed.
func (b *bench) prepare(ctx context.Context) error {
	if b.cfg.prepare {
		logf("prepare: examples/mall/build.sh")
		if out, err := b.sh().Cmd(ctx, 15*time.Minute, filepath.Join(b.repo, "examples/mall/build.sh")); err != nil {
			return fmt.Errorf("examples/mall/build.sh: %v\n%s", err, benchkit.Tail(out, 30))
		}
	}
	logf("prepare: go build -o %s ./cmd/haven", b.haven)
	if out, err := b.sh().Cmd(ctx, 10*time.Minute, "go", "build", "-o", b.haven, "./cmd/haven"); err != nil {
		return fmt.Errorf("go build ./cmd/haven: %v\n%s", err, benchkit.Tail(out, 30))
	}
	if b.cfg.prepare {
		logf("prepare: docker-compose -p %s -f %s build", b.cfg.project, b.cfg.file)
		if out, err := b.sh().Cmd(ctx, 15*time.Minute, "docker-compose", "-p", b.cfg.project, "-f", b.file, "build"); err != nil {
			return fmt.Errorf("docker-compose build: %v\n%s", err, benchkit.Tail(out, 30))
		}
	}
	return nil
}

// measureCompose times `docker-compose up -d` plus the wait for health and
// always takes the project down (untimed).
func (b *bench) measureCompose(ctx context.Context) (elapsed time.Duration, err error) {
	defer func() {
		if derr := b.composeDown(ctx); derr != nil && err == nil {
			err = fmt.Errorf("docker-compose down -v: %w", derr)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, b.cfg.upTimeout)
	defer cancel()

	start := time.Now()
	out, err := b.sh().CmdCtx(ctx, "docker-compose", "-p", b.cfg.project, "-f", b.file, "up", "-d")
	if b.cfg.verbose {
		os.Stderr.WriteString(out)
	}
	if err != nil {
		return 0, fmt.Errorf("docker-compose up -d: %v\n%s", err, benchkit.Tail(out, 20))
	}
	var ids, last []string
	for {
		if len(ids) != b.instances {
			ids, err = b.sh().DockerLines(ctx, "ps", "-aq", "--filter", "label=com.docker.compose.project="+b.cfg.project)
			if err != nil {
				return 0, err
			}
		}
		if len(ids) == b.instances {
			args := append([]string{"inspect", "--format", "{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"}, ids...)
			states, err := b.sh().DockerLines(ctx, args...)
			if err != nil {
				return 0, err
			}
			last = states
			ready := true
			for _, s := range states {
				f := strings.Fields(s)
				if len(f) != 3 {
					return 0, fmt.Errorf("unexpected docker inspect line %q", s)
				}
				switch {
				case f[1] == "exited" || f[1] == "dead":
					return 0, fmt.Errorf("container %s %s; states: %s", strings.TrimPrefix(f[0], "/"), f[1], strings.Join(states, ", "))
				case f[1] != "running" || (f[2] != "healthy" && f[2] != "none"):
					ready = false
				}
			}
			if ready {
				return time.Since(start), nil
			}
		}
		if err := benchkit.Sleep(ctx, 100*time.Millisecond); err != nil {
			return 0, fmt.Errorf("not healthy within %s (%d of %d containers seen): %s", b.cfg.upTimeout, len(ids), b.instances, strings.Join(last, ", "))
		}
	}
}

func (b *bench) composeDown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	out, err := b.sh().CmdCtx(ctx, "docker-compose", "-p", b.cfg.project, "-f", b.file, "down", "-v", "--remove-orphans")
	if err != nil {
		return fmt.Errorf("%v\n%s", err, benchkit.Tail(out, 20))
	}
	return nil
}

var serverPID = regexp.MustCompile(`Started haven server \(pid (\d+)`)

// measureHaven times `haven up` from a fresh data directory (the server is
// started by it), checks the ingress, and always tears everything down
// (untimed). deployed is when haven up printed that the deploy was accepted,
// which comes after the image builds.
func (b *bench) measureHaven(ctx context.Context, n int) (elapsed, deployed time.Duration, err error) {
	dataDir := filepath.Join(b.tmp, "haven-"+strconv.Itoa(n))
	ingress, err := benchkit.FreeAddr()
	if err != nil {
		return 0, 0, err
	}

	var (
		mu  sync.Mutex
		pid int
		log bytes.Buffer
	)
	defer func() {
		mu.Lock()
		p := pid
		mu.Unlock()
		if terr := b.havenTeardown(ctx, dataDir, p); terr != nil && err == nil {
			err = terr
		}
	}()

	upCtx, cancel := context.WithTimeout(ctx, b.cfg.upTimeout+15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(upCtx, b.haven, "up", "-f", b.file, "--data-dir", dataDir, "--driver", "docker", "--ingress", ingress, "--timeout", b.cfg.upTimeout.String())
	cmd.Dir = b.repo
	cmd.Stdout = &lockedWriter{mu: &mu, w: &log}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		mu.Lock()
		log.WriteString(line + "\n")
		if m := serverPID.FindStringSubmatch(line); m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
		if deployed == 0 && strings.HasPrefix(line, "Deploying ") {
			deployed = time.Since(start)
		}
		mu.Unlock()
		if b.cfg.verbose {
			fmt.Fprintln(os.Stderr, "  haven| "+line)
		}
	}
	werr := cmd.Wait()
	elapsed = time.Since(start)
	mu.Lock()
	out := log.String()
	mu.Unlock()
	if werr != nil && ctx.Err() != nil {
		return 0, 0, fmt.Errorf("haven up: interrupted after %.1fs", elapsed.Seconds())
	}
	if werr != nil {
		return 0, 0, fmt.Errorf("haven up: %v after %.1fs\n%s\n%s", werr, elapsed.Seconds(), benchkit.Indent(benchkit.Tail(out, 40)), b.havenDiagnose(ctx, dataDir))
	}
	if !strings.Contains(out, " is ready in ") {
		return 0, 0, fmt.Errorf("haven up exited 0 without reporting ready:\n%s", benchkit.Indent(benchkit.Tail(out, 40)))
	}
	if err := checkIngress(ctx, ingress); err != nil {
		return 0, 0, fmt.Errorf("ready after %.1fs, but %w\n%s", elapsed.Seconds(), err, b.havenDiagnose(ctx, dataDir))
	}
	return elapsed, deployed, nil
}

// checkIngress GETs /api/products through the ingress once: 200 and a JSON
// list of products.
func checkIngress(ctx context.Context, ingress string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ingress+"/api/products", nil)
	if err != nil {
		return err
	}
	req.Host = "mall.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET /api/products through the ingress: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /api/products through the ingress: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var products []map[string]any
	if err := json.Unmarshal(body, &products); err != nil || len(products) == 0 {
		return fmt.Errorf("GET /api/products through the ingress: not a JSON list of products (%v): %.200s", err, body)
	}
	return nil
}

// havenDiagnose gathers what explains a failed haven up: status, ps and the
// end of the server log.
func (b *bench) havenDiagnose(ctx context.Context, dataDir string) string {
	ctx = context.WithoutCancel(ctx)
	var sb strings.Builder
	for _, args := range [][]string{{"status"}, {"ps"}} {
		out, err := b.sh().Cmd(ctx, 15*time.Second, b.haven, append(args, "--data-dir", dataDir)...)
		fmt.Fprintf(&sb, "haven %s", args[0])
		if err != nil {
			fmt.Fprintf(&sb, " (%v)", err)
		}
		fmt.Fprintf(&sb, ":\n%s\n", benchkit.Indent(benchkit.Tail(out, 30)))
	}
	logb, err := os.ReadFile(filepath.Join(dataDir, "server.log"))
	if err != nil {
		fmt.Fprintf(&sb, "server.log: %v\n", err)
	} else {
		lines := strings.Split(string(logb), "\n")
		var notable []string
		for _, l := range lines {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || (strings.Contains(l, "app is down") && !strings.Contains(l, "env="+b.app+"/")) {
				notable = append(notable, l)
			}
		}
		if len(notable) > 0 {
			fmt.Fprintf(&sb, "server.log warnings, errors and stops of other apps:\n%s\n", benchkit.Indent(benchkit.Tail(strings.Join(notable, "\n"), 30)))
		}
		fmt.Fprintf(&sb, "server.log (last lines):\n%s\n", benchkit.Indent(benchkit.Tail(string(logb), 30)))
	}
	return sb.String()
}

// havenTeardown takes the app down, stops the server and removes the app's
// volumes and network, whatever state the run ended in.
func (b *bench) havenTeardown(ctx context.Context, dataDir string, pid int) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	downOK := false
	if _, err := os.Stat(filepath.Join(dataDir, "haven.sock")); err == nil {
		out, err := b.sh().Cmd(ctx, 2*time.Minute+10*time.Second, b.haven, "down", "--data-dir", dataDir, "--app", b.app, "--timeout", "2m")
		if err != nil {
			errs = append(errs, fmt.Errorf("haven down: %v\n%s", err, benchkit.Tail(out, 10)))
		} else {
			downOK = true
		}
	}
	if pid > 0 {
		if err := stopProcess(pid, 15*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop haven server pid %d: %w", pid, err))
		}
	} else if _, err := os.Stat(dataDir); err == nil {
		errs = append(errs, errors.New("no server pid in haven up's output; a server may still run with --data-dir "+dataDir))
	}
	if err := b.havenCleanup(ctx, !downOK); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// havenCleanup removes the app's named volumes and its network, and, when
// removeContainers is set (haven down failed), the app's containers first.
func (b *bench) havenCleanup(ctx context.Context, removeContainers bool) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	label := "label=dev.haven.app=" + b.app
	if removeContainers {
		if ids, err := b.sh().DockerLines(ctx, "ps", "-aq", "--filter", label); err == nil && len(ids) > 0 {
			if out, err := b.sh().Cmd(ctx, time.Minute, "docker", append([]string{"rm", "-f"}, ids...)...); err != nil {
				errs = append(errs, fmt.Errorf("docker rm: %v: %s", err, out))
			}
		}
	}
	vols, err := b.sh().DockerLines(ctx, "volume", "ls", "-q", "--filter", label)
	if err != nil {
		errs = append(errs, err)
	} else if len(vols) > 0 {
		if out, err := b.sh().Cmd(ctx, time.Minute, "docker", append([]string{"volume", "rm"}, vols...)...); err != nil {
			errs = append(errs, fmt.Errorf("docker volume rm: %v: %s", err, strings.TrimSpace(out)))
		}
	}
	// Haven keeps the app's network after down; remove it (when unused) so
	// that each run creates it, as docker-compose's does.
	all, _ := b.sh().DockerLines(ctx, "network", "ls", "--format", "{{.Name}}")
	var nets []string
	for _, n := range all {
		if strings.HasPrefix(n, "haven_"+b.app+"_") {
			nets = append(nets, n)
		}
	}
	if len(nets) > 0 {
		b.sh().Cmd(ctx, time.Minute, "docker", append([]string{"network", "rm"}, nets...)...)
	}
	return errors.Join(errs...)
}

// stopProcess sends SIGTERM to pid, waits up to grace for it to go, then
// sends SIGKILL.
func stopProcess(pid int, grace time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return fmt.Errorf("did not stop within %s of SIGTERM; killed", grace)
}

// alive reports whether pid still runs (a zombie counts as gone: the server
// runs in its own session and is reaped by init).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func fmtMedian(xs []float64, format string) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf(format, median(xs))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/up: "+format+"\n", args...)
}

// sh runs commands in the repository.
func (b *bench) sh() benchkit.Runner { return benchkit.Runner{Dir: b.repo} }
