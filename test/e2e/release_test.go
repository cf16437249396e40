package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// releaseCompose writes a compose file for a 3-replica testapp service
// named web, at version, with a release policy block (YAML under
// `release:`) and extra environment.
func releaseCompose(t *testing.T, dir, app, version, policy string, env map[string]string) string {
	withVersion := map[string]string{"VERSION": version}
	for k, v := range env {
		withVersion[k] = v
	}
	return testCompose(t, dir, app, "image: "+testImage, 3, withVersion, "      release:\n"+indent(policy, "        ")+"\n")
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// releaseFixture is a Docker server with web@v1 deployed.
func releaseFixture(t *testing.T, app, policy string) (*haven, string) {
	t.Helper()
	buildTestImage(t)
	removeApp(app)
	t.Cleanup(func() { removeApp(app, "default") })
	h := newHaven(t, "docker")
	h.startServer()
	dir := t.TempDir()
	h.mustRun("deploy", "-f", releaseCompose(t, dir, app, "1", policy, nil), "--wait", "--timeout", "60s")
	return h, dir
}

// underLoad runs fn while a bounded load loop goes through the ingress and
// returns the load's counts.
func underLoad(t *testing.T, h *haven, host string, fn func()) *load {
	t.Helper()
	stop := make(chan struct{})
	l := h.startLoad(host, "/", 6, stop)
	time.Sleep(300 * time.Millisecond)
	fn()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-l.done
	return l
}

// TestRollingRelease: a rolling release of 3 replicas of an app that
// starts in well under a second completes in under 10s, with zero failed
// requests under load.
func TestRollingRelease(t *testing.T) {
	h, dir := releaseFixture(t, "roll", "strategy: rolling\nmax_surge: 1")
	var took time.Duration
	l := underLoad(t, h, "roll.test", func() {
		start := time.Now()
		h.mustRun("deploy", "-f", releaseCompose(t, dir, "roll", "2", "strategy: rolling\nmax_surge: 1", nil), "--wait", "--timeout", "60s")
		took = time.Since(start)
	})
	t.Logf("rolling release of 3 replicas: %s; %d requests, %d failed", took.Round(time.Millisecond), l.sent.Load(), l.failed.Load())
	if took > 10*time.Second {
		t.Errorf("rolling release took %s, want under 10s", took)
	}
	if l.failed.Load() != 0 || l.sent.Load() < 50 {
		t.Errorf("%d of %d requests failed (first: %v)", l.failed.Load(), l.sent.Load(), l.firstErr.Load())
	}
	rels := h.mustRun("release", "status", "web")
	if !strings.Contains(rels.stdout, "succeeded") || !strings.Contains(rels.stdout, "1 → 2") {
		t.Errorf("release status:\n%s", rels.stdout)
	}
}

// TestCanaryRollsBackABadVersion: a canary whose new version answers 500
// to half its requests is rolled back automatically within 30s; the test
// reports how many user requests failed (bounded by the canary's weight ×
// time to detect).
func TestCanaryRollsBackABadVersion(t *testing.T) {
	policy := "strategy: canary\nsteps: [{weight: 20, pause: 3s}]\nanalysis: {max_error_rate: 0.1, min_requests: 20}"
	h, dir := releaseFixture(t, "canary", policy)
	var took time.Duration
	var r result
	l := underLoad(t, h, "canary.test", func() {
		start := time.Now()
		r = h.run("deploy", "-f", releaseCompose(t, dir, "canary", "2", policy, map[string]string{"ERROR_RATE": "0.5"}), "--wait", "--timeout", "60s")
		took = time.Since(start)
	})
	t.Logf("bad canary rolled back after %s; %d user requests, %d failed (%.1f%%)", took.Round(time.Millisecond), l.sent.Load(), l.failed.Load(), 100*float64(l.failed.Load())/float64(l.sent.Load()))
	if r.code != 6 || !strings.Contains(r.stderr, "error rate") {
		t.Fatalf("deploy of a bad canary: %s", r)
	}
	if took > 30*time.Second {
		t.Errorf("rollback took %s, want within 30s", took)
	}
	// Failed requests can only come from the canary's share while it was judged.
	if max := int64(0.2*0.5*float64(l.sent.Load())) + 5; l.failed.Load() > max {
		t.Errorf("%d requests failed, more than weight × error rate allows (%d)", l.failed.Load(), max)
	}
	if s := h.service("web"); s.Healthy != 3 || !strings.Contains(h.mustRun("history", "web").stdout, "serving") {
		t.Errorf("after the rollback: %+v", s)
	}
	for i := 0; i < 20; i++ { // only the old version serves now
		if code, body, _ := h.get("canary.test", "/"); code != 200 {
			t.Fatalf("after the rollback a request failed: %d %s", code, body)
		}
	}
}

// TestCircuitBreaker: an image that crashes on start trips the breaker;
// the release ends rolled back and `haven release status` says why.
func TestCircuitBreaker(t *testing.T) {
	h, dir := releaseFixture(t, "breaker", "strategy: rolling")
	r := h.run("deploy", "-f", releaseCompose(t, dir, "breaker", "2", "strategy: rolling", map[string]string{"EXIT_AFTER": "100ms", "EXIT_CODE": "3"}), "--wait", "--timeout", "90s")
	if r.code != 6 || !strings.Contains(r.stderr, "circuit breaker") {
		t.Fatalf("deploy of a crashing image: %s", r)
	}
	st := h.mustRun("release", "status", "web")
	for _, want := range []string{"rolled-back", "circuit breaker", "exited with code 3"} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("release status lacks %q:\n%s", want, st.stdout)
		}
	}
	if code, _, err := h.get("breaker.test", "/"); err != nil || code != 200 {
		t.Fatalf("the old revision does not serve after the rollback: %d %v", code, err)
	}
}

