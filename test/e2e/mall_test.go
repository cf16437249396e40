package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// repoRoot is the repository's top directory.
func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestMallDemo runs the demo as the README's first command does: the
// mall's images are built (cached after the first run), `haven up` brings
// web, api, worker, PostgreSQL and Redis to health, and a request through
// the ingress returns products read from PostgreSQL.
func TestMallDemo(t *testing.T) {
	root := repoRoot(t)
	build := exec.Command(filepath.Join(root, "examples/mall/build.sh"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("examples/mall/build.sh: %v\n%s", err, out)
	}
	removeApp("mall", "default")
	t.Cleanup(func() { removeApp("mall", "default") }) // runs after the server stops
	h := newHaven(t, "docker")
	h.startServer()
	r := h.mustRun("up", "-f", filepath.Join(root, "examples/mall/compose.yaml"), "--timeout", "3m")
	if !strings.Contains(r.stderr, "mall/default is ready") {
		t.Fatalf("up: %s", r)
	}
	code, body, err := h.get("mall.localhost", "/api/products")
	if err != nil || code != 200 {
		t.Fatalf("GET /api/products through the ingress: %d %v\n%s", code, err, body)
	}
	var products []struct {
		ID    int    `json:"id"`
		Name  string `json:"name"`
		Store string `json:"store"`
	}
	if err := json.Unmarshal([]byte(body), &products); err != nil {
		t.Fatalf("products: %v\n%s", err, body)
	}
	if len(products) < 12 || products[0].Name == "" || products[0].Store == "" {
		t.Fatalf("want the 12 seeded products from PostgreSQL, got %d: %s", len(products), body)
	}
	if code, page, _ := h.get("mall.localhost", "/"); code != 200 || !strings.Contains(strings.ToLower(page), "<html") {
		t.Fatalf("storefront through the ingress: %d", code)
	}
	h.mustRun("down")
}
