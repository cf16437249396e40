package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string]string{}
	dir   string
)

// Build compiles the main package pkg (an import path inside this module,
// such as "github.com/haven-platform/haven/internal/testapp") into a static
// binary and returns its path. Binaries are cached for the life of the test
// process, so every test of a package shares one build.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "haven-testbin-")
		if err != nil {
			t.Fatalf("testbin: %v", err)
		}
		// The process driver runs these binaries as its instances' own
		// users when the tests run as root: they must reach them.
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatalf("testbin: %v", err)
		}
		dir = d // removed with the machine's tmp; shared by all tests of the process
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testbin: go build %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}

// TestApp builds internal/testapp and returns the binary's path.
func TestApp(t testing.TB) string {
	return Build(t, "github.com/haven-platform/haven/internal/testapp")
}
