package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/testbin"
)

// processCompose is a compose file whose web service runs testapp as local
// processes; the image is only there because compose requires one.
func processCompose(t *testing.T, dir, app string, replicas int, env map[string]string) string {
	return testCompose(t, dir, app, fmt.Sprintf("image: local/testapp\n    command: [%q]", testbin.TestApp(t)), replicas, env)
}

// testCompose writes a compose file with one routed, health-checked web
// service running testapp; run says how (image, or image and command), and
// extraXHaven are more keys for its x-haven block (indented like routes:).
func testCompose(t *testing.T, dir, app, run string, replicas int, env map[string]string, extraXHaven ...string) string {
	var envLines strings.Builder
	for k, v := range env {
		fmt.Fprintf(&envLines, "      %s: %q\n", k, v)
	}
	return writeFile(t, dir, "compose.yaml", fmt.Sprintf(`name: %s
services:
  web:
    %s
    environment:
      NAME: web
%s    deploy:
      replicas: %d
    stop_grace_period: 2s
    x-haven:
      routes:
        - host: %s.test
          port: 8080
      healthcheck:
        type: http
        path: /healthz
        port: 8080
        interval: 500ms
        retries: 2
%s`, app, run, envLines.String(), replicas, app, strings.Join(extraXHaven, "")))
}

// instancePIDs finds the processes of an app's instances by the
// HAVEN_INSTANCE variable the process driver gives each of them.
func instancePIDs(t *testing.T, ids []string) map[string]int {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want["HAVEN_INSTANCE="+id] = true
	}
	out := map[string]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(b), "\x00") {
			if want[kv] {
				out[strings.TrimPrefix(kv, "HAVEN_INSTANCE=")] = pid
			}
		}
	}
	return out
}

type psRow struct {
	App, Env string
	spec.InstanceStatus
}

func (h *haven) ps() []psRow {
	h.t.Helper()
	r := h.mustRun("ps", "-o", "json")
	var rows []psRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		h.t.Fatalf("ps json: %v\n%s", err, r.stdout)
	}
	return rows
}

func countState(rows []psRow, state spec.InstanceState) int {
	n := 0
	for _, r := range rows {
		if r.State == state {
			n++
		}
	}
	return n
}

// TestUpScaleLogsDown drives the whole CLI on the process driver: up starts
// a server by itself, the app serves through the ingress, and scale, ps,
// status, logs and down do what they say.
func TestUpScaleLogsDown(t *testing.T) {
	h := newHaven(t, "process")
	dir := t.TempDir()
	file := processCompose(t, dir, "shop", 2, map[string]string{"LOG_LINES": "3"})

	r := h.run("up", "-f", file, "--driver", "process", "--ingress", h.ingress, "--api-addr", h.apiAddr, "--metrics-addr", h.metricsAddr)
	if m := regexp.MustCompile(`pid (\d+)`).FindStringSubmatch(r.stderr); m != nil {
		pid, _ := strconv.Atoi(m[1])
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGTERM) })
	}
	if r.code != 0 || !strings.Contains(r.stderr, "shop/default is ready") {
		t.Fatalf("up: %s", r)
	}
	code, body, err := h.get("shop.test", "/hello")
	if err != nil || code != 200 || !strings.HasPrefix(body, "web ") {
		t.Fatalf("through the ingress: %d %q %v", code, body, err)
	}
	if n := countState(h.ps(), spec.StateHealthy); n != 2 {
		t.Fatalf("ps: %d healthy instances, want 2", n)
	}

	h.mustRun("scale", "web=3")
	waitFor(t, 15*time.Second, "3 healthy instances", func() bool { return countState(h.ps(), spec.StateHealthy) == 3 })
	if s := h.service("web"); s.Condition != spec.ServiceReady || s.Desired != 3 {
		t.Fatalf("after scale: %+v", s)
	}

	// Lines reach the log store within a second of being written.
	var logs result
	waitFor(t, 3*time.Second, "every instance's lines in the log store", func() bool {
		logs = h.mustRun("logs", "web")
		return strings.Count(logs.stdout, "line 1\n") == 3
	})
	if !strings.Contains(logs.stdout, "web listening on") {
		t.Fatalf("logs lack the listening line:\n%s", logs.stdout)
	}

	h.mustRun("down")
	if rows := h.ps(); len(rows) != 0 {
		t.Fatalf("after down: %d instances left", len(rows))
	}
	if code, _, _ := h.get("shop.test", "/"); code != 404 {
		t.Fatalf("after down the ingress answered %d, want 404 (no route)", code)
	}
}

