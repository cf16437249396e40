package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/testbin"
)

// TestIngressLimitsProcess runs the whole path of the request limits: the
// server's --ingress-max-body-mib default, a route's x-haven limits in
// compose.yaml overriding it, and the proxy refusing what is over them
// before an instance sees it; and X-Real-IP rebuilt from the socket.
func TestIngressLimitsProcess(t *testing.T) {
	h := newHaven(t, "process")
	h.startServerArgs("--ingress-max-body-mib", "1")
	file := writeFile(t, t.TempDir(), "compose.yaml", fmt.Sprintf(`name: limits
services:
  web:
    image: local/testapp
    command: [%q]
    environment:
      NAME: web
    x-haven:
      routes:
        - host: limits.test
          port: 8080
        - host: limits.test
          path: /small
          port: 8080
          limits: {max_body: 100, max_conns_per_client: 4}
      healthcheck:
        type: http
        path: /healthz
        port: 8080
        interval: 500ms
        retries: 2
`, testbin.TestApp(t)))
	h.mustRun("up", "-f", file)
	t.Cleanup(func() { h.run("down") })

	post := func(path string, n int) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+h.ingress+path, strings.NewReader(strings.Repeat("x", n)))
		req.Host = "limits.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s (%d bytes): %v", path, n, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		path string
		n    int
		want int
	}{
		{"/", 200, 200},
		{"/small", 100, 200},
		{"/small", 101, http.StatusRequestEntityTooLarge},  // the route's limit
		{"/", 200 << 10, 200},                              // testapp answers without reading: stay under what its server drains
		{"/", 1<<20 + 1, http.StatusRequestEntityTooLarge}, // the flag's
	} {
		if got := post(tt.path, tt.n); got != tt.want {
			t.Errorf("POST %s with %d bytes: %d, want %d", tt.path, tt.n, got, tt.want)
		}
	}

	// A huge declared length is refused at once, on a raw connection.
	c, err := net.DialTimeout("tcp", h.ingress, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: limits.test\r\nContent-Length: 99999999999999\r\nX-Real-IP: 6.6.6.6\r\n\r\nxx")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("Content-Length 99999999999999: %d, want 413", resp.StatusCode)
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+h.ingress+"/echo-headers", nil)
	req.Host = "limits.test"
	req.Header.Set("X-Real-IP", "6.6.6.6")
	req.Header.Set("True-Client-IP", "6.6.6.6")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(b), "X-Real-Ip: 127.0.0.1\n") || strings.Contains(string(b), "6.6.6.6") {
		t.Errorf("the app saw headers:\n%s\nwant X-Real-Ip: 127.0.0.1 and no client-chosen address", b)
	}
}
