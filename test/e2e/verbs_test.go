package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// TestExecProcess: `haven exec` on the process driver runs a command with
// the instance's environment, streams its stdout and stderr apart, passes
// stdin with -i and its exit status through as the CLI's; the audit trail
// names the instance and never the command.
func TestExecProcess(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	h.mustRun("deploy", "-f", processCompose(t, t.TempDir(), "ex", 2, map[string]string{"GREETING": "hi from web"}), "--wait", "--timeout", "60s")

	r := h.run("exec", "web", "--", "sh", "-c", `echo "$GREETING"; echo to-stderr >&2; exit 3`)
	if r.code != 3 || r.stdout != "hi from web\n" || !strings.Contains(r.stderr, "to-stderr") || strings.Contains(r.stderr, "Error") {
		t.Fatalf("exec exiting 3: %s", r)
	}
	ids := []string{}
	for _, row := range h.ps() {
		ids = append(ids, row.ID)
	}
	for _, args := range [][]string{
		{"exec", "--instance", ids[1], "web", "--", "sh", "-c", `echo "$HAVEN_INSTANCE"`},
		{"exec", "web", "--instance", ids[1], "--", "sh", "-c", `echo "$HAVEN_INSTANCE"`},
	} {
		if r := h.run(args...); r.code != 0 || strings.TrimSpace(r.stdout) != ids[1] {
			t.Fatalf("haven %s: %s", strings.Join(args, " "), r)
		}
	}
	// Without --, everything after the service is the command, flags included.
	if r := h.run("exec", "web", "sh", "-c", "echo no dash"); r.code != 0 || r.stdout != "no dash\n" {
		t.Fatalf("exec without --: %s", r)
	}
	if r := h.run("exec", "web", "sh", "--", "-c", "true"); r.code != 2 || !strings.Contains(r.stderr, "the command goes after --") {
		t.Fatalf("exec with a command before --: %s", r)
	}
	cmd := exec.Command(h.bin, "--data-dir", h.dataDir, "exec", "-i", "web", "--", "cat")
	cmd.Stdin = strings.NewReader("line one\nline two\n")
	out, err := cmd.Output()
	if err != nil || string(out) != "line one\nline two\n" {
		t.Fatalf("exec -i web -- cat: %q %v", out, err)
	}
	// Over the API's TLS address, as a remote CLI calls it.
	token, err := os.ReadFile(filepath.Join(h.dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	r = h.run("--server", "https://"+h.apiAddr, "--ca", filepath.Join(h.dataDir, "tls", "ca.crt"), "--token", strings.TrimSpace(string(token)),
		"exec", "--app", "ex", "web", "--", "sh", "-c", "echo over tls; exit 4")
	if r.code != 4 || r.stdout != "over tls\n" {
		t.Fatalf("exec over TLS: %s", r)
	}
	if r := h.run("exec", "--instance", "nope", "web", "--", "true"); r.code != 2 || !strings.Contains(r.stderr, "no running instance \"nope\"") {
		t.Fatalf("exec in an unknown instance: %s", r)
	}
	if r := h.run("exec", "web", "--", "no-such-program"); r.code != 127 {
		t.Fatalf("exec of a missing program: %s", r)
	}
	if r := h.run("exec", "web", "--", "sh", "-c", "echo secret-argument-7731"); r.code != 0 {
		t.Fatalf("exec: %s", r)
	}
	trail, err := os.ReadFile(filepath.Join(h.dataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(trail), "secret-argument-7731") || strings.Contains(string(trail), "GREETING") {
		t.Fatalf("the audit trail holds the command:\n%s", trail)
	}
	if !strings.Contains(string(trail), `"action":"exec"`) || !strings.Contains(string(trail), "services/web/instances/"+ids[1]+"/exec") {
		t.Fatalf("the audit trail does not name the exec and its instance:\n%s", trail)
	}
}

// TestStopStartRestartProcess: stop scales to 0 and start brings back the
// count stop kept; restart makes a new revision that a redeploy of the same
// file keeps (it does not restart again or go back).
func TestStopStartRestartProcess(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	file := processCompose(t, t.TempDir(), "ss", 3, nil)
	h.mustRun("deploy", "-f", file, "--wait", "--timeout", "60s")

	if r := h.mustRun("stop", "web"); !strings.Contains(r.stdout, "ss/default/web stopped") {
		t.Fatalf("stop: %s", r)
	}
	waitFor(t, 30*time.Second, "no instance left", func() bool { return len(h.ps()) == 0 })
	if r := h.mustRun("stop", "web"); !strings.Contains(r.stdout, "stopped already") {
		t.Fatalf("second stop: %s", r)
	}
	if r := h.mustRun("start", "web"); !strings.Contains(r.stdout, "started (3 replicas)") {
		t.Fatalf("start: %s", r)
	}
	waitFor(t, 30*time.Second, "3 healthy instances again", func() bool { return countState(h.ps(), spec.StateHealthy) == 3 })
	if r := h.mustRun("start", "web"); !strings.Contains(r.stdout, "runs already (3 replicas)") {
		t.Fatalf("second start: %s", r)
	}

	before := h.service("web").Revision
	h.mustRun("restart", "web", "--timeout", "60s")
	after := h.service("web")
	if after.Revision == before || after.Healthy != 3 {
		t.Fatalf("after restart: revision %s (was %s), %d healthy", after.Revision, before, after.Healthy)
	}
	for _, row := range h.ps() {
		if row.Revision != after.Revision {
			t.Fatalf("instance %s still runs revision %s after the restart", row.ID, row.Revision)
		}
	}
	h.mustRun("deploy", "-f", file, "--wait", "--timeout", "60s")
	if s := h.service("web"); s.Revision != after.Revision {
		t.Fatalf("redeploying the same file changed the revision from %s to %s", after.Revision, s.Revision)
	}

	var imgs []struct {
		Service   string `json:"service"`
		Instances int    `json:"instances"`
	}
	if err := json.Unmarshal([]byte(h.mustRun("images", "-o", "json").stdout), &imgs); err != nil || len(imgs) != 1 || imgs[0].Service != "web" || imgs[0].Instances != 3 {
		t.Fatalf("images: %+v %v", imgs, err)
	}
	if r := h.mustRun("port", "web", "8080"); !strings.Contains(r.stdout, "ss.test/ (ingress route, served by the ingress on "+h.ingress+")") {
		t.Fatalf("port web 8080: %s", r)
	}
	if r := h.run("port", "web", "9999"); r.code != 2 || !strings.Contains(r.stderr, "does not use container port 9999") {
		t.Fatalf("port web 9999: %s", r)
	}
}

// TestMallVerbs runs the compose habits on the demo mall (Docker driver):
// exec into a running api instance (its scratch image holds only /api)
// and into PostgreSQL's (Debian, with a shell), exit statuses passed
// through; images and port; and `haven restart api` under load through the
// ingress, which must fail no request.
func TestMallVerbs(t *testing.T) {
	root := repoRoot(t)
	build := exec.Command(filepath.Join(root, "examples/mall/build.sh"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("examples/mall/build.sh: %v\n%s", err, out)
	}
	const app = "mallverbs" // not "mall": another test's demo may share the engine
	removeApp(app, "default")
	t.Cleanup(func() { removeApp(app, "default") })
	h := newHaven(t, "docker")
	h.startServer()
	h.mustRun("up", "-f", filepath.Join(root, "examples/mall/compose.yaml"), "--name", app, "--timeout", "3m")

	if r := h.run("exec", "api", "--", "/api", "-healthcheck"); r.code != 0 {
		t.Fatalf("exec api -- /api -healthcheck: %s", r)
	}
	if r := h.run("exec", "api", "--", "/api", "-no-such-flag"); r.code != 2 || !strings.Contains(r.stderr, "flag provided but not defined") {
		t.Fatalf("exec api -- /api -no-such-flag (the flag package exits 2): %s", r)
	}
	if r := h.run("exec", "postgres", "--", "sh", "-c", "echo from-postgres; exit 3"); r.code != 3 || r.stdout != "from-postgres\n" {
		t.Fatalf("exec postgres -- sh -c 'exit 3': %s", r)
	}
	in := exec.Command(h.bin, "--data-dir", h.dataDir, "exec", "-i", "postgres", "--", "sh", "-c", "read x; echo got:$x")
	in.Stdin = strings.NewReader("piped\n")
	if out, err := in.Output(); err != nil || string(out) != "got:piped\n" {
		t.Fatalf("exec -i postgres with piped stdin: %q %v", out, err)
	}
	if script, err := exec.LookPath("script"); err == nil { // util-linux: a terminal for the CLI
		tty := exec.Command(script, "-qec", h.bin+" --data-dir "+h.dataDir+" exec postgres -- sh -c 'tty; exit 5'", "/dev/null")
		out, err := tty.Output()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 5 || !strings.Contains(string(out), "/dev/pts/") {
			t.Fatalf("exec from a terminal: %q %v; want a terminal in the container and exit 5", out, err)
		}
	}
	if r := h.run("exec", "api", "--", "/bin/sh"); r.code != 126 && r.code != 127 {
		t.Fatalf("exec of a program the scratch image lacks: %s", r)
	}

	r := h.mustRun("images")
	for _, want := range []string{"haven-mall/api:dev", "haven-mall/postgres:15", "MB"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("images lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := h.mustRun("port", "api", "8080"); !strings.Contains(r.stdout, "mall.localhost/api (ingress route") {
		t.Errorf("port api 8080: %s", r)
	}

	before := h.service("api").Revision
	var took time.Duration
	l := underLoadPath(t, h, "mall.localhost", "/api/products", func() {
		start := time.Now()
		h.mustRun("restart", "api", "--timeout", "2m")
		took = time.Since(start)
	})
	t.Logf("restart of api under load: %s; %d requests, %d failed", took.Round(time.Millisecond), l.sent.Load(), l.failed.Load())
	if l.failed.Load() != 0 || l.sent.Load() < 50 {
		t.Errorf("%d of %d requests failed during the restart (first: %v)", l.failed.Load(), l.sent.Load(), l.firstErr.Load())
	}
	after := h.service("api")
	if after.Revision == before || after.Healthy != 2 {
		t.Errorf("after the restart: revision %s (was %s), %d healthy", after.Revision, before, after.Healthy)
	}
	h.mustRun("down")
}

// underLoadPath is underLoad on another path.
func underLoadPath(t *testing.T, h *haven, host, path string, fn func()) *load {
	t.Helper()
	stop := make(chan struct{})
	l := h.startLoad(host, path, 6, stop)
	time.Sleep(300 * time.Millisecond)
	fn()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-l.done
	return l
}

// TestConfigAndCompletion: `haven config` prints the resolved file (merged,
// interpolated, x-haven kept) and refuses what deploy refuses, with no
// server; `haven completion` prints each shell's script.
func TestConfigAndCompletion(t *testing.T) {
	h := newHaven(t, "process")
	dir := t.TempDir()
	base := writeFile(t, dir, "compose.yaml", `name: cfg
services:
  web:
    image: local/web:${TAG:-dev}
    command: ["/bin/true"]
    x-haven:
      routes:
        - host: cfg.test
          port: 8080
`)
	override := writeFile(t, dir, "compose.prod.yaml", "services:\n  web:\n    environment:\n      MODE: prod\n")
	r := h.runEnv([]string{"TAG=1.2.3"}, "config", "-f", base, "-f", override)
	if r.code != 0 {
		t.Fatalf("config: %s", r)
	}
	for _, want := range []string{"image: local/web:1.2.3", "MODE: prod", "x-haven:", "host: cfg.test"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config output lacks %q:\n%s", want, r.stdout)
		}
	}
	bad := writeFile(t, t.TempDir(), "compose.yaml", "name: cfg\nservices:\n  web:\n    image: x\n    environment:\n      T: ${HAVEN_TOKEN}\n")
	if r := h.runEnv([]string{"HAVEN_TOKEN=not-for-printing"}, "config", "-f", bad); r.code != 2 || strings.Contains(r.stdout+r.stderr, "not-for-printing") || !strings.Contains(r.stderr, "compose.yaml:") {
		t.Fatalf("config of a file referencing HAVEN_TOKEN: %s", r)
	}
	for shell, want := range map[string]string{"bash": "__start_haven", "zsh": "#compdef haven", "fish": "complete -c haven"} {
		if r := h.mustRun("completion", shell); !strings.Contains(r.stdout, want) {
			t.Errorf("completion %s lacks %q", shell, want)
		}
	}
	if r := h.run("completion", "tcsh"); r.code != 2 {
		t.Errorf("completion tcsh: %s", r)
	}
}
