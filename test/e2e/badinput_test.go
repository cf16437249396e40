package e2e

import (
	"net"
	"strings"
	"testing"
)

// TestBadInputIsRefusedCleanly feeds each kind of bad input to a running
// server: each gets one clear message and exit code 2, and the deployed app
// and the store are untouched (same generation, still serving).
func TestBadInputIsRefusedCleanly(t *testing.T) {
	buildTestImage(t)
	h := newHaven(t, "docker")
	removeContainers(t, "bad")
	h.startServer()
	dir := t.TempDir()
	good := dockerCompose(t, dir, "bad", 1, nil)
	h.mustRun("up", "-f", good)
	t.Cleanup(func() { h.run("down") })
	before := h.status()[0].Generation

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port

	cases := []struct {
		name, file string
		want       []string
	}{
		{"malformed yaml", "name: bad\nservices:\n  web:\n    image: [oops\n", []string{"compose.yaml:4"}},
		{"unknown dependency", "name: bad\nservices:\n  web:\n    image: " + testImage + "\n    depends_on: [db]\n", []string{"db"}},
		{"dependency cycle", "name: bad\nservices:\n  a:\n    image: " + testImage + "\n    depends_on: [b]\n  b:\n    image: " + testImage + "\n    depends_on: [a]\n", []string{"cycle"}},
		{"invalid port", "name: bad\nservices:\n  web:\n    image: " + testImage + "\n    ports: [\"70000:80\"]\n", []string{"70000"}},
		{"route conflict", "name: bad\nservices:\n  a:\n    image: " + testImage + "\n    x-haven:\n      routes: [{host: x.test, port: 8080}]\n  b:\n    image: " + testImage + "\n    x-haven:\n      routes: [{host: x.test, port: 8080}]\n", []string{"x.test", "same host and path"}},
		{"missing image", "name: bad\nservices:\n  web:\n    image: haven-e2e/nothing-here:1\n", []string{`image "haven-e2e/nothing-here:1" is not present locally and no registry answered; build it or load it`}},
		{"published port taken", "name: bad\nservices:\n  web:\n    image: " + testImage + "\n    ports: [\"" + itoa(takenPort) + ":8080\"]\n", []string{"already in use", itoa(takenPort)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, t.TempDir(), "compose.yaml", tc.file)
			r := h.run("deploy", "-f", file)
			if r.code != 2 {
				t.Fatalf("deploy: %s", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("message lacks %q:\n%s", w, r.stderr)
				}
			}
			if lines := strings.Count(strings.TrimSpace(r.stderr), "\n"); lines > 6 {
				t.Errorf("message is %d lines; want one clear message:\n%s", lines+1, r.stderr)
			}
			st := h.status()
			if len(st) != 1 || st[0].Generation != before {
				t.Fatalf("store changed by a refused deploy: %+v", st)
			}
			if code, _, err := h.get("bad.test", "/"); err != nil || code != 200 {
				t.Fatalf("running app disturbed: %d %v", code, err)
			}
		})
	}
}

// TestDockerNotRunning: a server asked to use a Docker that does not
// answer says how to fix it and exits 4.
func TestDockerNotRunning(t *testing.T) {
	h := newHaven(t, "docker")
	r := h.runEnv([]string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, "server", "--ingress", h.ingress, "--api-addr", h.apiAddr, "--metrics-addr", h.metricsAddr)
	if r.code != 4 || !strings.Contains(r.stderr, "use --driver process") {
		t.Fatalf("server without Docker: %s", r)
	}
}

// TestIngressPortTaken: a server whose ingress port is taken says so.
func TestIngressPortTaken(t *testing.T) {
	h := newHaven(t, "process")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	r := h.run("server", "--driver", "process", "--ingress", taken.Addr().String(), "--api-addr", h.apiAddr, "--metrics-addr", h.metricsAddr)
	if r.code != 2 || !strings.Contains(r.stderr, "already in use") || !strings.Contains(r.stderr, "--ingress") {
		t.Fatalf("server on a taken port: %s", r)
	}
}
