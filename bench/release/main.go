// Command release measures what users of a 3-replica HTTP service see while
// it is released 20 times back to back: a fixed-rate load runs through the
// front proxy the whole time and every request is counted, sent or failed
// (non-2xx and connection errors), with its latency.
//
// Haven, once per strategy (rolling, blue-green, canary): the service is
// deployed through a `haven server` this command starts (Docker driver,
// its own data dir, ingress and API on free loopback ports), the load goes
// through Haven's ingress, and each release changes VERSION (and NAME) in
// the compose file and runs `haven deploy -f FILE --wait --timeout 2m`; the
// next release starts when only the new revision's 3 instances remain.
//
// docker-compose, for comparison: the same image and env change redeployed
// with `docker-compose -p benchrel up -d --scale web=3`, behind Debian's
// nginx run as a child process whose upstream lists the three containers'
// IPs, regenerated and reloaded after each `up -d` (the IPs change).
//
// Prints per strategy and for docker-compose: requests sent, failed,
// failure %, release durations (min/median/max) and latency p50/p99/max.
// Exit 0 when every Haven strategy ran with 0 failed requests and every
// release succeeded, 1 otherwise, 2 on a setup problem, 130 on an interrupt.
//
// Usage: go run ./bench/release [-rate 200] [-releases 20] [-strategies rolling,blue-green,canary] [-compose=true] [-v]
package main

import (
	"github.com/haven-platform/haven/bench/internal/benchkit"

	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/driver/docker"
	"github.com/haven-platform/haven/internal/spec"
)

const (
	appName  = "benchrel" // Haven app and docker-compose project
	service  = "web"
	replicas = 3
	host     = "bench.test"
	appPort  = 8080
)

// Exit codes.
const (
	exitPass      = 0
	exitFail      = 1
	exitSetup     = 2
	exitInterrupt = 130
)

var allStrategies = []string{"rolling", "blue-green", "canary"}

type config struct {
	rate       int
	releases   int
	strategies []string
	compose    bool
	timeout    time.Duration
	reqTimeout time.Duration
	settle     time.Duration
	image      string
	nginx      string
	verbose    bool
}

func parseConfig() (config, error) {
	var c config
	var strategies string
	flag.IntVar(&c.rate, "rate", 200, "requests per second, sent at a fixed rate whatever the answers (open loop)")
	flag.IntVar(&c.releases, "releases", 20, "back-to-back releases per strategy and for docker-compose")
	flag.StringVar(&strategies, "strategies", strings.Join(allStrategies, ","), "Haven strategies to run, comma-separated (\"\" for none)")
	flag.BoolVar(&c.compose, "compose", true, "also run docker-compose up -d behind nginx")
	flag.DurationVar(&c.timeout, "timeout", 2*time.Minute, "haven deploy --timeout of each release (also the limit for docker-compose up -d)")
	flag.DurationVar(&c.reqTimeout, "request-timeout", 10*time.Second, "a request not answered within this counts as failed")
	flag.DurationVar(&c.settle, "settle", 2*time.Second, "load before the first and after the last release")
	flag.StringVar(&c.image, "image", "haven-bench-release:testapp", "tag of the scratch image built from internal/testapp")
	flag.StringVar(&c.nginx, "nginx", "/usr/sbin/nginx", "nginx binary (apt-get install -y nginx-light)")
	flag.BoolVar(&c.verbose, "v", false, "echo the tools' output")
	flag.Parse()
	if strategies != "" {
		for s := range strings.SplitSeq(strategies, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(allStrategies, s) {
				return c, fmt.Errorf("-strategies: %q is not one of %s", s, strings.Join(allStrategies, ", "))
			}
			c.strategies = append(c.strategies, s)
		}
	}
	switch {
	case flag.NArg() != 0:
		return c, fmt.Errorf("unexpected arguments %q", flag.Args())
	case c.rate < 1 || c.rate > 5000:
		return c, fmt.Errorf("-rate %d: must be 1..5000", c.rate)
	case c.releases < 1 || c.releases > 200:
		return c, fmt.Errorf("-releases %d: must be 1..200", c.releases)
	case c.timeout <= 0 || c.reqTimeout <= 0 || c.settle < 0:
		return c, errors.New("-timeout and -request-timeout must be positive, -settle not negative")
	case len(c.strategies) == 0 && !c.compose:
		return c, errors.New("nothing to run: no -strategies and -compose=false")
	}
	return c, nil
}

func main() { os.Exit(run()) }

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
		logf("%s: stopping and cleaning up (again to quit at once, leaving things behind)", s)
		close(interrupted)
		cancel()
		<-sigs
		os.Exit(exitInterrupt)
	}()

	b := &bench{cfg: cfg}
	defer b.cleanup()
	code := b.main(ctx)
	select {
	case <-interrupted:
		return exitInterrupt
	default:
		return code
	}
}

