package e2e

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHostNetworkDocker: a service on the host's network (network_mode:
// host) is routed and health-checked through 127.0.0.1:PORT, and `haven
// up` prints the warnings of keys that change nothing (here develop).
func TestHostNetworkDocker(t *testing.T) {
	buildTestImage(t)
	h := newHaven(t, "docker")
	removeContainers(t, "hostnet")
	h.startServer()
	port := portBelowEphemeral(t)
	file := writeFile(t, t.TempDir(), "compose.yaml", fmt.Sprintf(`name: hostnet
services:
  web:
    image: %s
    network_mode: host
    environment:
      NAME: on-host
      PORT: "%d"
    stop_grace_period: 1s
    develop:
      watch: []
    x-haven:
      routes:
        - host: hostnet.test
          port: %d
      healthcheck:
        type: http
        path: /healthz
        port: %d
        interval: 500ms
`, testImage, port, port, port))
	res := h.mustRun("up", "-f", file)
	if !strings.Contains(res.stderr, "warning: ") || !strings.Contains(res.stderr, "key `develop` changes nothing") {
		t.Errorf("up printed no warning for develop; stderr:\n%s", res.stderr)
	}
	t.Cleanup(func() { h.run("down", "--app", "hostnet") })
	var body string
	waitFor(t, 30*time.Second, "the host-network instance to answer through the ingress", func() bool {
		code, b, err := h.get("hostnet.test", "/")
		body = b
		return err == nil && code == 200
	})
	if !strings.HasPrefix(body, "on-host ") {
		t.Errorf("GET / through the ingress = %q, want testapp's on-host answer", body)
	}
}

// portBelowEphemeral finds a free port below the kernel's ephemeral range,
// so no outgoing connection takes it before the instance listens.
func portBelowEphemeral(t *testing.T) int {
	t.Helper()
	base := 20000 + int(time.Now().UnixNano()%9000)
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(base+i)))
		if err == nil {
			_ = l.Close()
			return base + i
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}