// TestManualRollbackUnderLoad: `haven rollback web` restores the previous
// revision with zero failed requests.
func TestManualRollbackUnderLoad(t *testing.T) {
	h, dir := releaseFixture(t, "back", "strategy: rolling")
	h.mustRun("deploy", "-f", releaseCompose(t, dir, "back", "2", "strategy: rolling", nil), "--wait", "--timeout", "60s")
	l := underLoad(t, h, "back.test", func() { h.mustRun("rollback", "web", "--timeout", "60s") })
	t.Logf("rollback under load: %d requests, %d failed", l.sent.Load(), l.failed.Load())
	if l.failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during the rollback (first: %v)", l.failed.Load(), l.sent.Load(), l.firstErr.Load())
	}
	hist := h.mustRun("history", "web")
	if !strings.Contains(hist.stdout, "serving") {
		t.Fatalf("history:\n%s", hist.stdout)
	}
	for _, line := range strings.Split(hist.stdout, "\n") {
		if strings.Contains(line, "serving") && !strings.HasPrefix(strings.TrimSpace(line), "1 ") {
			t.Errorf("revision 1 should be serving:\n%s", hist.stdout)
		}
	}
}

// TestMigrationGatesTheRelease: the migrate task runs once before traffic
// moves; a failing one aborts the release and the old revision keeps serving.
func TestMigrationGatesTheRelease(t *testing.T) {
	h, dir := releaseFixture(t, "mig", "strategy: rolling")
	ok := "strategy: rolling\nmigrate: [\"/app\", \"migrate\"]"
	h.mustRun("deploy", "-f", releaseCompose(t, dir, "mig", "2", ok, nil), "--wait", "--timeout", "60s")
	ev := h.mustRun("events")
	if !strings.Contains(ev.stdout, "migrat") {
		t.Errorf("events do not mention the migration:\n%s", ev.stdout)
	}
	r := h.run("deploy", "-f", releaseCompose(t, dir, "mig", "3", ok, map[string]string{"MIGRATE_EXIT": "4"}), "--wait", "--timeout", "60s")
	if r.code != 6 || !strings.Contains(r.stderr, "migration exited with 4") {
		t.Fatalf("deploy with a failing migration: %s", r)
	}
	for _, row := range h.ps() {
		if row.Revision == h.service("web").Revision && row.State != spec.StateHealthy {
			t.Errorf("instance %s of the served revision is %s", row.ID, row.State)
		}
	}
}