// bench is one invocation.
type bench struct {
	cfg   config
	repo  string
	tmp   string
	haven string // built haven binary

	mu       sync.Mutex
	cleanups []func() // run last-in first-out by cleanup
}

func (b *bench) onCleanup(f func()) {
	b.mu.Lock()
	b.cleanups = append(b.cleanups, f)
	b.mu.Unlock()
}

func (b *bench) cleanup() {
	b.mu.Lock()
	fs := b.cleanups
	b.cleanups = nil
	b.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// phase is the outcome of one strategy (or docker-compose).
type phase struct {
	name     string
	note     string // how it ran, when not as asked
	skipped  string // why it did not run
	err      error  // what stopped it early
	load     loadStats
	releases []release
}

type release struct {
	n        int
	start    time.Time
	command  time.Duration // haven deploy --wait, or docker-compose up -d
	settled  time.Duration // until only the new revision serves (haven), or nginx reloaded (compose)
	err      error
	failures int // failed requests sent while this release ran
}

func (p phase) releaseOK() int {
	n := 0
	for _, r := range p.releases {
		if r.err == nil {
			n++
		}
	}
	return n
}

func (b *bench) main(ctx context.Context) int {
	if err := b.setup(ctx); err != nil {
		logf("setup: %v", err)
		return exitSetup
	}
	var phases []phase
	if len(b.cfg.strategies) > 0 {
		hs, err := b.startHaven(ctx)
		if err != nil {
			logf("start haven server: %v", err)
			return exitSetup
		}
		for _, s := range b.cfg.strategies {
			if ctx.Err() != nil {
				break
			}
			p := b.havenPhase(ctx, hs, s)
			logPhase(p)
			phases = append(phases, p)
		}
		hs.stop(ctx)
	}
	if b.cfg.compose && ctx.Err() == nil {
		p := b.composePhase(ctx)
		logPhase(p)
		phases = append(phases, p)
	}
	return b.report(phases, ctx.Err() != nil)
}

func logPhase(p phase) {
	switch {
	case p.skipped != "":
		logf("%s: skipped: %s", p.name, p.skipped)
	case p.err != nil:
		logf("%s: FAILED: %v", p.name, p.err)
	default:
		logf("%s: %d sent, %d failed, %d/%d releases ok", p.name, p.load.sent, p.load.failed, p.releaseOK(), len(p.releases))
	}
}

// setup checks the tools, builds haven and testapp, and builds the image.
func (b *bench) setup(ctx context.Context) error {
	var err error
	if b.repo, err = benchkit.RepoRoot(); err != nil {
		return err
	}
	tools := []string{"go", "docker"}
	if b.cfg.compose {
		tools = append(tools, "docker-compose", b.cfg.nginx)
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s is not on PATH (docker-compose and nginx: apt-get install -y docker-compose nginx-light)", t)
		}
	}
	if out, err := b.sh().Cmd(ctx, 30*time.Second, "docker", "version", "--format", "{{.Server.Version}}"); err != nil {
		return fmt.Errorf("docker engine not reachable: %v\n%s", err, out)
	}
	if b.tmp, err = os.MkdirTemp("", "haven-bench-release-"); err != nil {
		return err
	}
	tmp := b.tmp
	b.onCleanup(func() { os.RemoveAll(tmp) })

	// Leftovers of an interrupted earlier run.
	b.removeHavenLeftovers(ctx)
	if b.cfg.compose {
		b.composeDown(ctx, filepath.Join(b.tmp, "none.yaml"))
	}

	b.haven = filepath.Join(b.tmp, "haven")
	logf("prepare: go build ./cmd/haven")
	if out, err := b.sh().Cmd(ctx, 10*time.Minute, "go", "build", "-o", b.haven, "./cmd/haven"); err != nil {
		return fmt.Errorf("go build ./cmd/haven: %v\n%s", err, benchkit.Tail(out, 30))
	}
	app := filepath.Join(b.tmp, "testapp")
	logf("prepare: go build ./internal/testapp (static) and image %s", b.cfg.image)
	c := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", app, "./internal/testapp")
	c.Dir = b.repo
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./internal/testapp: %v\n%s", err, out)
	}
	bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := docker.BuildScratchImage(bctx, app, b.cfg.image); err != nil {
		return err
	}
	return nil
}

// ---------------------------------------------------------------- Haven

// havenServer is the `haven server` this command runs.
type havenServer struct {
	b       *bench
	cmd     *exec.Cmd
	done    chan struct{}
	dataDir string
	ingress string
	log     string
	client  *client.Client
	stopped bool
	app     bool // the app may be deployed: down is due
}

