package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEnvironmentCloneWithData is the acceptance test for environments:
// the mall runs in prod and staging; `haven env create dev-2 --from staging
// --with-data` serves in under 60s on a copy of staging's database (a row
// written only to staging is there), and a container in dev-2 cannot open
// a connection to the prod database while it reaches its own.
func TestEnvironmentCloneWithData(t *testing.T) {
	root := repoRoot(t)
	if out, err := exec.Command(filepath.Join(root, "examples/mall/build.sh")).CombinedOutput(); err != nil {
		t.Fatalf("examples/mall/build.sh: %v\n%s", err, out)
	}
	buildTestImage(t)
	envs := []string{"prod", "staging", "dev-2"}
	removeApp("mall", envs...) // leftovers of an interrupted run
	// Registered before the server exists, so it runs after the server
	// has stopped: nothing can recreate what it removes.
	t.Cleanup(func() { removeApp("mall", envs...) })
	h := newHaven(t, "docker")
	h.startServer()
	h.mustRun("up", "-f", filepath.Join(root, "examples/mall/compose.yaml"), "--env", "prod", "--timeout", "3m")
	h.mustRun("env", "create", "staging", "--from", "prod", "--timeout", "3m")
	t.Cleanup(func() {
		for _, env := range []string{"dev-2", "staging", "prod"} {
			h.run("env", "delete", env)
		}
	})

	// Staging gets data of its own: coupons the worker writes there.
	staging := countCoupons(t, h, "staging.mall.localhost")
	if staging == 0 {
		waitFor(t, 30*time.Second, "coupons in staging", func() bool { return countCoupons(t, h, "staging.mall.localhost") > 0 })
	}

	start := time.Now()
	r := h.mustRun("env", "create", "dev-2", "--from", "staging", "--with-data", "--timeout", "60s")
	took := time.Since(start)
	t.Logf("env create dev-2 --from staging --with-data: serving after %s\n%s", took.Round(time.Millisecond), r.stderr)
	if took > 60*time.Second {
		t.Errorf("dev-2 took %s to serve, want under 60s", took)
	}
	code, body, err := h.get("dev-2.staging.mall.localhost", "/api/products")
	if err != nil || code != 200 || !strings.Contains(body, "price_cents") {
		t.Fatalf("dev-2 products through the ingress: %d %v %s", code, err, body)
	}
	if got := countCoupons(t, h, "dev-2.staging.mall.localhost"); got == 0 {
		t.Fatalf("dev-2 has no coupons: its database is not a copy of staging's")
	}

	// Isolation, from inside dev-2's network.
	prodDB := containerIP(t, "mall", "prod", "postgres")
	probe := startProbe(t, "haven_mall_dev-2_default")
	if got := dial(t, probe, prodDB+":5432"); got != http.StatusBadGateway {
		t.Errorf("a container in dev-2 reached the prod database at %s:5432 (status %d)", prodDB, got)
	}
	if got := dial(t, probe, "postgres:5432"); got != http.StatusOK {
		t.Errorf("a container in dev-2 cannot reach dev-2's own database (status %d): the isolation test proves nothing", got)
	}
}

// removeApp force-removes an app's containers, then its volumes and
// networks in the given environments, in that order (a volume in use
// cannot go).
func removeApp(app string, envs ...string) {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=dev.haven.app="+app).Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
	for _, env := range envs {
		exec.Command("docker", "volume", "rm", "-f", "haven_"+app+"_"+env+"_pgdata").Run()
		exec.Command("docker", "network", "rm", "haven_"+app+"_"+env+"_default").Run()
	}
}

func countCoupons(t *testing.T, h *haven, host string) int {
	t.Helper()
	code, body, err := h.get(host, "/api/coupons")
	if err != nil || code != 200 {
		return 0
	}
	var coupons []json.RawMessage
	if json.Unmarshal([]byte(body), &coupons) != nil {
		return 0
	}
	return len(coupons)
}

// containerIP returns the IP of a running instance of service in app/env.
func containerIP(t *testing.T, app, env, service string) string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=dev.haven.app="+app, "--filter", "label=dev.haven.env="+env, "--filter", "label=dev.haven.service="+service).Output()
	ids := strings.Fields(string(out))
	if err != nil || len(ids) == 0 {
		t.Fatalf("no running %s of %s/%s: %v", service, app, env, err)
	}
	ip, err := exec.Command("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", ids[0]).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ip))
}

// startProbe runs a testapp container on network and returns its address.
func startProbe(t *testing.T, network string) string {
	t.Helper()
	name := fmt.Sprintf("haven-e2e-probe-%d", time.Now().UnixNano())
	if out, err := exec.Command("docker", "run", "-d", "--name", name, "--network", network, testImage).CombinedOutput(); err != nil {
		t.Fatalf("start probe: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	ip, err := exec.Command("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSpace(string(ip)) + ":8080"
	waitFor(t, 10*time.Second, "the probe to listen", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return addr
}

// dial asks the probe to open a TCP connection to target from inside its
// container; 200 means connected, 502 refused or timed out.
func dial(t *testing.T, probe, target string) int {
	t.Helper()
	resp, err := http.Get("http://" + probe + "/dial?timeout=2s&addr=" + target)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
