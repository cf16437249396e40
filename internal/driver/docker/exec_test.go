package docker

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// TestExec runs commands in a running container through the Engine's exec
// API: the container's environment reaches the command, stdout and stderr
// arrive apart, the exit status comes back, a missing program is 126/127
// with the Engine's reason, and a terminal merges the streams.
func TestExec(t *testing.T) {
	d := newDriver(t)
	env := newEnv(t, d, "test")
	svc := spec.Service{Name: "web", Image: testAppImage(t), Expose: []int{8080}, Env: map[string]string{"VERSION": "v7", "MIGRATE_EXIT": "3"}}
	inst := start(t, d, env, spec.App{Name: env.App, Services: []spec.Service{svc}}, svc)
	run := func(req driver.ExecRequest) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		req.Stdout, req.Stderr = &out, &errb
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		code, err := d.Exec(ctx, inst.ID, req)
		if err != nil {
			t.Fatalf("Exec %v: %v", req.Cmd, err)
		}
		return code, out.String(), errb.String()
	}
	if code, out, errOut := run(driver.ExecRequest{Cmd: []string{"/app", "migrate"}}); code != 3 || out != "migrated v7\n" || errOut != "" {
		t.Errorf("/app migrate: exit %d, stdout %q, stderr %q; want 3, \"migrated v7\\n\", nothing", code, out, errOut)
	}
	if code, out, errOut := run(driver.ExecRequest{Cmd: []string{"/no-such-program"}}); code != 126 && code != 127 || !strings.Contains(out+errOut, "no-such-program") {
		t.Errorf("a missing program: exit %d, output %q; want 126 or 127 and the reason", code, out+errOut)
	}
	if code, out, _ := run(driver.ExecRequest{Cmd: []string{"/app", "migrate"}, TTY: true, Size: driver.TermSize{Width: 80, Height: 24}}); code != 3 || !strings.Contains(out, "migrated v7") {
		t.Errorf("with a terminal: exit %d, %q", code, out)
	}
	if err := d.Stop(context.Background(), inst.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(context.Background(), inst.ID, driver.ExecRequest{Cmd: []string{"/app", "migrate"}}); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Exec in a removed container: %v, want ErrNotFound", err)
	}
	if size, err := d.ImageSize(context.Background(), svc.Image); err != nil || size <= 0 {
		t.Errorf("ImageSize: %d, %v", size, err)
	}
}