func (b *bench) startHaven(ctx context.Context) (*havenServer, error) {
	hs := &havenServer{b: b, dataDir: filepath.Join(b.tmp, "data"), log: filepath.Join(b.tmp, "server.log"), done: make(chan struct{})}
	ing, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	api, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	hs.ingress = ing
	logFile, err := os.Create(hs.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	hs.cmd = exec.Command(b.haven, "server", "--data-dir", hs.dataDir, "--driver", "docker", "--ingress", ing, "--api-addr", api)
	hs.cmd.Dir = b.tmp
	hs.cmd.Stdout, hs.cmd.Stderr = logFile, logFile
	hs.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches us, not it: we stop it after haven down
	if err := hs.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { hs.cmd.Wait(); close(hs.done) }()
	b.onCleanup(func() { hs.stop(context.Background()) })
	logf("haven server pid %d: ingress %s, api %s, data %s", hs.cmd.Process.Pid, ing, api, hs.dataDir)

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-hs.done:
			return nil, fmt.Errorf("haven server exited at start:\n%s", benchkit.Indent(benchkit.Tail(readFile(hs.log), 30)))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		tok, err := os.ReadFile(filepath.Join(hs.dataDir, "admin.token"))
		if err == nil && len(bytes.TrimSpace(tok)) > 0 {
			hs.client = client.New(filepath.Join(hs.dataDir, "haven.sock"), string(bytes.TrimSpace(tok)), nil)
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err = hs.client.Ping(pctx)
			cancel()
			if err == nil {
				if _, err = hs.client.Status(ctx, appName, ""); err == nil {
					return hs, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("haven server not answering after 30s (%v):\n%s", err, benchkit.Indent(benchkit.Tail(readFile(hs.log), 30)))
		}
	}
}

// stop takes the app down, stops the server and removes what is left.
func (hs *havenServer) stop(ctx context.Context) {
	if hs.stopped {
		return
	}
	hs.stopped = true
	ctx = context.WithoutCancel(ctx)
	select {
	case <-hs.done:
	default:
		hs.down(ctx)
		hs.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-hs.done:
		case <-time.After(15 * time.Second):
			logf("haven server did not stop within 15s of SIGTERM; killing it")
			hs.cmd.Process.Kill()
			<-hs.done
		}
	}
	hs.b.removeHavenLeftovers(ctx)
}

// down runs `haven down` for the bench's app and waits for its instances
// to stop.
func (hs *havenServer) down(ctx context.Context) error {
	if !hs.app {
		return nil
	}
	out, err := hs.b.sh().Cmd(context.WithoutCancel(ctx), 2*time.Minute+10*time.Second, hs.b.haven, "down", "--data-dir", hs.dataDir, "--app", appName, "--timeout", "2m")
	if err != nil {
		logf("haven down: %v\n%s", err, benchkit.Indent(benchkit.Tail(out, 10)))
		return err
	}
	hs.app = false
	return nil
}

// removeHavenLeftovers removes containers, volumes and networks labelled or
// named for the bench's Haven app (after the server stopped, or of an
// interrupted earlier run).
func (b *bench) removeHavenLeftovers(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	label := "label=" + spec.LabelApp + "=" + appName
	if ids, err := b.sh().DockerLines(ctx, "ps", "-aq", "--filter", label); err == nil && len(ids) > 0 {
		logf("removing %d leftover Haven container(s) of app %s", len(ids), appName)
		b.sh().Cmd(ctx, time.Minute, "docker", append([]string{"rm", "-f"}, ids...)...)
	}
	if vols, err := b.sh().DockerLines(ctx, "volume", "ls", "-q", "--filter", label); err == nil && len(vols) > 0 {
		b.sh().Cmd(ctx, time.Minute, "docker", append([]string{"volume", "rm"}, vols...)...)
	}
	nets, _ := b.sh().DockerLines(ctx, "network", "ls", "--format", "{{.Name}}")
	for _, n := range nets {
		if strings.HasPrefix(n, "haven_"+appName+"_") {
			b.sh().Cmd(ctx, time.Minute, "docker", "network", "rm", n)
		}
	}
}

// havenCompose renders the service for Haven at version n. With
// withRelease false the x-haven.release block is left out (Haven's
// default policy, a rolling release).
func (b *bench) havenCompose(strategy string, n int, withRelease bool) string {
	var rel string
	if withRelease {
		switch strategy {
		case "rolling":
			rel = "        strategy: rolling\n        max_surge: 1\n"
		case "blue-green":
			rel = "        strategy: blue-green\n        bake_time: 1s\n"
		case "canary":
			rel = "        strategy: canary\n        steps: [{weight: 20, pause: 1s}, {weight: 60, pause: 1s}]\n"
		}
		rel = "      release:\n" + rel
	}
	return fmt.Sprintf(`# bench/release: Haven, strategy %[1]s, release %[2]d
name: %[3]s
services:
  %[4]s:
    image: %[5]s
    environment:
      VERSION: "%[2]d"
      NAME: v%[2]d
    deploy:
      replicas: %[6]d
    stop_grace_period: 5s
    x-haven:
      routes:
        - host: %[7]s
          port: %[8]d
      healthcheck:
        type: http
        path: /healthz
        port: %[8]d
        interval: 500ms
%[9]s`, strategy, n, appName, service, b.cfg.image, replicas, host, appPort, rel)
}

func (b *bench) havenPhase(ctx context.Context, hs *havenServer, strategy string) (p phase) {
	p.name = "haven " + strategy
	file := filepath.Join(b.tmp, "haven-"+strategy+".yaml")
	withRelease := true
	write := func(n int) error { return os.WriteFile(file, []byte(b.havenCompose(strategy, n, withRelease)), 0o644) }

	// Does this haven build know x-haven.release?
	if err := write(0); err != nil {
		p.err = err
		return p
	}
	if out, err := b.sh().Cmd(ctx, time.Minute, b.haven, "validate", "-f", file, "--data-dir", hs.dataDir); err != nil {
		if !strings.Contains(out, "release") {
			p.err = fmt.Errorf("haven validate: %v\n%s", err, benchkit.Indent(benchkit.Tail(out, 20)))
			return p
		}
		if strategy != "rolling" {
			p.skipped = "this haven build refuses x-haven.release: " + benchkit.FirstLine(errors.New(strings.TrimSpace(out)))
			return p
		}
		withRelease = false
		p.note = "x-haven.release refused by this haven build; ran Haven's default (a rolling replacement)"
		logf("%s: %s", p.name, p.note)
		if err := write(0); err != nil {
			p.err = err
			return p
		}
	}

	logf("%s: initial deploy (untimed)", p.name)
	hs.app = true
	defer hs.down(ctx)
	if _, out, err := b.havenDeploy(ctx, hs, file); err != nil {
		p.err = fmt.Errorf("initial deploy: %v\n%s\n%s", err, benchkit.Indent(benchkit.Tail(out, 20)), b.havenDiagnose(ctx, hs))
		return p
	}
	rev, err := hs.waitSettled(ctx, "", b.cfg.timeout)
	if err != nil {
		p.err = fmt.Errorf("initial deploy: %v\n%s", err, b.havenDiagnose(ctx, hs))
		return p
	}
	url := "http://" + hs.ingress + "/"
	if err := waitServing(ctx, url, host, "v0", 30*time.Second); err != nil {
		p.err = fmt.Errorf("initial deploy: %v\n%s", err, b.havenDiagnose(ctx, hs))
		return p
	}

	ld := startLoad(url, host, b.cfg.rate, b.cfg.reqTimeout)
	defer func() { p.load = ld.stop(); p.attribute() }()
	logf("%s: load %d req/s through the ingress; %d releases", p.name, b.cfg.rate, b.cfg.releases)
	if benchkit.Sleep(ctx, b.cfg.settle) != nil {
		p.err = ctx.Err()
		return p
	}
	consecutive := 0
	for n := 1; n <= b.cfg.releases && ctx.Err() == nil; n++ {
		r := release{n: n, start: time.Now()}
		if err := write(n); err != nil {
			p.err = err
			return p
		}
		var out string
		r.command, out, r.err = b.havenDeploy(ctx, hs, file)
		if r.err == nil {
			var newRev string
			newRev, r.err = hs.waitSettled(ctx, rev, b.cfg.timeout)
			rev = newRev
		}
		r.settled = time.Since(r.start)
		if r.err != nil {
			if ctx.Err() != nil {
				break
			}
			logf("%s: release %d FAILED: %v\n%s\n%s", p.name, n, r.err, benchkit.Indent(benchkit.Tail(out, 20)), b.havenDiagnose(ctx, hs))
			consecutive++
		} else {
			consecutive = 0
			if b.cfg.verbose {
				logf("%s: release %d: deploy --wait %.2fs, settled %.2fs", p.name, n, r.command.Seconds(), r.settled.Seconds())
			}
		}
		p.releases = append(p.releases, r)
		if consecutive == 3 {
			p.err = errors.New("3 releases in a row failed; stopped this strategy")
			return p
		}
	}
	if ctx.Err() != nil {
		p.err = ctx.Err()
		return p
	}
	benchkit.Sleep(ctx, b.cfg.settle)
	want := "v" + strconv.Itoa(b.cfg.releases)
	if err := waitServing(ctx, url, host, want, 5*time.Second); err != nil {
		p.err = fmt.Errorf("after the last release: %w", err)
	}
	return p
}

// havenDeploy runs `haven deploy -f FILE --wait` and returns how long it
// took and its output.
func (b *bench) havenDeploy(ctx context.Context, hs *havenServer, file string) (time.Duration, string, error) {
	start := time.Now()
	out, err := b.sh().Cmd(ctx, b.cfg.timeout+30*time.Second, b.haven, "deploy", "-f", file, "--data-dir", hs.dataDir, "--wait", "--timeout", b.cfg.timeout.String())
	d := time.Since(start)
	if b.cfg.verbose {
		os.Stderr.WriteString(benchkit.Indent(strings.TrimRight(out, "\n")) + "\n")
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			why := map[int]string{2: " (invalid)", 3: " (deployed but not healthy)", 4: " (no server or runtime)", 6: " (release failed, rolled back)"}[ee.ExitCode()]
			err = fmt.Errorf("haven deploy exited %d%s", ee.ExitCode(), why)
		}
	}
	return d, out, err
}

