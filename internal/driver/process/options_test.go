package process

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/syncbuf"
)

// TestStopSignal: stop_signal is the signal Stop sends first; the
// instance's trap for it runs (SIGTERM's does not).
func TestStopSignal(t *testing.T) {
	t.Parallel()
	d := newDriver(t, openDir(t))
	// The instance runs as its environment's user: it writes where
	// anyone may.
	shared := filepath.Join(openDir(t), "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(shared, "signal")
	script := `trap 'echo usr1 > ` + out + `; exit 0' USR1; trap 'echo term > ` + out + `; exit 0' TERM; echo ready; while :; do sleep 0.05; done`
	svc := spec.Service{Name: "sig", Command: []string{"/bin/sh", "-c", script},
		Container: spec.ContainerOptions{StopSignal: "SIGUSR1", Tty: true}}
	inst := start(t, d, svc, spec.App{})
	waitFor(t, 5*time.Second, "the script to start", func() bool {
		for _, l := range logTexts(t, d, inst.ID) {
			if l == "ready" {
				return true
			}
		}
		return false
	})
	if err := d.Stop(t.Context(), inst.ID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no signal trapped: %v", err)
	}
	if s := strings.TrimSpace(string(got)); s != "usr1" {
		t.Errorf("the instance got %s first, want usr1 (stop_signal: SIGUSR1)", s)
	}
}

// TestIgnoredOptionsWarnOnce: the options the process driver cannot honour
// are named in one warning per revision, however many instances start.
// Not parallel: it swaps the default logger.
func TestIgnoredOptionsWarnOnce(t *testing.T) {
	var buf syncbuf.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	d := newDriver(t, openDir(t))
	svc := spec.Service{Name: "opts", Command: []string{"/bin/sleep", "30"},
		Container: spec.ContainerOptions{Tty: true, CapAdd: []string{"NET_ADMIN"}, StopSignal: "SIGINT"}}
	start(t, d, svc, spec.App{})
	start(t, d, svc, spec.App{})
	var lines []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "service options ignored") && strings.Contains(l, "service=opts") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `options="tty, cap_add"`) {
		t.Errorf("warnings %q, want one naming tty and cap_add (stop_signal applies)", lines)
	}
}
