package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/driver/docker"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/testbin"
)

const testImage = "haven-e2e/testapp:latest"

// buildTestImage puts testapp into a scratch image: no registry needed.
func buildTestImage(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := docker.BuildScratchImage(ctx, testbin.TestApp(t), testImage); err != nil {
		t.Fatalf("build test image: %v", err)
	}
}

func dockerCompose(t *testing.T, dir, app string, replicas int, env map[string]string) string {
	return testCompose(t, dir, app, "image: "+testImage, replicas, env)
}

// containers lists the ids of an app's containers, running or not.
func containers(t *testing.T, app string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+spec.LabelApp+"="+app).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

// removeContainers is the safety net of Docker tests: whatever happened,
// no container of the app outlives the test.
func removeContainers(t *testing.T, app string) {
	t.Cleanup(func() {
		if ids := containers(t, app); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
		exec.Command("docker", "network", "rm", "haven_"+app+"_default_default").Run()
	})
}

// TestSelfHealingDocker is the acceptance test for self-healing: with 3
// replicas, kill -9 of an app container under load fails no request through
// the ingress, and a replacement is healthy within 5s.
func TestSelfHealingDocker(t *testing.T) {
	buildTestImage(t)
	h := newHaven(t, "docker")
	removeContainers(t, "dheal")
	h.startServer()
	file := dockerCompose(t, t.TempDir(), "dheal", 3, nil)
	h.mustRun("up", "-f", file)
	selfHeal(t, h, "dheal.test", func(victim psRow) {
		if out, err := exec.Command("docker", "kill", "--signal", "KILL", victim.DriverID).CombinedOutput(); err != nil {
			t.Fatalf("docker kill: %v %s", err, out)
		}
	})
	if err := exec.Command("docker", "network", "inspect", "haven_dheal_default_default").Run(); err != nil {
		t.Fatalf("the app network is missing while the app runs: %v", err)
	}
	h.mustRun("down")
	if ids := containers(t, "dheal"); len(ids) != 0 {
		t.Fatalf("after down %d containers remain", len(ids))
	}
	waitFor(t, 5*time.Second, "the app network to be removed after down", func() bool {
		return exec.Command("docker", "network", "inspect", "haven_dheal_default_default").Run() != nil
	})
}

// TestServerKill9MidConvergeDocker kills the server while containers are
// being created and started; after a restart exactly the desired number of
// containers exists, all adopted or replaced, none duplicated.
func TestServerKill9MidConvergeDocker(t *testing.T) {
	buildTestImage(t)
	h := newHaven(t, "docker")
	removeContainers(t, "dcrash")
	h.startServer()
	file := dockerCompose(t, t.TempDir(), "dcrash", 4, map[string]string{"START_DELAY": "500ms"})
	h.mustRun("deploy", "-f", file)
	time.Sleep(300 * time.Millisecond)
	h.killServer()
	h.startServer()
	waitFor(t, 60*time.Second, "web ready", func() bool { return h.service("web").Condition == spec.ServiceReady })
	time.Sleep(2 * time.Second)
	if ids := containers(t, "dcrash"); len(ids) != 4 {
		t.Fatalf("%d containers after the restart, want exactly 4", len(ids))
	}
	if rows := h.ps(); len(rows) != 4 || countState(rows, spec.StateHealthy) != 4 {
		t.Fatalf("ps after restart: %+v", rows)
	}
	h.mustRun("down")
}