// waitSettled waits until the service serves from one revision other than
// prev: ready, replicas healthy instances and no other instance left
// (old ones drained and stopped). It returns that revision.
func (hs *havenServer) waitSettled(ctx context.Context, prev string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no status yet"
	for {
		sts, err := hs.client.Status(ctx, appName, "")
		if err == nil {
			last = "app not in status"
			for _, st := range sts {
				for _, s := range st.Services {
					if s.Name != service {
						continue
					}
					var states []string
					same := 0
					for _, in := range s.Instances {
						states = append(states, fmt.Sprintf("%s:%s", short(in.Revision), in.State))
						if in.Revision == s.Revision && in.State == spec.StateHealthy {
							same++
						}
					}
					last = fmt.Sprintf("%s %d/%d healthy, revision %s, instances [%s] %s", s.Condition, s.Healthy, s.Desired, short(s.Revision), strings.Join(states, " "), s.Message)
					if s.Revision != prev && s.Condition == spec.ServiceReady && same == replicas && len(s.Instances) == replicas {
						return s.Revision, nil
					}
				}
			}
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("not settled on a new revision within %s: %s", timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func short(rev string) string {
	if len(rev) > 8 {
		return rev[:8]
	}
	return rev
}

// havenDiagnose gathers haven status, ps and the end of the server log.
func (b *bench) havenDiagnose(ctx context.Context, hs *havenServer) string {
	ctx = context.WithoutCancel(ctx)
	var sb strings.Builder
	for _, args := range [][]string{{"status"}, {"ps"}} {
		out, err := b.sh().Cmd(ctx, 15*time.Second, b.haven, append(args, "--data-dir", hs.dataDir)...)
		fmt.Fprintf(&sb, "haven %s", args[0])
		if err != nil {
			fmt.Fprintf(&sb, " (%v)", err)
		}
		fmt.Fprintf(&sb, ":\n%s\n", benchkit.Indent(benchkit.Tail(out, 20)))
	}
	fmt.Fprintf(&sb, "server.log (last lines):\n%s", benchkit.Indent(benchkit.Tail(readFile(hs.log), 20)))
	return sb.String()
}

// ------------------------------------------------------- docker-compose

func (b *bench) composeFile(n int) string {
	return fmt.Sprintf(`# bench/release: docker-compose, release %[1]d
services:
  %[2]s:
    image: %[3]s
    environment:
      VERSION: "%[1]d"
      NAME: v%[1]d
    stop_grace_period: 5s
`, n, service, b.cfg.image)
}

func (b *bench) composeUp(ctx context.Context, file string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	start := time.Now()
	out, err := b.sh().CmdCtx(ctx, "docker-compose", "-p", appName, "-f", file, "up", "-d", "--scale", service+"="+strconv.Itoa(replicas))
	d := time.Since(start)
	if b.cfg.verbose {
		os.Stderr.WriteString(benchkit.Indent(strings.TrimRight(out, "\n")) + "\n")
	}
	if err != nil {
		return d, fmt.Errorf("docker-compose up -d: %v\n%s", err, benchkit.Indent(benchkit.Tail(out, 20)))
	}
	return d, nil
}

func (b *bench) composeDown(ctx context.Context, file string) {
	ctx = context.WithoutCancel(ctx)
	if _, err := os.Stat(file); err != nil {
		os.WriteFile(file, []byte(b.composeFile(0)), 0o644)
	}
	if out, err := b.sh().Cmd(ctx, 2*time.Minute, "docker-compose", "-p", appName, "-f", file, "down", "-v", "--remove-orphans"); err != nil {
		logf("docker-compose down: %v\n%s", err, benchkit.Indent(benchkit.Tail(out, 10)))
	}
}

// composeIPs returns the addresses of the project's running web containers.
func (b *bench) composeIPs(ctx context.Context) ([]string, error) {
	ids, err := b.sh().DockerLines(ctx, "ps", "-q", "--filter", "label=com.docker.compose.project="+appName, "--filter", "label=com.docker.compose.service="+service)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, errors.New("no running containers")
	}
	lines, err := b.sh().DockerLines(ctx, append([]string{"inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"}, ids...)...)
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 {
			ips = append(ips, net.JoinHostPort(f[0], strconv.Itoa(appPort)))
		}
	}
	slices.Sort(ips)
	return ips, nil
}

// nginx is Debian's nginx as a child process, in front of the compose
// project's containers.
type nginx struct {
	cmd    *exec.Cmd
	done   chan struct{}
	dir    string
	conf   string
	listen string
}

// nginxConfig is a plain reverse-proxy config, as a compose user writes
// it: one upstream with the containers' addresses, nginx's defaults
// otherwise (proxy_next_upstream error timeout, max_fails=1 fail_timeout=10s).
func nginxConfig(dir, listen string, upstreams []string) string {
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "    server %s;\n", u)
	}
	return fmt.Sprintf(`daemon off;
master_process on;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream web {
%[3]s  }
  server {
    listen %[2]s;
    location / {
      proxy_pass http://web;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`, dir, listen, servers.String())
}