// TestKill9MidRelease kills the server at each step of canary, blue-green
// and rolling releases (it waits for the step, then kills); after a
// restart each release finishes and exactly 3 instances of the new
// revision run: none lost, none doubled.
func TestKill9MidRelease(t *testing.T) {
	progressing := func(s spec.ServiceStatus) bool {
		return s.Release != nil && s.Release.ToNumber == 2 && s.Release.Phase == spec.PhaseProgressing
	}
	mixed := func(s spec.ServiceStatus) bool { // both revisions have live instances
		revs := map[string]bool{}
		for _, i := range s.Instances {
			if i.State.Live() {
				revs[i.Revision] = true
			}
		}
		return progressing(s) && len(revs) == 2
	}
	cases := []struct {
		name   string
		policy string
		when   func(spec.ServiceStatus) bool
	}{
		{"rolling-first-new-starting", "strategy: rolling", progressing},
		{"rolling-old-and-new-serving", "strategy: rolling", mixed},
		{"bluegreen-new-set-starting", "strategy: blue-green\nbake_time: 2s", progressing},
		{"bluegreen-baking", "strategy: blue-green\nbake_time: 3s", func(s spec.ServiceStatus) bool {
			return s.Release != nil && s.Release.ToNumber == 2 && s.Release.Phase == spec.PhaseBaking
		}},
		{"canary-step-serving", "strategy: canary\nsteps: [{weight: 30, pause: 3s}]\nanalysis: {min_requests: 1}", func(s spec.ServiceStatus) bool {
			return progressing(s) && s.Release.Step == 0 && s.Weights[s.Release.To] == 30
		}},
		{"canary-final-step", "strategy: canary\nsteps: [{weight: 30, pause: 1s}]\nanalysis: {min_requests: 1}", func(s spec.ServiceStatus) bool {
			return progressing(s) && s.Release.Step == 1
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := "k9" + strings.ReplaceAll(tc.name, "-", "")[:12]
			h, dir := releaseFixture(t, app, tc.policy)
			// New instances take 400ms to listen, so every step lasts long enough to be caught.
			h.mustRun("deploy", "-f", releaseCompose(t, dir, app, "2", tc.policy, map[string]string{"START_DELAY": "400ms"}))
			waitFor(t, 30*time.Second, "the step to kill the server at", func() bool { return tc.when(h.service("web")) })
			h.killServer()
			h.startServer()
			waitFor(t, 60*time.Second, "the release to finish", func() bool {
				s := h.service("web")
				return s.Release != nil && s.Release.ToNumber == 2 && s.Release.Phase.Final() && s.Condition == spec.ServiceReady
			})
			time.Sleep(1500 * time.Millisecond) // a duplicate would appear in the next passes
			s := h.service("web")
			if s.Release.Phase != spec.PhaseSucceeded {
				t.Fatalf("release ended %s: %s", s.Release.Phase, s.Release.Reason)
			}
			rows := h.ps()
			if len(rows) != 3 || countState(rows, spec.StateHealthy) != 3 {
				t.Fatalf("after restart: %+v", rows)
			}
			for _, r := range rows {
				if r.Revision != s.Revision {
					t.Fatalf("instance %s runs %s, not the released %s", r.ID, r.Revision, s.Revision)
				}
			}
			if ids := containers(t, app); len(ids) != 3 {
				t.Fatalf("%d containers for the app, want exactly 3", len(ids))
			}
		})
	}
}