// TestSelfHealingProcess kills an instance with SIGKILL under load: no
// request through the ingress fails, and a replacement is healthy within 5s.
func TestSelfHealingProcess(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	file := processCompose(t, t.TempDir(), "heal", 2, nil)
	h.mustRun("up", "-f", file)
	t.Cleanup(func() { h.run("down") })
	selfHeal(t, h, "heal.test", func(victim psRow) {
		pids := instancePIDs(t, []string{victim.ID})
		if pids[victim.ID] == 0 {
			t.Fatalf("no process for instance %s", victim.ID)
		}
		if err := syscall.Kill(pids[victim.ID], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	})
}

// selfHeal runs load through the ingress, kills one healthy instance with
// kill, and asserts zero failed requests and a healthy replacement within 5s.
func selfHeal(t *testing.T, h *haven, host string, kill func(psRow)) {
	t.Helper()
	before := h.ps()
	if countState(before, spec.StateHealthy) < 2 {
		t.Fatalf("want 2+ healthy instances before the kill, have %+v", before)
	}
	stop := make(chan struct{})
	l := h.startLoad(host, "/", 8, stop)
	time.Sleep(500 * time.Millisecond)
	victim := before[0]
	killed := time.Now()
	kill(victim)
	healed := waitFor(t, 10*time.Second, "a healthy replacement", func() bool {
		rows := h.ps()
		for _, r := range rows {
			if r.ID == victim.ID && r.State != spec.StateExited {
				return false
			}
		}
		return countState(rows, spec.StateHealthy) == len(before)
	})
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-l.done
	t.Logf("kill -9 of %s: replacement healthy after %s; %d requests sent, %d failed", victim.ID, time.Since(killed).Round(time.Millisecond), l.sent.Load(), l.failed.Load())
	if healed > 5*time.Second {
		t.Errorf("replacement healthy after %s, want within 5s", healed)
	}
	if l.sent.Load() < 100 {
		t.Errorf("only %d requests sent: the load loop did not run", l.sent.Load())
	}
	if f := l.failed.Load(); f != 0 {
		t.Errorf("%d of %d requests failed during the kill (first: %v)", f, l.sent.Load(), l.firstErr.Load())
	}
}

// TestCrashLoopIsReported: an app that exits at start makes `haven up`
// fail with exit code 3, naming the crash loop and the app's last words.
func TestCrashLoopIsReported(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	file := processCompose(t, t.TempDir(), "crashy", 1, map[string]string{"EXIT_AFTER": "300ms", "EXIT_CODE": "7", "HEALTH_FAIL": "1"})
	t.Cleanup(func() { h.run("down") })
	r := h.run("up", "-f", file, "--timeout", "60s")
	if r.code != 3 {
		t.Fatalf("up of a crashing app: %s", r)
	}
	for _, want := range []string{"crash-looping", "exited with code 7", "web exiting with 7 as asked"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("up's error lacks %q:\n%s", want, r.stderr)
		}
	}
	st := h.mustRun("status")
	if !strings.Contains(st.stdout, "crash-looping") || !strings.Contains(st.stdout, "exiting with 7 as asked") {
		t.Errorf("status does not show the crash loop and its last log lines:\n%s", st.stdout)
	}
}

// TestServerKill9MidConvergeProcess kills the server while instances are
// starting; the restarted server adopts what runs and converges with no
// duplicate.
func TestServerKill9MidConvergeProcess(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	file := processCompose(t, t.TempDir(), "crashsafe", 4, map[string]string{"START_DELAY": "300ms"})
	t.Cleanup(func() { h.run("down") })
	h.mustRun("deploy", "-f", file)
	time.Sleep(150 * time.Millisecond) // instances are being started
	h.killServer()
	h.startServer()
	waitFor(t, 30*time.Second, "4 healthy instances", func() bool { return h.service("web").Condition == spec.ServiceReady })
	time.Sleep(2 * time.Second) // a duplicate would show up in the next passes
	rows := h.ps()
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	if len(rows) != 4 || countState(rows, spec.StateHealthy) != 4 {
		t.Fatalf("after restart: %d instances (%d healthy), want exactly 4 healthy: %+v", len(rows), countState(rows, spec.StateHealthy), rows)
	}
	if pids := instancePIDs(t, ids); len(pids) != 4 {
		t.Fatalf("%d processes run for the 4 instances", len(pids))
	}
}