func (b *bench) startNginx(ctx context.Context, upstreams []string) (*nginx, error) {
	listen, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	ng := &nginx{dir: filepath.Join(b.tmp, "nginx"), listen: listen, done: make(chan struct{})}
	ng.conf = filepath.Join(ng.dir, "nginx.conf")
	if err := os.MkdirAll(ng.dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(ng.conf, []byte(nginxConfig(ng.dir, listen, upstreams)), 0o644); err != nil {
		return nil, err
	}
	ng.cmd = exec.Command(b.cfg.nginx, "-e", filepath.Join(ng.dir, "error.log"), "-p", ng.dir, "-c", ng.conf)
	ng.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := ng.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { ng.cmd.Wait(); close(ng.done) }()
	b.onCleanup(ng.stop)
	logf("nginx pid %d on %s", ng.cmd.Process.Pid, listen)
	return ng, nil
}

// reload writes a config with new upstreams and sends SIGHUP, as `nginx -s
// reload` does; the master starts new workers, the old ones finish their
// requests.
func (ng *nginx) reload(upstreams []string) error {
	if err := os.WriteFile(ng.conf, []byte(nginxConfig(ng.dir, ng.listen, upstreams)), 0o644); err != nil {
		return err
	}
	select {
	case <-ng.done:
		return errors.New("nginx exited:\n" + benchkit.Indent(benchkit.Tail(readFile(filepath.Join(ng.dir, "error.log")), 10)))
	default:
	}
	return ng.cmd.Process.Signal(syscall.SIGHUP)
}

func (ng *nginx) stop() {
	select {
	case <-ng.done:
		return
	default:
	}
	ng.cmd.Process.Signal(syscall.SIGQUIT) // graceful shutdown
	select {
	case <-ng.done:
	case <-time.After(10 * time.Second):
		ng.cmd.Process.Kill()
		<-ng.done
	}
}

func (b *bench) composePhase(ctx context.Context) (p phase) {
	p.name = "docker-compose up -d"
	file := filepath.Join(b.tmp, "docker-compose.yaml")
	write := func(n int) error { return os.WriteFile(file, []byte(b.composeFile(n)), 0o644) }
	if err := write(0); err != nil {
		p.err = err
		return p
	}
	defer b.composeDown(ctx, file)
	logf("%s: initial up (untimed)", p.name)
	if _, err := b.composeUp(ctx, file); err != nil {
		p.err = fmt.Errorf("initial up: %w", err)
		return p
	}
	ips, err := b.composeIPs(ctx)
	if err == nil && len(ips) != replicas {
		err = fmt.Errorf("%d containers running, want %d", len(ips), replicas)
	}
	if err != nil {
		p.err = fmt.Errorf("initial up: %w", err)
		return p
	}
	ng, err := b.startNginx(ctx, ips)
	if err != nil {
		p.err = fmt.Errorf("nginx: %w", err)
		return p
	}
	defer ng.stop()
	url := "http://" + ng.listen + "/"
	if err := waitServing(ctx, url, host, "v0", 30*time.Second); err != nil {
		p.err = fmt.Errorf("through nginx: %w\n%s", err, benchkit.Indent(benchkit.Tail(readFile(filepath.Join(ng.dir, "error.log")), 10)))
		return p
	}

	ld := startLoad(url, host, b.cfg.rate, b.cfg.reqTimeout)
	defer func() { p.load = ld.stop(); p.attribute() }()
	logf("%s: load %d req/s through nginx; %d releases", p.name, b.cfg.rate, b.cfg.releases)
	if benchkit.Sleep(ctx, b.cfg.settle) != nil {
		p.err = ctx.Err()
		return p
	}
	for n := 1; n <= b.cfg.releases && ctx.Err() == nil; n++ {
		r := release{n: n, start: time.Now()}
		if err := write(n); err != nil {
			p.err = err
			return p
		}
		r.command, r.err = b.composeUp(ctx, file)
		if r.err == nil {
			var ips []string
			if ips, r.err = b.composeIPs(ctx); r.err == nil {
				r.err = ng.reload(ips)
			}
		}
		r.settled = time.Since(r.start)
		if r.err != nil && ctx.Err() != nil {
			break // interrupted, not failed
		}
		if r.err != nil {
			logf("%s: release %d FAILED: %v", p.name, n, r.err)
		} else if b.cfg.verbose {
			logf("%s: release %d: up -d %.2fs, nginx reloaded at %.2fs", p.name, n, r.command.Seconds(), r.settled.Seconds())
		}
		p.releases = append(p.releases, r)
	}
	if ctx.Err() != nil {
		p.err = ctx.Err()
		return p
	}
	benchkit.Sleep(ctx, b.cfg.settle)
	want := "v" + strconv.Itoa(b.cfg.releases)
	if err := waitServing(ctx, url, host, want, 5*time.Second); err != nil {
		p.err = fmt.Errorf("after the last release: %w", err)
	}
	return p
}

// ----------------------------------------------------------------- load

// loader sends GET / at a fixed rate (open loop: a slow answer does not
// delay the next request) until stopped, at most maxInFlight at a time;
// a request that finds the limit reached is counted as sent and failed.
type loader struct {
	client  *http.Client
	url     string
	host    string
	stopCh  chan struct{}
	stopped chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	sent     int
	failed   int
	lat      []time.Duration
	errs     map[string]int
	fails    []time.Time
	versions map[string]int
	samples  map[string]string // the first body of each failing status
}

type loadStats struct {
	sent, failed  int
	p50, p99, max time.Duration
	errs          map[string]int
	fails         []time.Time
	versions      map[string]int
	samples       map[string]string
}

func startLoad(url, host string, rate int, timeout time.Duration) *loader {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}
	l := &loader{
		client:   &http.Client{Transport: tr, Timeout: timeout},
		url:      url,
		host:     host,
		stopCh:   make(chan struct{}),
		stopped:  make(chan struct{}),
		errs:     map[string]int{},
		versions: map[string]int{},
		samples:  map[string]string{},
	}
	maxInFlight := max(64, rate*int(timeout/time.Second+1))
	go l.loop(rate, maxInFlight)
	return l
}

