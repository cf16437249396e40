package process

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/driver/drivertest"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/testbin"
)

func TestConformance(t *testing.T) {
	bin := testbin.TestApp(t)
	dir := openDir(t)
	drivertest.Run(t, drivertest.Harness{
		New: func(t *testing.T) driver.Driver { return newDriver(t, dir) },
		Service: func(t *testing.T, name string, env map[string]string) spec.Service {
			return testService(bin, name, env)
		},
	})
}

// openDir is a temporary directory the users of instances may pass through
// (not list), as Haven's data directory is (t.TempDir's parent is 0700).
func openDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// newDriver returns a Driver over dir, closed when the test ends.
func newDriver(t *testing.T, dir string) *Driver {
	t.Helper()
	d, err := New(dir)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func testService(bin, name string, env map[string]string) spec.Service {
	return spec.Service{Name: name, Command: []string{bin}, Env: env, Expose: []int{8080}, Replicas: 1, Restart: spec.RestartAlways}
}

// start starts svc as an instance of app "pt" and stops it when the test ends.
func start(t *testing.T, d *Driver, svc spec.Service, app spec.App) driver.Instance {
	t.Helper()
	inst, err := startErr(t, d, svc, app)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return inst
}

func startErr(t *testing.T, d *Driver, svc spec.Service, app spec.App) (driver.Instance, error) {
	if app.Name == "" {
		app.Name = "pt"
	}
	labels := spec.InstanceLabels{App: app.Name, Env: "test", Service: svc.Name, Revision: svc.Revision(), Instance: svc.Name + "-" + randomHex(4)}
	inst, err := d.Start(t.Context(), driver.StartRequest{Labels: labels, Service: svc, App: app})
	if err == nil {
		t.Cleanup(func() { d.Stop(context.Background(), inst.ID, 0) })
	}
	return inst, err
}

func waitHTTP(t *testing.T, addr string) string {
	t.Helper()
	var body string
	waitFor(t, 10*time.Second, "HTTP 200 from "+addr, func() bool {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err == nil && resp.StatusCode == http.StatusOK
	})
	return body
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func logTexts(t *testing.T, d *Driver, id string) []string {
	t.Helper()
	var out []string
	err := d.Logs(t.Context(), id, driver.LogOptions{}, func(l driver.LogLine) error {
		out = append(out, l.Text)
		return nil
	})
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	return out
}

func count(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// events keeps what an Events channel delivered, so waiting for one
// instance's event does not lose another's.
type events struct {
	ch      <-chan driver.Event
	pending []driver.Event
}

func subscribe(t *testing.T, d *Driver) *events {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := d.Events(ctx)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	return &events{ch: ch}
}

// next returns the first event of kind about id not returned before.
func (e *events) next(t *testing.T, id string, kind driver.EventKind, timeout time.Duration) driver.Event {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		for i, ev := range e.pending {
			if ev.ID == id && ev.Kind == kind {
				e.pending = append(e.pending[:i], e.pending[i+1:]...)
				return ev
			}
		}
		select {
		case ev := <-e.ch:
			e.pending = append(e.pending, ev)
		case <-timer.C:
			t.Fatalf("no %s event for %s within %s", kind, id, timeout)
		}
	}
}

// TestAdoptAfterDriverDropped: the Driver that started an instance goes
// away (Close does what a crash does); a new one adopts the instance,
// keeps copying its output without repeating lines, and reports its exit
// with ExitCode -1 since it is not the new Driver's child.
func TestAdoptAfterDriverDropped(t *testing.T) {
	t.Parallel()
	bin := testbin.TestApp(t)
	dir := openDir(t)
	d1 := newDriver(t, dir)
	inst := start(t, d1, testService(bin, "web", map[string]string{"LOG_LINES": "3", "EXIT_AFTER": "1500ms", "EXIT_CODE": "4"}), spec.App{})
	waitHTTP(t, inst.Addr(8080))
	waitFor(t, 5*time.Second, "start-up lines in the log", func() bool {
		return count(logTexts(t, d1, inst.ID), "listening on") == 1
	})
	d1.Close()
	waitHTTP(t, inst.Addr(8080)) // the instance outlives its supervisor

	d2 := newDriver(t, dir)
	events := subscribe(t, d2)
	list, err := d2.List(t.Context())
	if err != nil || len(list) != 1 || list[0].ID != inst.ID || !list[0].Running {
		t.Fatalf("new Driver List = %+v, %v; want %s running", list, err, inst.ID)
	}
	ev := events.next(t, inst.ID, driver.EventExited, 4*time.Second)
	if ev.ExitCode != -1 {
		t.Errorf("adopted instance's exit code = %d, want -1 (unknown)", ev.ExitCode)
	}
	lines := logTexts(t, d2, inst.ID)
	for _, want := range []string{"line 1", "line 3", "listening on", "exiting with 4"} {
		if n := count(lines, want); n != 1 {
			t.Errorf("log has %d lines with %q, want 1; log: %q", n, want, lines)
		}
	}
	got, _ := d2.List(t.Context())
	if len(got) != 1 || got[0].Running || got[0].ExitCode != -1 || got[0].FinishedAt.IsZero() {
		t.Errorf("after exit, List = %+v; want exited with -1", got)
	}
}

// TestPidReuseGuard: a record whose pid now belongs to another process
// (same pid, other start time) is neither listed running nor signalled.
func TestPidReuseGuard(t *testing.T) {
	t.Parallel()
	victim := exec.Command("sleep", "60")
	victim.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so a wrong kill(-pid) would hit it
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	_, ticks, err := procStat(victim.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	real := &record{PID: victim.Process.Pid, StartTicks: ticks, BootID: bootID()}
	if !alive(real) {
		t.Fatalf("alive(%+v) = false for a running process", real)
	}
	for _, r := range []record{
		{PID: real.PID, StartTicks: ticks + 1, BootID: bootID()},
		{PID: real.PID, StartTicks: ticks, BootID: "another-boot"},
	} {
		if alive(&r) {
			t.Errorf("alive(%+v) = true, want false (reused pid)", r)
		}
	}

	dir := openDir(t)
	idir := filepath.Join(dir, "instances", "stale")
	if err := os.MkdirAll(idir, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := &record{ID: "stale", PID: real.PID, StartTicks: ticks + 1, BootID: bootID(), StartedAt: time.Now().Add(-time.Hour),
		Labels: spec.InstanceLabels{App: "pt", Env: "test", Service: "web", Instance: "stale"}}
	if err := writeRecord(idir, stale); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{stdoutFile, stderrFile} {
		os.WriteFile(filepath.Join(idir, f), nil, 0o600)
	}
	d := newDriver(t, dir)
	waitFor(t, 3*time.Second, "the stale record to be listed exited", func() bool {
		list, _ := d.List(t.Context())
		return len(list) == 1 && !list[0].Running && list[0].ExitCode == -1
	})
	if err := d.Stop(t.Context(), "stale", time.Second); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if state, _, err := procStat(real.PID); err != nil || state == 'Z' {
		t.Fatalf("the process now holding the pid was killed (state %c, %v)", state, err)
	}
	if list, _ := d.List(t.Context()); len(list) != 0 {
		t.Errorf("List after Stop = %+v, want empty", list)
	}
}

// TestPublishedPorts: a published port is allocated exactly and is the
// instance's $PORT; a taken one fails with ErrPortInUse naming port and
// service.
func TestPublishedPorts(t *testing.T) {
	t.Parallel()
	bin := testbin.TestApp(t)
	d := newDriver(t, openDir(t))

	held, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := held.Addr().(*net.TCPAddr).Port
	svc := testService(bin, "admin", nil)
	svc.Ports = []spec.PortMapping{{Published: port, Target: 8080, Protocol: "tcp"}}
	_, err = startErr(t, d, svc, spec.App{})
	if !errors.Is(err, driver.ErrPortInUse) {
		t.Fatalf("Start with published port %d taken: %v, want ErrPortInUse", port, err)
	}
	if msg := err.Error(); !strings.Contains(msg, strconv.Itoa(port)) || !strings.Contains(msg, "admin") {
		t.Errorf("error %q should name the port %d and the service admin", msg, port)
	}

	held.Close()
	inst := start(t, d, svc, spec.App{})
	if want := "127.0.0.1:" + strconv.Itoa(port); inst.Addr(8080) != want {
		t.Errorf("Addr(8080) = %q, want %q", inst.Addr(8080), want)
	}
	waitHTTP(t, inst.Addr(8080))

	// While the first holds it, a second instance publishing the same port
	// fails too, even before anything would listen.
	_, err = startErr(t, d, svc, spec.App{})
	if !errors.Is(err, driver.ErrPortInUse) {
		t.Errorf("second Start publishing port %d: %v, want ErrPortInUse", port, err)
	}
}

// TestEnvironment: entrypoint before command, working directory, PORT,
// HAVEN_INSTANCE, secrets as <TARGET>_FILE, volumes as HAVEN_VOLUME_<NAME>,
// and none of Haven's own variables beyond the inherited few.
func TestEnvironment(t *testing.T) {
	t.Setenv("HAVEN_TEST_PRIVATE", "must-not-leak")
	dir := openDir(t)
	d := newDriver(t, dir)
	work := openDir(t)
	secret := filepath.Join(t.TempDir(), "pw") // private: the instance gets a copy
	os.WriteFile(secret, []byte("s3cret"), 0o600)
	app := spec.App{
		Name:    "pt",
		Volumes: []spec.Volume{{Name: "data"}},
		Secrets: map[string]spec.Secret{"db_password": {Name: "db_password", File: secret}},
	}
	env := spec.AppEnv{App: "pt", Env: "test"}
	if err := d.EnsureEnv(t.Context(), env, app); err != nil {
		t.Fatal(err)
	}
	svc := spec.Service{
		Name:       "sh",
		Entrypoint: []string{"/bin/sh", "-c"},
		Command:    []string{`pwd; env; echo "secret: $(cat "$DB_PASSWORD_FILE")"; exec sleep 60`},
		WorkingDir: work,
		Env:        map[string]string{"GREETING": "hi there", "PORT": "1"},
		Expose:     []int{9000},
		Secrets:    []spec.SecretRef{{Source: "db_password", Target: "db-password"}},
		// The anonymous volume has no name to pass: no HAVEN_VOLUME_ for it.
		Volumes: []spec.Mount{{Type: spec.MountVolume, Source: "data", Target: "/data"}, {Type: spec.MountVolume, Target: "/anon"}},
	}
	inst := start(t, d, svc, app)
	var lines []string
	waitFor(t, 5*time.Second, "the env dump", func() bool {
		lines = logTexts(t, d, inst.ID)
		return count(lines, "HAVEN_INSTANCE=") == 1
	})
	port := strings.TrimPrefix(inst.Addr(9000), "127.0.0.1:")
	volume := filepath.Join(dir, "volumes", "pt", "test", "data")
	if lines[0] != work {
		t.Errorf("first line (pwd) = %q, want %q", lines[0], work)
	}
	// Run as another user, the instance gets a copy of the file secret
	// (it may not reach the original); as Haven's, the file itself.
	secretFile := secret
	if separate() {
		secretFile = d.secretDir(inst.ID, "") + "-" // + the Start's suffix
	}
	for _, want := range []string{
		"GREETING=hi there",
		"PORT=" + port,
		"PORT_9000=" + port,
		"HAVEN_INSTANCE=" + inst.Labels.Instance,
		"DB_PASSWORD_FILE=" + secretFile,
		"HAVEN_VOLUME_DATA=" + volume,
		"secret: s3cret",
	} {
		if count(lines, want) != 1 {
			t.Errorf("env lacks %q; got %q", want, lines)
		}
	}
	if count(lines, "HAVEN_VOLUME_=") != 0 {
		t.Errorf("the anonymous volume was passed as a volume without a name: %q", lines)
	}
	if count(lines, "HAVEN_TEST_PRIVATE") != 0 {
		t.Errorf("Haven's own environment leaked into the instance: %q", lines)
	}
	if fi, err := os.Stat(volume); err != nil || !fi.IsDir() {
		t.Errorf("volume directory %s: %v", volume, err)
	}
	if err := d.RemoveEnv(t.Context(), env, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(volume); !os.IsNotExist(err) {
		t.Errorf("RemoveEnv(removeVolumes) left %s (%v)", volume, err)
	}

	// A config with content has no container to be written into.
	withFile := svc
	withFile.Files = []spec.File{{Target: "/etc/app.conf", Content: "x"}}
	if _, err := startErr(t, d, withFile, app); err == nil || !strings.Contains(err.Error(), "cannot be delivered by the process driver") {
		t.Errorf("Start with a config file = %v, want the process driver's refusal", err)
	}

	svc.Secrets = []spec.SecretRef{{Source: "missing"}}
	if _, err := startErr(t, d, svc, app); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("Start with an undeclared secret: %v, want an error naming it", err)
	}
}

// TestExecHealth: compose semantics of exec checks, reported in List and
// through Events.
func TestExecHealth(t *testing.T) {
	t.Parallel()
	bin := testbin.TestApp(t)
	d := newDriver(t, openDir(t))
	events := subscribe(t, d)
	flag := filepath.Join(openDir(t), "healthy")
	check := func(startPeriod time.Duration) *spec.HealthCheck {
		return &spec.HealthCheck{
			Kind:        spec.CheckExec,
			Command:     []string{"/bin/sh", "-c", `test -e "$FLAG"`},
			Interval:    spec.Duration(50 * time.Millisecond),
			Timeout:     spec.Duration(time.Second),
			Retries:     2,
			StartPeriod: spec.Duration(startPeriod),
		}
	}
	svc := testService(bin, "web", map[string]string{"FLAG": flag})
	svc.Health = check(0)
	inst := start(t, d, svc, spec.App{})
	if inst.NativeHealth != "starting" {
		t.Errorf("NativeHealth at start = %q, want starting", inst.NativeHealth)
	}
	patient := svc
	patient.Name = "patient"
	patient.Health = check(time.Minute)
	slow := start(t, d, patient, spec.App{})

	health := func(id string) string {
		list, _ := d.List(t.Context())
		for _, i := range list {
			if i.ID == id {
				return i.NativeHealth
			}
		}
		return "(absent)"
	}
	if ev := events.next(t, inst.ID, driver.EventHealth, 3*time.Second); ev.Health != "unhealthy" {
		t.Fatalf("first health event %q, want unhealthy", ev.Health)
	}
	if h := health(inst.ID); h != "unhealthy" {
		t.Errorf("List NativeHealth = %q, want unhealthy", h)
	}
	// Within its start period, failures do not count.
	if h := health(slow.ID); h != "starting" {
		t.Errorf("instance in its start period: NativeHealth = %q, want starting", h)
	}
	os.WriteFile(flag, nil, 0o600)
	for _, id := range []string{inst.ID, slow.ID} {
		if ev := events.next(t, id, driver.EventHealth, 3*time.Second); ev.Health != "healthy" {
			t.Errorf("health event after the check passes: %q, want healthy", ev.Health)
		}
	}
	os.Remove(flag)
	// Once healthy, the start period no longer excuses failures.
	for _, id := range []string{inst.ID, slow.ID} {
		if ev := events.next(t, id, driver.EventHealth, 3*time.Second); ev.Health != "unhealthy" {
			t.Errorf("health event after failures: %q, want unhealthy", ev.Health)
		}
	}
}

// TestStopKillsProcessGroup: Stop reaches what the app spawned, even a
// child that ignores SIGTERM once the app itself is gone.
func TestStopKillsProcessGroup(t *testing.T) {
	t.Parallel()
	d := newDriver(t, openDir(t))
	svc := spec.Service{Name: "tree", Command: []string{"/bin/sh", "-c", `(trap "" TERM; exec sleep 60) & echo "child $!"; wait`}}
	inst := start(t, d, svc, spec.App{})
	var pid int
	waitFor(t, 5*time.Second, "the child's pid in the log", func() bool {
		for _, l := range logTexts(t, d, inst.ID) {
			if p, ok := strings.CutPrefix(l, "child "); ok {
				pid, _ = strconv.Atoi(p)
			}
		}
		return pid > 0
	})
	if err := d.Stop(t.Context(), inst.ID, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the spawned child to die", func() bool {
		state, _, err := procStat(pid)
		return err != nil || state == 'Z'
	})
}

// TestLeftovers: the .new- directory of a Start that died (its lock free)
// is cleared at once, that of a live one (lock held) is kept; in staging,
// only old directories are cleared. Unknown ids are ErrNotFound.
func TestLeftovers(t *testing.T) {
	t.Parallel()
	dir := openDir(t)
	mkdir := func(p string) string {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dead := mkdir(filepath.Join(dir, "instances", ".new-x-0000"))
	os.WriteFile(filepath.Join(dead, lockFile), nil, 0o600)
	live := mkdir(filepath.Join(dir, "instances", ".new-y-0000"))
	lock, err := lockInstance(live, true)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	oldStaged := mkdir(filepath.Join(dir, "staging", "z-0000"))
	youngStaged := mkdir(filepath.Join(dir, "staging", "w-0000"))
	old := time.Now().Add(-time.Hour)
	os.Chtimes(oldStaged, old, old)
	d := newDriver(t, dir)
	for _, p := range []string{dead, oldStaged} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("abandoned %s still there (%v)", p, err)
		}
	}
	for _, p := range []string{live, youngStaged} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the directory of a Start that may be under way was removed (%v)", err)
		}
	}
	if err := d.Remove(t.Context(), "nope"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Remove(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := d.PrepareImage(t.Context(), spec.AppEnv{}, spec.Service{Name: "x", Command: []string{"no-such-program-here"}}); !errors.Is(err, driver.ErrImageNotFound) {
		t.Errorf("PrepareImage of a missing program = %v, want ErrImageNotFound", err)
	}
}

// TestLogsLargeOutput: a burst larger than one copy batch, written just
// before the process exits, is in the log in full; a line longer than
// maxLine is split, and an unterminated last line is kept.
func TestLogsLargeOutput(t *testing.T) {
	t.Parallel()
	d := newDriver(t, openDir(t))
	ev := subscribe(t, d)
	script := `head -c 600000 /dev/zero | tr '\0' a | fold -w 1000; echo; echo done; head -c 100000 /dev/zero | tr '\0' b`
	inst := start(t, d, spec.Service{Name: "noisy", Command: []string{"/bin/sh", "-c", script}}, spec.App{})
	if e := ev.next(t, inst.ID, driver.EventExited, 5*time.Second); e.ExitCode != 0 {
		t.Fatalf("exit code %d, want 0", e.ExitCode)
	}
	lines := logTexts(t, d, inst.ID)
	if len(lines) != 603 {
		lens := map[int]int{}
		for _, l := range lines {
			lens[len(l)]++
		}
		t.Fatalf("log has %d lines, want 600 + done + 2 pieces of the long line: %v", len(lines), lens)
	}
	if lines[0] != strings.Repeat("a", 1000) || lines[600] != "done" {
		t.Errorf("lines 0 and 600 = %.20q…, %q", lines[0], lines[600])
	}
	if len(lines[601]) != maxLine || len(lines[602]) != 100000-maxLine {
		t.Errorf("long line split into %d + %d bytes, want %d + %d", len(lines[601]), len(lines[602]), maxLine, 100000-maxLine)
	}
}

// TestIsolationAsRoot: with Haven as root, an instance runs as its
// environment's own uid (not 0, not another environment's) and cannot read
// a private file of Haven's data directory, another environment's secret
// or volume; it can read its own secret and write its own volume.
func TestIsolationAsRoot(t *testing.T) {
	if !separate() {
		t.Skip("needs root: only root may run instances as other users")
	}
	t.Parallel()
	data := openDir(t) // as cmd/haven leaves it: others may pass, not list
	token := filepath.Join(data, "admin.token")
	if err := os.WriteFile(token, []byte("admin-token-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, filepath.Join(data, "process"))
	app := spec.App{Name: "iso", Volumes: []spec.Volume{{Name: "data"}},
		Secrets: map[string]spec.Secret{"tok": {Name: "tok", External: true}}}
	run := func(env, script string, value string) (driver.Instance, *record) {
		t.Helper()
		svc := spec.Service{Name: "sh", Command: []string{"/bin/sh", "-c", script},
			Secrets: []spec.SecretRef{{Source: "tok"}},
			Volumes: []spec.Mount{{Type: spec.MountVolume, Source: "data", Target: "/data"}}}
		labels := spec.InstanceLabels{App: app.Name, Env: env, Service: svc.Name, Instance: env + "-" + randomHex(4)}
		inst, err := d.Start(t.Context(), driver.StartRequest{Labels: labels, Service: svc, App: app,
			SecretValues: map[string][]byte{"tok": []byte(value)}})
		if err != nil {
			t.Fatalf("Start in %s: %v", env, err)
		}
		t.Cleanup(func() { d.Stop(context.Background(), inst.ID, 0) })
		rec, err := readRecord(filepath.Join(d.instances, inst.ID))
		if err != nil {
			t.Fatal(err)
		}
		return inst, rec
	}
	envOf := func(rec *record, key string) string {
		for _, kv := range rec.Env {
			if v, ok := strings.CutPrefix(kv, key+"="); ok {
				return v
			}
		}
		t.Fatalf("instance %s has no %s", rec.ID, key)
		return ""
	}
	_, b := run("b", "exec sleep 60", "secret-of-b")
	script := strings.Join([]string{
		`cat ` + token + ` && echo READ-ADMIN-TOKEN`,
		`ls ` + d.instances + ` && echo LISTED-RECORDS`,
		`cat ` + envOf(b, "TOK_FILE") + ` && echo READ-B-SECRET`,
		`ls ` + envOf(b, "HAVEN_VOLUME_DATA") + ` && echo LISTED-B-VOLUME`,
		`echo "own: $(cat "$TOK_FILE")"`,
		`echo x > "$HAVEN_VOLUME_DATA/f" && echo WROTE-OWN-VOLUME`,
		`echo done; exec sleep 60`,
	}, "; ")
	a, arec := run("a", script, "secret-of-a")
	var lines []string
	waitFor(t, 10*time.Second, "the script's last line", func() bool {
		lines = logTexts(t, d, a.ID)
		return count(lines, "done") == 1
	})
	for _, bad := range []string{"READ-ADMIN-TOKEN", "admin-token-value", "LISTED-RECORDS", "READ-B-SECRET", "secret-of-b", "LISTED-B-VOLUME"} {
		if count(lines, bad) != 0 {
			t.Errorf("the instance of env a got at %q; log: %q", bad, lines)
		}
	}
	for _, good := range []string{"own: secret-of-a", "WROTE-OWN-VOLUME"} {
		if count(lines, good) != 1 {
			t.Errorf("log lacks %q; log: %q", good, lines)
		}
	}
	uids := map[string]string{}
	for env, rec := range map[string]*record{"a": arec, "b": b} {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(rec.PID) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "Uid:"); ok {
				uids[env] = strings.Fields(v)[0] // real uid; effective, saved and fs follow
				if f := strings.Fields(v); f[0] != f[1] || f[0] != f[2] || f[0] != f[3] {
					t.Errorf("env %s: uids %v differ", env, f)
				}
			}
		}
	}
	if uids["a"] == "0" || uids["b"] == "0" || uids["a"] == "" || uids["a"] == uids["b"] {
		t.Errorf("instance uids: a=%q b=%q, want two distinct non-root uids", uids["a"], uids["b"])
	}
}

// TestUserAndCheckCredentials: an explicit compose user: wins over the
// environment's uid, and the exec health check runs as the instance's
// user, never as Haven's root.
func TestUserAndCheckCredentials(t *testing.T) {
	if !separate() {
		t.Skip("needs root: only root may run instances as other users")
	}
	t.Parallel()
	d := newDriver(t, openDir(t))
	events := subscribe(t, d)
	svc := spec.Service{Name: "u", User: "4321:4322", Command: []string{"/bin/sh", "-c", `echo "id: $(id -u):$(id -g)"; exec sleep 60`},
		Health: &spec.HealthCheck{Kind: spec.CheckExec, Command: []string{"/bin/sh", "-c", `test "$(id -u)" = 4321`},
			Interval: spec.Duration(50 * time.Millisecond), Timeout: spec.Duration(5 * time.Second), Retries: 1}}
	inst := start(t, d, svc, spec.App{})
	waitFor(t, 5*time.Second, "the id line", func() bool { return count(logTexts(t, d, inst.ID), "id: ") == 1 })
	if lines := logTexts(t, d, inst.ID); count(lines, "id: 4321:4322") != 1 {
		t.Errorf("instance with user 4321:4322 runs as %q", lines)
	}
	if ev := events.next(t, inst.ID, driver.EventHealth, 5*time.Second); ev.Health != "healthy" {
		t.Errorf("check asserting the instance's uid: %q, want healthy (it ran as another user)", ev.Health)
	}
}