func (l *loader) loop(rate, maxInFlight int) {
	defer close(l.stopped)
	sem := make(chan struct{}, maxInFlight)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for i := 0; ; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			t.Reset(d)
			select {
			case <-l.stopCh:
				return
			case <-t.C:
			}
		} else {
			select {
			case <-l.stopCh:
				return
			default:
			}
		}
		select {
		case sem <- struct{}{}:
			l.wg.Add(1)
			go func() {
				defer func() { <-sem; l.wg.Done() }()
				l.one()
			}()
		default:
			l.record(time.Now(), 0, "client: in-flight limit reached", "")
		}
	}
}

func (l *loader) one() {
	start := time.Now()
	req, _ := http.NewRequest(http.MethodGet, l.url, nil)
	req.Host = l.host
	resp, err := l.client.Do(req)
	if err != nil {
		l.record(start, time.Since(start), classify(err), "")
		return
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	d := time.Since(start)
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		kind := "HTTP " + strconv.Itoa(resp.StatusCode)
		l.mu.Lock()
		if _, ok := l.samples[kind]; !ok {
			l.samples[kind] = strings.Join(strings.Fields(string(body)), " ")
		}
		l.mu.Unlock()
		l.record(start, d, kind, "")
	case rerr != nil:
		l.record(start, d, "reading body: "+classify(rerr), "")
	default:
		version, _, _ := strings.Cut(string(body), " ")
		l.record(start, d, "", version)
	}
}

func (l *loader) record(at time.Time, d time.Duration, failure, version string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent++
	if d > 0 {
		l.lat = append(l.lat, d)
	}
	if failure != "" {
		l.failed++
		l.errs[failure]++
		l.fails = append(l.fails, at)
		return
	}
	l.versions[version]++
}

// stop ends the load, waits for the requests in flight and returns the
// figures.
func (l *loader) stop() loadStats {
	select {
	case <-l.stopCh:
	default:
		close(l.stopCh)
	}
	<-l.stopped
	l.wg.Wait()
	l.client.CloseIdleConnections()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := loadStats{sent: l.sent, failed: l.failed, errs: l.errs, fails: l.fails, versions: l.versions, samples: l.samples}
	lat := slices.Clone(l.lat)
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		s.p50 = lat[n*50/100]
		s.p99 = lat[min(n-1, n*99/100)]
		s.max = lat[n-1]
	}
	return s
}

// classify shortens a client error to its kind.
func classify(err error) string {
	s := err.Error()
	for _, k := range []string{"connection refused", "connection reset by peer", "no route to host", "broken pipe", "Client.Timeout", "i/o timeout", "EOF", "server closed idle connection"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s)-i < 80 {
		return s[i+2:]
	}
	return s
}

// attribute counts the failed requests sent during each release.
func (p *phase) attribute() {
	for i := range p.releases {
		r := &p.releases[i]
		end := r.start.Add(r.settled)
		for _, f := range p.load.fails {
			if !f.Before(r.start) && f.Before(end) {
				r.failures++
			}
		}
	}
}

// ---------------------------------------------------------------- report

func (b *bench) report(phases []phase, interrupted bool) int {
	fmt.Printf("\n%d back-to-back releases of a %d-replica HTTP service (testapp, scratch image) under %d req/s (GET /, Host: %s)\n\n",
		b.cfg.releases, replicas, b.cfg.rate, host)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tsent\tfailed\tfailed %\treleases ok\trelease s min/med/max\tsettled s min/med/max\tp50 ms\tp99 ms\tmax ms\t")
	for _, p := range phases {
		if p.skipped != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t\n", p.name)
			continue
		}
		var cmds, sets []float64
		for _, r := range p.releases {
			if r.err == nil {
				cmds = append(cmds, r.command.Seconds())
				sets = append(sets, r.settled.Seconds())
			}
		}
		pct := 0.0
		if p.load.sent > 0 {
			pct = 100 * float64(p.load.failed) / float64(p.load.sent)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%d/%d\t%s\t%s\t%.1f\t%.1f\t%.0f\t\n", p.name, p.load.sent, p.load.failed, pct,
			p.releaseOK(), b.cfg.releases, minMedMax(cmds), minMedMax(sets), ms(p.load.p50), ms(p.load.p99), ms(p.load.max))
	}
	tw.Flush()
	fmt.Println()
	fmt.Println("release s: haven deploy -f FILE --wait, or docker-compose up -d; settled s: until only the new revision's")
	fmt.Println("instances remain (haven), or until nginx was reloaded with the new containers' IPs (compose).")
	fmt.Println()

	code := exitPass
	for _, p := range phases {
		haven := strings.HasPrefix(p.name, "haven ")
		if p.note != "" {
			fmt.Printf("%s: %s\n", p.name, p.note)
		}
		if p.skipped != "" {
			fmt.Printf("%s: SKIPPED: %s\n", p.name, p.skipped)
			if haven {
				code = exitFail
			}
			continue
		}
		if p.err != nil {
			fmt.Printf("%s: ERROR: %s\n", p.name, benchkit.FirstLine(p.err))
			if haven {
				code = exitFail
			}
		}
		if len(p.load.errs) > 0 {
			fmt.Printf("%s: failures: %s\n", p.name, fmtCounts(p.load.errs))
			for _, k := range slices.Sorted(maps.Keys(p.load.samples)) {
				fmt.Printf("%s: first %s body: %.160q\n", p.name, k, p.load.samples[k])
			}
			var during []string
			outside := p.load.failed
			for _, r := range p.releases {
				outside -= r.failures
				if r.failures > 0 {
					during = append(during, fmt.Sprintf("#%d:%d", r.n, r.failures))
				}
			}
			if len(during) > 0 {
				fmt.Printf("%s: failed requests per release: %s\n", p.name, strings.Join(during, " "))
			}
			if outside > 0 {
				fmt.Printf("%s: failed requests sent outside any release: %d\n", p.name, outside)
			}
		}
		for _, r := range p.releases {
			if r.err != nil {
				fmt.Printf("%s: release %d failed: %s\n", p.name, r.n, benchkit.FirstLine(r.err))
			}
		}
		if haven && (p.load.failed > 0 || p.releaseOK() < b.cfg.releases) {
			code = exitFail
		}
		if b.cfg.verbose {
			fmt.Printf("%s: answers per version: %s\n", p.name, fmtCounts(p.load.versions))
		}
	}
	ranHaven := slices.ContainsFunc(phases, func(p phase) bool { return strings.HasPrefix(p.name, "haven ") })
	switch {
	case interrupted:
		fmt.Println("INTERRUPTED: the figures above are partial")
		code = exitInterrupt
	case !ranHaven:
		fmt.Println("no Haven strategy ran (-strategies \"\")")
	case code == exitPass:
		fmt.Println("PASS: 0 failed requests and every release done for each Haven strategy")
	default:
		fmt.Println("FAIL: a Haven strategy failed requests, failed a release or did not run")
	}
	return code
}

func minMedMax(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf("%.2f/%.2f/%.2f", s[0], med, s[len(s)-1])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// ----------------------------------------------------------------- utils

// waitServing polls url until it answers 200 with a body starting with
// version (the NAME of the release), or timeout passes.
func waitServing(ctx context.Context, url, host, version string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.HasPrefix(string(body), version+" ") {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s (Host %s) did not answer %s within %s: last %s", url, host, version, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/release %s: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// sh runs commands in the repository.
func (b *bench) sh() benchkit.Runner { return benchkit.Runner{Dir: b.repo} }
